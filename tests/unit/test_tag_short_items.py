"""The shipped taxonomy on short items: headlines and one- or two-sentence summaries.

``tests/fixtures/tag_short_items.jsonl`` holds items written for these tests (not taken from any
data set): each with the topics it should get and its kind, ``trade``, ``taiwan``, ``fentanyl``,
``aukus`` (positives), ``multi``, ``lookalike`` (what must stay untagged: sports trades and
trade-offs, trade shows and schools, studies of Taiwanese participants, fentanyl in anaesthesia,
"aukus" inside other words) and ``negative`` (sports, markets, science, other news). An item with
an empty body is a headline-only item: the headline is the whole body, as feeds send them.
Add every real failure there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.tag import Tagger

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tag_short_items.jsonl"
TOPICS = ("trade", "taiwan", "fentanyl", "aukus")
PRECISION_FLOOR = 0.9
RECALL_FLOOR = 0.85


def _items() -> list[dict[str, Any]]:
    with FIXTURE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


ITEMS = _items()
_TAGGER = Tagger.default()


def _tagged(item: dict[str, Any]) -> set[str]:
    # A headline-only item carries its headline as the body and no title.
    title, body = (item["title"], item["body"]) if item["body"] else (None, item["title"])
    return {tag.topic for tag in _TAGGER.tag(title, body)}


def test_fixture_is_big_and_covers_every_kind() -> None:
    kinds = {item["kind"] for item in ITEMS}
    assert len(ITEMS) >= 200
    assert kinds >= {*TOPICS, "lookalike", "negative"}
    for topic in TOPICS:
        assert sum(topic in item["topics"] for item in ITEMS) >= 20, topic


@pytest.mark.parametrize("topic", TOPICS)
def test_precision_and_recall_per_topic(topic: str, capsys: pytest.CaptureFixture[str]) -> None:
    tp = fp = fn = 0
    misses: list[str] = []
    for item in ITEMS:
        got, want = topic in _tagged(item), topic in item["topics"]
        tp += got and want
        fp += got and not want
        fn += want and not got
        if got != want:
            misses.append(("extra: " if got else "missed: ") + item["title"])
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    with capsys.disabled():  # the report, shown with -s or in the summary of a failure
        print(f"\n{topic}: precision {precision:.3f} recall {recall:.3f} ({tp} tp, {fp} fp, {fn} fn)")
    assert precision >= PRECISION_FLOOR, misses
    assert recall >= RECALL_FLOOR, misses


@pytest.mark.parametrize("item", [i for i in ITEMS if i["kind"] == "lookalike"], ids=lambda i: str(i["title"])[:40])
def test_lookalike_stays_untagged(item: dict[str, Any]) -> None:
    assert _tagged(item) == set()


@pytest.mark.parametrize("item", [i for i in ITEMS if i["kind"] == "negative"], ids=lambda i: str(i["title"])[:40])
def test_other_news_stays_untagged(item: dict[str, Any]) -> None:
    assert _tagged(item) == set()
