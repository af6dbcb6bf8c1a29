"""The alerts stage: rules over tags, one alert per rule per story cluster.

Rules are data (TOML, ``[[rule]]`` tables); ``evaluate`` is pure apart from the ``fired``
store it is handed (a dict offline, a Faust table in production), which remembers which
rule already fired for which cluster, so a copy or a re-sent item never alerts twice.

Shape::

    [[rule]]
    id = "fentanyl"
    severity = "high"                 # info | low | medium | high | critical
    topics = ["fentanyl"]             # any of
    min_score = 2.5
    sources = ["Reuters", "AP"]       # optional, any of, case-insensitive
    keywords = ["China", "Mexico"]    # optional, any must appear in title or body
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from pipeline.config_file import ConfigFileError, load_toml, read_text
from pipeline.records import Tag

__all__ = [
    "DEFAULT_MAX_AGE",
    "SEVERITIES",
    "Alert",
    "Rule",
    "RulesError",
    "alert_id",
    "default_rules_path",
    "evaluate",
    "forget",
    "load_rules",
    "parse_rules",
    "stored_alert",
]

DEFAULT_MAX_AGE = timedelta(hours=24)
"""Items published longer ago than this raise no alert (a backfill pages no one)."""
SEVERITIES = ("info", "low", "medium", "high", "critical")
_RULE_KEYS = frozenset({"id", "severity", "topics", "min_score", "sources", "keywords", "description"})
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class RulesError(ConfigFileError):
    """A rules file that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule."""

    id: str
    """Stable rule id; part of the dedupe key and of the alert id."""
    severity: str
    """One of ``SEVERITIES``."""
    topics: tuple[str, ...]
    """The rule matches when the item has any of these topics..."""
    min_score: float
    """... with at least this score."""
    sources: tuple[str, ...] = ()
    """When set, only items from one of these sources (case-insensitive) match."""
    keywords: tuple[str, ...] = ()
    """When set, one of these must appear (as a word, any case) in the title or body."""


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert event, published to ``news.alerts`` keyed by ``alert_id``."""

    alert_id: str
    """Deterministic id from rule and cluster: re-sending the same alert is idempotent."""
    rule: str
    """The id of the rule that fired."""
    severity: str
    """The rule's severity."""
    item_id: str
    """The item that raised the alert (the first of its cluster to pass the rule)."""
    cluster_id: str
    """The story cluster; one alert per rule per cluster."""
    title: str | None
    """The item's title."""
    url: str | None
    """The item's canonical URL."""
    source: str | None
    """The outlet or feed."""
    tags: list[Tag]
    """The item's tags that matched the rule."""
    evidence: tuple[str, ...]
    """The phrases that triggered the alert (tag evidence, then matched keywords)."""
    published_at: str | None
    """When the item was published (ISO 8601, UTC), if known."""
    raised_at: str
    """When the alert was raised (ISO 8601, UTC)."""


def alert_id(rule_id: str, cluster_id: str) -> str:
    """Return the deterministic alert id of a rule firing for a cluster."""
    return hashlib.blake2b(f"{rule_id}:{cluster_id}".encode(), digest_size=16).hexdigest()


def default_rules_path() -> Path:
    """Return the path of the shipped rules, ``pipeline/data/rules.toml``."""
    return Path(str(resources.files("pipeline").joinpath("data", "rules.toml")))


def load_rules(path: str | Path) -> list[Rule]:
    """Read and validate a rules file.

    Raises:
        RulesError: the file is unreadable, not TOML, or breaks the schema.
    """
    return parse_rules(read_text(path, RulesError, "rules"), source=str(path))


def parse_rules(text: str, *, source: str = "<rules>") -> list[Rule]:
    """Validate rules TOML text.

    Raises:
        RulesError: the text is not TOML or breaks the schema.
    """
    doc = load_toml(text, source, RulesError)
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"\s*\[\[\s*rule\s*\]\]", line)]

    def fail(message: str, index: int | None = None, key: str | None = None) -> RulesError:
        return RulesError(source, _line(lines, starts, index, key), message)

    for key in doc:
        if key != "rule":
            raise fail(f"unknown top-level key {key!r}", key=key)
    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list):
        raise fail("'rule' must be an array of [[rule]] tables", key="rule")
    rules: list[Rule] = []
    for index, raw in enumerate(raw_rules):
        rule = _rule(raw, index, fail)
        if any(r.id == rule.id for r in rules):
            raise fail(f"duplicate rule id {rule.id!r}", index, "id")
        rules.append(rule)
    return rules


def _line(lines: list[str], starts: list[int], index: int | None, key: str | None) -> int | None:
    start, end = 0, len(lines)
    if index is not None and index < len(starts):
        start = starts[index]
        end = starts[index + 1] if index + 1 < len(starts) else len(lines)
    if key is not None:
        key_re = re.compile(rf"^\s*{re.escape(key)}\s*=|^\s*\[+\s*{re.escape(key)}\s*\]")
        for i in range(start, end):
            if key_re.search(lines[i]):
                return i + 1
    return start + 1 if index is not None else None


def _rule(raw: Any, index: int, fail: Any) -> Rule:
    if not isinstance(raw, dict):
        raise fail("each [[rule]] must be a table", index)
    for key in raw:
        if key not in _RULE_KEYS:
            raise fail(f"unknown key {key!r} in rule", index, key)
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID_RE.match(rule_id):
        raise fail("rule 'id' is required: lowercase letters, digits, '_', '.', '-'", index, "id")
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise fail(f"rule {rule_id!r}: 'severity' must be one of {', '.join(SEVERITIES)}", index, "severity")
    topics = _strings(raw, "topics", index, rule_id, fail, required=True)
    min_score = raw.get("min_score", 0.0)
    if isinstance(min_score, bool) or not isinstance(min_score, int | float) or min_score < 0:
        raise fail(f"rule {rule_id!r}: 'min_score' must be a number >= 0", index, "min_score")
    return Rule(
        id=rule_id,
        severity=str(severity),
        topics=topics,
        min_score=float(min_score),
        sources=_strings(raw, "sources", index, rule_id, fail),
        keywords=_strings(raw, "keywords", index, rule_id, fail),
    )


def _strings(
    raw: dict[str, Any], key: str, index: int, rule_id: str, fail: Any, *, required: bool = False
) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(f"rule {rule_id!r}: {key!r} must be a non-empty list of strings", index, key)
    return tuple(value)


def _keyword_hits(keywords: Sequence[str], text: str) -> list[str]:
    found = []
    for keyword in keywords:
        match = re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", text, re.IGNORECASE)
        if match:
            found.append(match.group(0))
    return found


def stored_alert(stored: bytes) -> Alert | None:
    """The alert kept in the ``fired`` ledger, or None for an entry written before alerts were kept there."""
    if not stored.startswith(b"{"):
        return None
    data = orjson.loads(stored)
    data["tags"] = [Tag(tag["topic"], tag["score"], tuple(tag["evidence"])) for tag in data["tags"]]
    data["evidence"] = tuple(data["evidence"])
    return Alert(**data)


def forget(rules: Sequence[Rule], fired: MutableMapping[str, bytes], cluster_id: str) -> None:
    """Drop a story's entries from the ``fired`` ledger (its root left the dedupe window)."""
    for rule in rules:
        fired.pop(f"{rule.id}:{cluster_id}", None)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def evaluate(
    rules: Sequence[Rule],
    *,
    item_id: str,
    cluster_id: str,
    title: str | None,
    url: str | None,
    source: str | None,
    body: str,
    tags: Sequence[Tag],
    published_at: datetime | None,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
    replay: bool,
    fired: MutableMapping[str, bytes],
) -> list[Alert]:
    """Return the alerts an item raises, recording each in ``fired``.

    No alert for a replayed item, nor for one published more than ``max_age`` before ``now``
    (an item without a date counts as fresh). A rule fires once per cluster: when
    ``fired`` already holds ``"{rule_id}:{cluster_id}"`` the rule stays quiet, unless the entry is this
    item's own alert: a redelivered item re-emits it unchanged, whatever its age now. ``fired`` keeps each
    alert whole (JSON). Naive datetimes are taken as UTC.
    """
    if replay:
        return []
    alerts: list[Alert] = []
    pending: list[Rule] = []
    for rule in rules:
        # A rule that fired for this cluster stays quiet, except for the item it fired for: that item, read
        # again after a crash, sends the very alert it sent before (same id, same content).
        stored = fired.get(f"{rule.id}:{cluster_id}")
        if stored is None:
            pending.append(rule)
        elif (previous := stored_alert(stored)) is not None and previous.item_id == item_id:
            alerts.append(previous)
    now_utc = _utc(now)
    published = _utc(published_at) if published_at is not None else None
    if not pending or (published is not None and now_utc - published > max_age):
        return alerts
    source_key = source.casefold() if source else None
    for rule in pending:
        matched = [t for t in tags if t.topic in rule.topics and t.score >= rule.min_score]
        if not matched:
            continue
        if rule.sources and source_key not in {s.casefold() for s in rule.sources}:
            continue
        keywords: list[str] = []
        if rule.keywords:
            keywords = _keyword_hits(rule.keywords, f"{title or ''}\n{body}")
            if not keywords:
                continue
        evidence = dict.fromkeys([e for t in matched for e in t.evidence] + keywords)
        alert = Alert(
            alert_id=alert_id(rule.id, cluster_id),
            rule=rule.id,
            severity=rule.severity,
            item_id=item_id,
            cluster_id=cluster_id,
            title=title,
            url=url,
            source=source,
            tags=list(matched),
            evidence=tuple(evidence),
            published_at=published.isoformat() if published else None,
            raised_at=now_utc.isoformat(),
        )
        fired[f"{rule.id}:{cluster_id}"] = orjson.dumps(alert)
        alerts.append(alert)
    return alerts
