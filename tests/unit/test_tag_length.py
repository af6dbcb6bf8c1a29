"""The length rule of the tag stage, cues, and ``Tagger.explain``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.tag import Tagger
from pipeline.taxonomy import parse_taxonomy

SMALL = """\
[defaults]
short_words = 20

[[topic]]
id = "tariffs"
label = "Tariffs"
threshold = 6.0
short_threshold = 2.0
phrases = [
  { text = "tariffs", weight = 1.5, short_weight = 2.0 },
  { text = "trade", weight = 1.0 },
  { text = "levy", weight = 0.0, short_weight = 1.0 },
]
cues = ["Japan", "Canada", "Mexico"]
cue_weight = 1.0
exclusions = [{ text = "trade show" }, { text = "traders", penalty = 1.0 }]
"""

FILLER = "The weather was mild and the streets were quiet on a long spring afternoon in town. "


@pytest.fixture(scope="module")
def small() -> Tagger:
    return Tagger(parse_taxonomy(SMALL))


def _topics(tagger: Tagger, title: str | None, body: str) -> set[str]:
    return {t.topic for t in tagger.tag(title, body)}


def test_one_strong_phrase_tags_a_headline(small: Tagger) -> None:
    assert _topics(small, None, "Mexico raises tariffs on steel") == {"tariffs"}


def test_the_same_phrase_in_passing_in_a_long_story_does_not(small: Tagger) -> None:
    body = FILLER * 6 + "Someone mentioned tariffs. " + FILLER * 6
    assert _topics(small, None, body) == set()


def test_a_long_story_still_tags_on_its_boosted_score(small: Tagger) -> None:
    body = "Tariffs rose. Tariffs and trade dominated. " + FILLER * 6 + "More tariffs and trade talk."
    [tag] = small.tag("Tariffs on the agenda", body)
    assert tag.score >= 6.0
    assert tag.evidence == ("Tariffs", "trade")


def test_weak_phrase_needs_a_cue_and_cues_count_once(small: Tagger) -> None:
    assert _topics(small, None, "A new levy on cars") == set()
    assert _topics(small, None, "Japan sets a new levy on cars") == {"tariffs"}
    # two cues are worth one: still under the short threshold without a phrase
    assert _topics(small, None, "Japan and Canada and Mexico meet") == set()


def test_weight_zero_phrases_do_not_count_in_long_stories(small: Tagger) -> None:
    body = "Japan levy. " * 3 + FILLER * 4
    scores = small.explain("Levy levy", body)
    assert scores[0].boosted == 0.0
    assert not scores[0].tagged


def test_short_items_are_judged_by_the_short_rule_alone(small: Tagger) -> None:
    # In the title, "trade" would reach the boosted threshold (3 x 1.0 x 2 occurrences = 6.0).
    [score] = small.explain("Trade and more trade", "Officials spoke.")
    assert score.boosted >= score.threshold
    assert score.decided_by == "short"
    assert not score.tagged


def test_repeating_a_phrase_adds_nothing_to_the_short_score(small: Tagger) -> None:
    [once] = small.explain(None, "Tariffs rise")
    [twice] = small.explain("Tariffs rise", "Tariffs rise")
    assert once.short == twice.short == 2.0


def test_short_scores_are_reported_on_the_boosted_scale(small: Tagger) -> None:
    [tag] = small.tag(None, "Mexico raises tariffs")
    assert tag.score == pytest.approx((2.0 + 1.0) * 6.0 / 2.0)


def test_the_needed_short_score_grows_with_the_square_of_the_length(small: Tagger) -> None:
    body = " ".join(["word"] * 39) + " tariffs"
    [score] = small.explain(None, body)
    assert score.words == 40
    assert score.short_needed == pytest.approx(2.0 * 4)
    assert not score.tagged


def test_explain_lists_contributions_ignored_matches_and_penalties(small: Tagger) -> None:
    [score] = small.explain("Japan tariffs", "Traders skipped the trade show; Canada said tariffs would stay.")
    assert score.topic == "tariffs"
    assert score.threshold == 6.0
    assert score.short_needed == 2.0
    assert [(c.text, c.where) for c in score.contributions] == [
        ("Japan", "title"),
        ("tariffs", "title"),
        ("Canada", "lead"),
        ("tariffs", "lead"),
    ]
    assert [c.short for c in score.contributions] == [1.0, 2.0, 0.0, 0.0]
    assert [(i.text, i.reason) for i in score.ignored] == [("trade", "inside 'trade show'")]
    assert score.penalties == (("Traders", 1.0), ("trade show", 0.0))
    assert score.short == pytest.approx(1.0 + 2.0 - 1.0)
    assert score.boosted == pytest.approx(sum(c.boosted for c in score.contributions) - 1.0)
    assert score.tagged
    assert small.tag("Japan tariffs", "Traders skipped the trade show; Canada said tariffs would stay.")[
        0
    ].evidence == (
        "Japan",
        "tariffs",
        "Canada",
    )


def test_explain_shows_topics_that_were_not_tagged(small: Tagger) -> None:
    [score] = small.explain(None, "A levy")
    assert not score.tagged
    assert score.short == 1.0
    assert small.tag(None, "A levy") == []
    assert small.explain(None, "Nothing relevant here") == []


def test_a_topic_without_a_short_threshold_keeps_the_boosted_rule_only() -> None:
    tagger = Tagger(parse_taxonomy('[[topic]]\nid = "x"\nlabel = "X"\nthreshold = 3.0\naliases = ["zebra"]\n'))
    [score] = tagger.explain(None, "zebra")
    assert score.short_needed is None
    assert score.decided_by == "boosted"
    assert tagger.tag(None, "zebra") == []
    assert [t.topic for t in tagger.tag("zebra", "zebra")] == ["x"]


# The shipped taxonomy on the cases issue 14 names.


@pytest.fixture(scope="module")
def shipped() -> Tagger:
    return Tagger.default()


@pytest.mark.parametrize(
    "headline",
    [
        "China and Australia end their trade row over wine",
        "Record bilateral trade volumes between India and the Gulf",
        "Britain bans imports of Russian gold",
        "US bans beef imports from Brazil",
        "Senate bill would block imports of goods made with forced labour",
        "China announces export curbs on industrial gases",
        "Washington tightens export controls on AI chips",
        "EU imposes anti-dumping duties on Chinese steel",
        "Japan files WTO dispute over Korean tariffs",
    ],
)
def test_todays_trade_headlines_are_tagged(shipped: Tagger, headline: str) -> None:
    assert "trade" in _topics(shipped, None, headline)


@pytest.mark.parametrize(
    ("headline", "topic"),
    [
        ("PLA drills around the island after Taipei's election", "taiwan"),
        ("Cross-strait talks resume", "taiwan"),
        ("Pill presses seized as cartels move precursor chemicals", "fentanyl"),
        ("Overdose deaths tied to fentanyl fall", "fentanyl"),
        ("Japan to join AUKUS Pillar II work on hypersonics", "aukus"),
        ("Britain to build nuclear-powered submarines for Australia", "aukus"),
    ],
)
def test_todays_vocabulary_tags_other_topics(shipped: Tagger, headline: str, topic: str) -> None:
    assert topic in _topics(shipped, None, headline)


def test_a_study_of_taiwanese_adults_is_not_about_taiwan(shipped: Tagger) -> None:
    title = "Taiwanese adults who walk daily live longer"
    body = "A cohort of 40,000 Taiwanese adults was followed for 12 years; participants who walked lived longer."
    assert "taiwan" not in _topics(shipped, title, body)


def test_fentanyl_as_an_anaesthetic_is_not_the_fentanyl_crisis(shipped: Tagger) -> None:
    title = "Fentanyl dose and postoperative nausea"
    body = "In a randomised trial, patients given fentanyl during anaesthesia had more nausea after surgery."
    assert "fentanyl" not in _topics(shipped, title, body)


def test_aukus_inside_a_word_is_not_aukus(shipped: Tagger) -> None:
    assert _topics(shipped, "Kaukus bistro opens", "The Kaukus bistro serves Glaukus wine.") == set()


def test_sports_trades_and_trade_schools_are_not_trade(shipped: Tagger) -> None:
    assert "trade" not in _topics(shipped, None, "Lakers trade guard to Jazz before the trade deadline")
    assert "trade" not in _topics(shipped, None, "Enrolment at trade schools rises")


_SOUP = st.lists(
    st.sampled_from(
        ["Taiwan", "trade", "Japan", "tariffs", "ban on", "imports", "AUKUS", "fentanyl", "trade show", "anaesthesia",
         "Taiwanese adults", "cross-strait", "word", "word", "word", ".", "\n\n", "EU", "bank", "economy"]
    ),
    max_size=120,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(title=st.lists(st.sampled_from(["Trade", "war", "Taiwan", "AUKUS", "ban", "word"]), max_size=6), body=_SOUP)
def test_explain_agrees_with_tag(title: list[str], body: list[str]) -> None:
    tagger = _SHIPPED
    head, text = " ".join(title) or None, " ".join(body)
    tags = {t.topic: t for t in tagger.tag(head, text)}
    explained = {s.topic: s for s in tagger.explain(head, text)}
    assert set(tags) == {topic for topic, s in explained.items() if s.tagged}
    for topic, tag in tags.items():
        assert tag.score == round(explained[topic].score, 3)
        assert tag.evidence == explained[topic].evidence


_SHIPPED = Tagger.default()
