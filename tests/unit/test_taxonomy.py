"""Tests for loading and validating the taxonomy."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.tag import Tagger
from pipeline.taxonomy import TaxonomyError, default_path, load_taxonomy, parse_taxonomy

GOOD = """\
[defaults]
title_boost = 3.0

[[topic]]
id = "whales"
label = "Whales"
threshold = 1.0
aliases = ["whale", "whales"]
phrases = [{ text = "humpback", weight = 2.0 }]
exclusions = [{ text = "whale of a time", penalty = 1.0 }]
"""


def test_shipped_taxonomy_loads_with_the_four_topics() -> None:
    taxonomy = load_taxonomy(default_path())
    assert {t.id for t in taxonomy.topics} >= {"trade", "taiwan", "fentanyl", "aukus"}


def test_operator_adds_a_topic_without_code(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(GOOD, encoding="utf-8")
    tagger = Tagger.from_path(path)
    tags = tagger.tag("Humpback whales return", "Whales were seen off the coast.")
    assert [t.topic for t in tags] == ["whales"]
    assert tagger.tag(None, "We had a whale of a time at the party last night, said the host.") == []


def _error(text: str) -> TaxonomyError:
    with pytest.raises(TaxonomyError) as info:
        parse_taxonomy(text, source="tax.toml")
    return info.value


def test_syntax_error_names_file_and_line() -> None:
    err = _error(GOOD + '\n[[topic]]\nid = "x\nlabel = 1\n')
    assert str(err).startswith("tax.toml:13:")
    assert err.line == 13


@pytest.mark.parametrize(
    ("bad", "line", "words"),
    [
        (GOOD.replace("threshold = 1.0", 'threshold = "high"'), 7, "threshold"),
        (GOOD.replace("threshold = 1.0", "threshold = -1"), 7, "threshold"),
        (GOOD.replace("threshold = 1.0\n", ""), 4, "threshold"),
        (GOOD.replace('id = "whales"', 'id = "Whales!"'), 5, "id"),
        (GOOD.replace("aliases = [", "colour = 1\naliases = ["), 8, "colour"),
        (GOOD.replace("weight = 2.0", "weight = true"), 9, "weight"),
        (GOOD.replace('"humpback", weight', '"humpback", wieght'), 9, "wieght"),
        (GOOD.replace('"whale",', '"---",'), 8, "no letters"),
        (GOOD.replace('"whale",', '"Whales",'), 8, "twice"),
        (GOOD + '\n[[topic]]\nid = "whales"\nlabel = "W"\nthreshold = 1.0\naliases = ["orca"]\n', 13, "duplicate"),
        (GOOD.replace("title_boost = 3.0", "title_boost = 0"), 2, "title_boost"),
        (
            GOOD.replace('aliases = ["whale", "whales"]\nphrases = [{ text = "humpback", weight = 2.0 }]', ""),
            4,
            "no aliases",
        ),
        ("[defaults]\nlead_boost = 2.0\n", None, "at least one"),
        (
            GOOD.replace(
                'exclusions = [{ text = "whale of a time", penalty = 1.0 }]', 'exclusions = ["whale of a time"]'
            ),
            10,
            "exclusions",
        ),
    ],
)
def test_schema_errors_name_the_line(bad: str, line: int | None, words: str) -> None:
    err = _error(bad)
    assert err.line == line, str(err)
    assert words in str(err)
    assert str(err).startswith("tax.toml")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.toml")


LENGTH_RULE = """\
[defaults]
short_words = 30

[[topic]]
id = "whales"
label = "Whales"
threshold = 4.0
short_threshold = 1.5
aliases = ["whale", "whales"]
phrases = [
  { text = "humpback", weight = 2.0, short_weight = 1.5 },
  { text = "pod", weight = 0.0, short_weight = 0.5, group = "sea" },
  { text = "breach", weight = 0.0, short_weight = 0.75, group = "sea" },
]
cues = ["Hawaii", "Alaska"]
cue_weight = 0.25
"""


def test_length_rule_keys_load() -> None:
    [topic] = parse_taxonomy(LENGTH_RULE).topics
    assert topic.short_threshold == 1.5
    assert topic.short_words == 30
    by_text = {p.text: p for p in topic.phrases}
    assert by_text["whale"].short == 1.0  # an alias's short weight is its weight
    assert by_text["humpback"].short == 1.5
    assert by_text["pod"].weight == 0.0
    assert by_text["breach"].group == "sea"
    assert by_text["Hawaii"].group == "cues"
    assert by_text["Hawaii"].short == 0.25
    assert by_text["Hawaii"].weight == 0.0


def test_without_length_keys_a_topic_has_no_short_threshold() -> None:
    [topic] = parse_taxonomy(GOOD).topics
    assert topic.short_threshold is None
    assert topic.short_words == 50


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (LENGTH_RULE.replace("short_threshold = 1.5", "short_threshold = 0"), "short_threshold"),
        (LENGTH_RULE.replace("short_words = 30", "short_words = 0"), "short_words"),
        (LENGTH_RULE.replace("short_weight = 0.5,", "short_weight = -1,"), "short_weight"),
        (
            LENGTH_RULE.replace('weight = 0.0, short_weight = 0.5, group = "sea"', 'weight = 0.0, group = "sea"'),
            "above 0",
        ),
        (
            LENGTH_RULE.replace('group = "sea" },\n  { text = "breach"', 'group = "Sea!" },\n  { text = "breach"'),
            "group",
        ),
        (LENGTH_RULE.replace('cues = ["Hawaii", "Alaska"]', 'cues = "Hawaii"'), "cues"),
        (LENGTH_RULE.replace('cues = ["Hawaii", "Alaska"]', 'cues = ["Hawaii", "whale"]'), "twice"),
    ],
)
def test_length_rule_errors(bad: str, words: str) -> None:
    err = _error(bad)
    assert words in str(err)
    assert err.line is not None


def test_a_topic_of_short_only_phrases_is_refused() -> None:
    text = '[[topic]]\nid = "x"\nthreshold = 1.0\nshort_threshold = 1.0\nphrases = [{ text = "a", weight = 0, short_weight = 1 }]\n'
    assert "weight above 0" in str(_error(text))
