"""Tests for alert rules and the alert decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.alerts import (
    Alert,
    Rule,
    RulesError,
    alert_id,
    default_rules_path,
    evaluate,
    forget,
    load_rules,
    parse_rules,
)
from pipeline.records import Tag
from pipeline.tag import Tagger
from tests.unit.test_tag import SEED_LIKE

NOW = datetime(2025, 6, 19, 12, 0, tzinfo=UTC)
RULES = [
    Rule(id="taiwan", severity="high", topics=("taiwan",), min_score=2.0),
    Rule(id="fent-ap", severity="medium", topics=("fentanyl",), min_score=1.0, sources=("AP",)),
    Rule(id="trade-china", severity="low", topics=("trade",), min_score=1.0, keywords=("China",)),
]
TAGS = [
    Tag("taiwan", 3.0, ("Taiwan Strait",)),
    Tag("fentanyl", 2.0, ("fentanyl",)),
    Tag("trade", 4.0, ("tariffs",)),
]


def run(fired: dict[str, bytes], **over: Any) -> list[Alert]:
    args: dict[str, Any] = {
        "item_id": "item-1",
        "cluster_id": "cluster-1",
        "title": "Tariffs and tension",
        "url": "https://example.com/a",
        "source": "ap",
        "body": "China and the Taiwan Strait.",
        "tags": TAGS,
        "published_at": NOW - timedelta(hours=1),
        "now": NOW,
        "max_age": timedelta(hours=24),
        "replay": False,
        "fired": fired,
    }
    args.update(over)
    return evaluate(RULES, **args)


def test_rules_fire_with_evidence_and_deterministic_ids() -> None:
    fired: dict[str, bytes] = {}
    alerts = run(fired)
    assert [a.rule for a in alerts] == ["taiwan", "fent-ap", "trade-china"]
    first = alerts[0]
    assert first.alert_id == alert_id("taiwan", "cluster-1")
    assert first.evidence == ("Taiwan Strait",)
    assert alerts[2].evidence == ("tariffs", "China")
    assert first.published_at == "2025-06-19T11:00:00+00:00"
    assert first.raised_at == NOW.isoformat()
    assert set(fired) == {"taiwan:cluster-1", "fent-ap:cluster-1", "trade-china:cluster-1"}


def test_one_alert_per_rule_per_cluster() -> None:
    fired: dict[str, bytes] = {}
    assert len(run(fired)) == 3
    assert run(fired, item_id="copy-2") == []  # a copy in the same cluster
    assert len(run(fired, item_id="other", cluster_id="cluster-2")) == 3


def test_a_redelivered_item_re_emits_its_alerts_unchanged() -> None:
    fired: dict[str, bytes] = {}
    first = run(fired)
    # Read again after a crash: later, and by then older than the alert age limit; the same alerts come back.
    again = run(fired, now=NOW + timedelta(days=3))
    assert again == first
    assert [orjson.dumps(a) for a in again] == [orjson.dumps(a) for a in first]
    assert run(fired, item_id="copy-2", now=NOW + timedelta(days=3)) == []


def test_forget_drops_a_story_from_the_ledger() -> None:
    fired: dict[str, bytes] = {}
    run(fired)
    run(fired, item_id="other", cluster_id="cluster-2")
    forget(RULES, fired, "cluster-1")
    assert set(fired) == {"taiwan:cluster-2", "fent-ap:cluster-2", "trade-china:cluster-2"}
    assert len(run(fired, item_id="late", cluster_id="cluster-1")) == 3


def test_ledger_entries_from_before_alerts_were_kept_stay_quiet() -> None:
    fired = {"taiwan:cluster-1": alert_id("taiwan", "cluster-1").encode()}
    assert [a.rule for a in run(fired)] == ["fent-ap", "trade-china"]


def test_old_items_and_replays_do_not_alert() -> None:
    fired: dict[str, bytes] = {}
    assert run(fired, published_at=NOW - timedelta(hours=25)) == []
    assert run(fired, replay=True) == []
    assert fired == {}
    naive_recent = (NOW - timedelta(hours=2)).replace(tzinfo=None)
    assert len(run(fired, published_at=naive_recent)) == 3
    assert len(run({}, published_at=None)) == 3


def test_source_keyword_and_score_filters() -> None:
    assert [a.rule for a in run({}, source="Reuters")] == ["taiwan", "trade-china"]
    assert [a.rule for a in run({}, body="Only Taiwan here.", title=None)] == ["taiwan", "fent-ap"]
    low = [Tag("taiwan", 1.0, ("Taiwan",))]
    assert run({}, tags=low) == []


def test_shipped_rules_alert_on_seed_like_item() -> None:
    rules = load_rules(default_rules_path())
    tags = Tagger.default().tag(None, SEED_LIKE)
    alerts = evaluate(
        rules,
        item_id="s",
        cluster_id="c",
        title=None,
        url=None,
        source="LatestLY",
        body=SEED_LIKE,
        tags=tags,
        published_at=None,
        now=NOW,
        max_age=timedelta(hours=24),
        replay=False,
        fired={},
    )
    assert alerts


GOOD = """\
[[rule]]
id = "taiwan"
severity = "high"
topics = ["taiwan"]
min_score = 2.0

[[rule]]
id = "fent"
severity = "low"
topics = ["fentanyl"]
sources = ["AP"]
"""


@pytest.mark.parametrize(
    ("bad", "line", "words"),
    [
        (GOOD.replace('severity = "high"', 'severity = "urgent"'), 3, "severity"),
        (GOOD.replace('topics = ["fentanyl"]', "topics = []"), 10, "topics"),
        (GOOD.replace("min_score = 2.0", "min_score = -1"), 5, "min_score"),
        (GOOD.replace('sources = ["AP"]', 'sourcez = ["AP"]'), 11, "sourcez"),
        (GOOD.replace('id = "fent"', 'id = "taiwan"'), 8, "duplicate"),
        (GOOD + "[[rule]\n", 12, "invalid TOML"),
    ],
)
def test_rule_errors_name_the_line(bad: str, line: int, words: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(bad, source="rules.toml")
    assert info.value.line == line, str(info.value)
    assert words in str(info.value)
    assert str(info.value).startswith(f"rules.toml:{line}:")


def test_load_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert [r.id for r in load_rules(path)] == ["taiwan", "fent"]
