"""``newsfeed process --explain``: one line per item, every topic found, with why."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from agents.cli import _dispatch, _parser
from agents.explain import explain
from pipeline.settings import Settings

ITEMS = [
    {"id": "short-1", "title": "China bans imports of Japanese seafood", "body": "Beijing cited safety concerns."},
    {"id": "lookalike-1", "title": "Lakers trade guard to Jazz", "body": "The deal beat the trade deadline."},
    {"id": "none-1", "title": "Rain expected", "body": "Showers are expected this weekend."},
    {"body": ""},
]


def _run(tmp_path: Path, settings: Settings) -> list[dict[str, Any]]:
    path = tmp_path / "items.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(item) for item in ITEMS) + b"\n")
    out = io.BytesIO()
    assert explain(settings, [str(path)], out) == len(ITEMS)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_a_tagged_item_shows_its_phrases_contributions_and_thresholds(tmp_path: Path, settings: Settings) -> None:
    first = _run(tmp_path, settings)[0]
    assert first["id"] == "short-1"
    assert first["tags"] == ["trade"]
    [trade] = [t for t in first["topics"] if t["topic"] == "trade"]
    assert trade["tagged"] is True
    assert trade["threshold"] == 6.75
    assert trade["decided_by"] == "short"
    assert trade["short_needed"] == 2.0
    assert trade["words"] == 10
    phrases = {p["phrase"]: p for p in trade["phrases"]}
    assert phrases["bans imports"]["short"] == 2.0
    assert phrases["bans imports"]["where"] == "title"
    assert trade["short_score"] == pytest.approx(sum(p["short"] for p in trade["phrases"]))
    assert trade["score"] >= trade["threshold"]


def test_an_untagged_topic_shows_why(tmp_path: Path, settings: Settings) -> None:
    second = _run(tmp_path, settings)[1]
    assert second["tags"] == []
    [trade] = second["topics"]
    assert trade["tagged"] is False
    assert trade["score"] < trade["threshold"]
    assert {"text": "trade deadline", "penalty": 0.0} in trade["penalties"]
    assert any(i["reason"] == "inside 'trade deadline'" for i in trade["ignored"])


def test_items_without_topics_and_dead_letters_still_get_a_line(tmp_path: Path, settings: Settings) -> None:
    lines = _run(tmp_path, settings)
    assert lines[2]["topics"] == []
    assert lines[3] == {"line": 4, "id": None, "dead_letter": "missing_body"}


def test_the_cli_option(tmp_path: Path, settings: Settings, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(orjson.dumps(ITEMS[0]) + b"\n")
    # Parsed and dispatched as `newsfeed` does, with settings not read from the environment.
    assert _dispatch(_parser().parse_args(["process", "--explain", str(path)]), settings) == 0
    [line] = capsysbinary.readouterr().out.splitlines()
    assert orjson.loads(line)["tags"] == ["trade"]
