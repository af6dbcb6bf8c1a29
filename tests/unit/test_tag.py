"""Tests for the tag stage with the shipped taxonomy."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records import Tag
from pipeline.tag import Tagger, _collapse_body, _fold_chars
from pipeline.taxonomy import parse_taxonomy

# A paraphrase of the founding item's shape, written for this test (not the original text).
SEED_LIKE = """\
WASHINGTON, May 2 (AP) — The United States and China agreed to keep talking after a long day of \
meetings in which neither side gave ground, officials from both countries said.

Diplomats said the list of quarrels runs from trade to the treatment of activists in Taiwan and \
Hong Kong, and to Beijing's drills near the Taiwan Strait.

The U.S. delegation pressed China to stop the export of fentanyl precursors that feed the opioid \
crisis in American cities.

Relations between the world's two largest economies have been strained, and China-U.S. ties were \
described by one official as at a low point. China's commerce minister visited Washington last month.

The administration has also signed deals with Australia and Britain to supply nuclear-powered \
submarines under the AUKUS partnership.
"""


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.default()


def topics(tags: list[Tag]) -> set[str]:
    return {t.topic for t in tags}


def test_seed_like_item_gets_all_four_topics(tagger: Tagger) -> None:
    tags = tagger.tag(None, SEED_LIKE)
    assert topics(tags) >= {"trade", "taiwan", "fentanyl", "aukus"}
    by_topic = {t.topic: t for t in tags}
    assert "Taiwan Strait" in by_topic["taiwan"].evidence
    assert "fentanyl precursors" in by_topic["fentanyl"].evidence
    assert "AUKUS" in by_topic["aukus"].evidence
    assert "trade" in by_topic["trade"].evidence
    assert all(t.evidence for t in tags)


def test_tags_sorted_by_score(tagger: Tagger) -> None:
    scores = [t.score for t in tagger.tag(None, SEED_LIKE)]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("title", "body"),
    [
        (
            "U.S. trade deficit widens as imports surge",
            "The U.S. trade deficit widened in March as imports of consumer goods rose, and lawmakers "
            "renewed calls for tariffs on countries with large trade surpluses.",
        ),
        (
            "Japan and U.S. open trade talks",
            "Trade negotiators from Japan and the United States met to discuss market access and "
            "protectionist trade legislation in Congress. The trade talks resume next week.",
        ),
        (
            "EU threatens retaliation over steel tariffs",
            "The European Union said it would retaliate if Washington imposes tariffs on steel, "
            "warning of a trade war. GATT rules allow retaliatory duties, EU trade officials said.",
        ),
    ],
)
def test_trade_positive(tagger: Tagger, title: str, body: str) -> None:
    assert "trade" in topics(tagger.tag(title, body))


@pytest.mark.parametrize(
    ("title", "body"),
    [
        (
            "Choosing a laptop",
            "Every laptop is a trade-off between battery life and weight. The trade-offs are clear, "
            "and the trade show in Las Vegas displayed many of them.",
        ),
        (
            "Shares rise in active trade",
            "Shares of the company traded higher in active trade on Tuesday after the results, "
            "dealers said. Trading volume was heavy.",
        ),
        (
            "Trade union calls strike",
            "The trade union said its members would strike next week over pay. Trade unions have "
            "grown stronger this year.",
        ),
    ],
)
def test_trade_lookalikes_do_not_tag(tagger: Tagger, title: str, body: str) -> None:
    assert "trade" not in topics(tagger.tag(title, body))


@pytest.mark.parametrize(
    ("title", "body"),
    [
        (
            "Freedonia posts record surplus with its neighbour",
            "Freedonia reported its trade surplus with Sylvania grew again last month. Officials "
            "said bilateral trade would be on the agenda when the two trade ministers meet.",
        ),
        (
            "Ministers hunt for a deal on farm goods",
            "Both governments blamed unfair trade practices and non-tariff barriers for the trade "
            "disputes that have dragged on for a year, and threatened retaliatory tariffs.",
        ),
    ],
)
def test_trade_policy_phrases_tag(tagger: Tagger, title: str, body: str) -> None:
    assert "trade" in topics(tagger.tag(title, body))


@pytest.mark.parametrize(
    ("title", "body"),
    [
        (
            "Wheat futures slip in quiet session",
            "Wheat futures closed lower at the Chicago Board of Trade as traders squared positions. "
            "Trade sources said the grain trade expects export business to pick up, and trade "
            "houses reported steady demand from importers.",
        ),
        (
            "Regulator fines appliance maker",
            "The Federal Trade Commission fined the company over misleading ads, and a trade "
            "association for retailers welcomed the decision.",
        ),
    ],
)
def test_trade_market_contexts_do_not_tag(tagger: Tagger, title: str, body: str) -> None:
    assert "trade" not in topics(tagger.tag(title, body))


def test_trade_market_words_subtract_from_score(tagger: Tagger) -> None:
    title = "Trade deficit and tariffs top the agenda"
    body = "Officials discussed the trade deficit, tariffs and trade talks during the visit."
    [plain] = [s for s in tagger.explain(title, body) if s.topic == "trade"]
    [noisy] = [s for s in tagger.explain(title, body + " Dealers and traders shrugged.") if s.topic == "trade"]
    assert noisy.boosted == pytest.approx(plain.boosted - 2.0)
    assert noisy.short == pytest.approx(plain.short - 2.0)
    assert noisy.score < plain.score


@pytest.mark.parametrize(
    ("title", "body"),
    [
        ("Taiwan holds elections", "Voters in Taiwan went to the polls on Saturday. Taipei said turnout was high."),
        (None, "TAIPEI, Jan 5 - Taiwan's central bank raised rates. Taiwanese exporters said the move was expected."),
        (
            "Chip maker expands",
            "The Taiwan-based chip maker will build a plant in Kaohsiung, the company said. "
            "President Lai Ching-te attended the ceremony.",
        ),
        (
            None,
            "Warships sailed through the Taiwan Strait on Monday, prompting protests from Beijing, "
            "which claims Taiwan as its own.",
        ),
    ],
)
def test_taiwan_positive(tagger: Tagger, title: str | None, body: str) -> None:
    assert "taiwan" in topics(tagger.tag(title, body))


@pytest.mark.parametrize(
    ("title", "body"),
    [
        (
            "Review: a new noodle bar",
            "The dining room is small and the menu short. Of the dishes we tried, the beef noodle soup "
            "stood out, as good as at any Taiwanese restaurant in town. Service was friendly and quick. "
            "Prices are reasonable and the desserts are worth the wait.",
        ),
        (
            "Beijing marks anniversary",
            "Leaders of the People's Republic of China marked the anniversary in Beijing with a parade. "
            "The People's Republic of China was founded in 1949.",
        ),
        (
            "Markets in Asia mixed",
            "Stocks in Tokyo fell while Seoul rose. Markets in Hong Kong, Sydney and Singapore were "
            "little changed. Dealers said volumes were thin. Taipei was closed for a holiday. "
            "Investors were waiting for US data. "
            "Oil prices slipped.",
        ),
    ],
)
def test_taiwan_lookalikes_do_not_tag(tagger: Tagger, title: str | None, body: str) -> None:
    assert "taiwan" not in topics(tagger.tag(title, body))


def test_fentanyl_positive(tagger: Tagger) -> None:
    body = (
        "Police seized fentanyl pills in a raid. Overdose deaths from synthetic opioids have risen, "
        "and officials blame fentanyl trafficked across the border."
    )
    assert "fentanyl" in topics(tagger.tag("Fentanyl seizure", body))


def test_fentanyl_passing_mention_does_not_tag(tagger: Tagger) -> None:
    body = (
        "The city council approved the budget on Tuesday after a long debate about parks, roads "
        "and schools. The vote was seven to two. Among dozens of items, one member mentioned "
        "a grant that once paid for "
        "fentanyl test strips. The council also approved new bus routes and a library."
    )
    assert "fentanyl" not in topics(tagger.tag("Council passes budget", body))


def test_aukus_positive(tagger: Tagger) -> None:
    body = (
        "Australia will buy nuclear-powered submarines from the United States under the AUKUS pact "
        "signed with Britain, officials in Canberra said."
    )
    assert "aukus" in topics(tagger.tag("Australia confirms submarine deal", body))


def test_aukus_lookalike_does_not_tag(tagger: Tagger) -> None:
    body = (
        "Russia's navy showed off its nuclear-powered submarines at a parade in St Petersburg. "
        "The nuclear submarines were built in the 1990s."
    )
    assert "aukus" not in topics(tagger.tag("Navy parade", body))


def test_word_boundaries_possessives_and_hyphens(tagger: Tagger) -> None:
    taxonomy = parse_taxonomy(
        '[[topic]]\nid = "china"\nlabel = "China"\nthreshold = 1.0\nlead_boost = 1.0\n'
        'aliases = ["China", "U.S.-China"]\n'
    )
    small = Tagger(taxonomy)
    assert small.tag(None, "China's exports rose.")[0].evidence == ("China",)
    assert small.tag(None, "U.S.-China talks resumed.")[0].evidence == ("U.S.-China",)
    assert small.tag(None, "U.S.\u2013China talks resumed.")[0].evidence == ("U.S.\u2013China",)
    assert small.tag(None, "Chinatown and porcelain china-ware") != []  # "china" then hyphen
    assert small.tag(None, "Chinatown was busy.") == []


def test_title_and_lead_boost(tagger: Tagger) -> None:
    filler = " ".join(["The weather was mild and the markets were quiet."] * 6)
    in_title = tagger.tag("Fentanyl found", filler)
    deep = tagger.tag("Quiet day", filler + " Fentanyl was found.")
    assert [t.topic for t in in_title] == ["fentanyl"]
    assert deep == []


@settings(max_examples=300, deadline=None)
@given(title=st.one_of(st.none(), st.text()), body=st.text())
def test_tag_never_raises_and_only_emits_taxonomy_topics(title: str | None, body: str) -> None:
    tagger = _SHARED
    known = set(tagger.topic_ids)
    for tag in tagger.tag(title, body):
        assert tag.topic in known
        assert tag.evidence


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(
            [
                "Taiwan",
                "trade",
                "deficit",
                "AUKUS",
                "fentanyl",
                "-",
                "'s",
                "trade-off",
                "Taipei",
                "\u0130",
                "\n",
                "\ud800",
            ]
        )
    )
)
def test_tag_on_keyword_soup(words: list[str]) -> None:
    for tag in _SHARED.tag(" ".join(words[:3]), " ".join(words)):
        assert tag.topic in _SHARED.topic_ids
        assert all(e.strip() for e in tag.evidence)


_SHARED = Tagger.default()


_SPACING = st.lists(st.sampled_from(["a", "é", " ", "  ", "\n", "\n\n", "\t", "\r", "\u00a0", "\u2028", "\x1e", "-"]))


@given(pieces=_SPACING)
def test_fast_whitespace_collapse_is_the_regex_one(pieces: list[str]) -> None:
    body = "".join(pieces).strip()
    assert _collapse_body(body) == re.sub(r"\s+", " ", body)


@given(text=st.text(st.sampled_from(list("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212_/\u2019\u2018\u02bc`'a \u00e9"))))
def test_fold_chars_is_one_character_mapping(text: str) -> None:
    table = str.maketrans(
        {
            **dict.fromkeys("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212_/", " "),
            **dict.fromkeys("\u2019\u2018\u02bc`", "'"),
        }
    )
    assert _fold_chars(text) == text.translate(table)
