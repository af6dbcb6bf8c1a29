"""Load and validate the tag taxonomy: the topics, their phrases, weights and thresholds.

The taxonomy is data (TOML): an operator adds a topic by editing the file. Every error names
the file and the line of the offending table or key, so a bad edit is quick to find.

Shape::

    [defaults]                      # optional
    title_boost = 3.0               # multiplier for a match in the title
    lead_boost = 2.0                # multiplier for a match in the lead
    max_hits = 3                    # occurrences of one phrase counted at most
    short_words = 50                # an item of at most this many words is short (headline + summary)

    [[topic]]
    id = "taiwan"
    label = "Taiwan"
    threshold = 2.0
    short_threshold = 1.0           # optional: the length rule (below); without it, only ``threshold``
    aliases = ["Taiwan", "Taipei"]  # names, each worth ``alias_weight`` (default 1.0)
    phrases = [{ text = "Taiwan Strait", weight = 2.0 },
               { text = "submarines", weight = 1.0, context = ["Australia"] },
               { text = "Taiwanese", weight = 0.5, short_weight = 1.0 },
               { text = "drills", weight = 0.0, short_weight = 0.5, group = "military" }]
    exclusions = [{ text = "Taiwanese restaurant" }, { text = "trade-off", penalty = 1.0 }]
    cues = ["Beijing", "Washington"]  # second cues for short items (see below)
    cue_weight = 0.75               # what any number of cues add to the short score, once

A phrase with ``context`` counts only when one of its context phrases appears somewhere in the
text. An exclusion cancels the topic's matches inside its span, and subtracts ``penalty``.

The length rule (see ``pipeline/tag_score.py``): besides its boosted score, a topic has a short
score, the sum of each distinct phrase's ``short_weight`` (default: its ``weight``) once, minus
penalties. An item of ``short_words`` words or fewer is judged by it alone: it passes with a
short score of ``short_threshold``. A longer one needs ``short_threshold`` times the square of its
words over ``short_words``, so a passing mention in a long story cannot pass. A phrase with ``weight = 0``
counts in the short score only. Phrases of one ``group`` count once between them in the short
score (the highest short weight found), so a pile of weak words does not add up to a strong one;
``cues`` are such a group: a weak phrase and a country name can tag a headline, two country
names cannot.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.config_file import ConfigFileError, load_toml, read_text

__all__ = [
    "DEFAULT_SHORT_WORDS",
    "Exclusion",
    "Phrase",
    "Taxonomy",
    "TaxonomyError",
    "Topic",
    "default_path",
    "load_taxonomy",
    "parse_taxonomy",
]

DEFAULT_SHORT_WORDS = 50
"""Items of at most this many words (a headline and a sentence or two) are short, unless the taxonomy says."""

_ID_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_TOP_KEYS = frozenset({"version", "defaults", "topic"})
_DEFAULT_KEYS = frozenset({"title_boost", "lead_boost", "max_hits", "short_words"})
_TOPIC_KEYS = frozenset(
    {
        "id",
        "label",
        "description",
        "threshold",
        "short_threshold",
        "short_words",
        "alias_weight",
        "cues",
        "cue_weight",
        "aliases",
        "phrases",
        "exclusions",
        "title_boost",
        "lead_boost",
        "max_hits",
    }
)
_PHRASE_KEYS = frozenset({"text", "weight", "short_weight", "context", "group"})
_EXCLUSION_KEYS = frozenset({"text", "penalty"})


class TaxonomyError(ConfigFileError):
    """A taxonomy file that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Phrase:
    """A phrase that counts towards a topic."""

    text: str
    """The phrase as written in the taxonomy."""
    weight: float
    """What one occurrence adds to the topic's score (before title/lead boosts)."""
    context: tuple[str, ...] = ()
    """When set, the phrase counts only if one of these also appears in the text."""
    short_weight: float | None = None
    """What the phrase adds to the short score (once per text); ``None``: its ``weight``."""
    group: str | None = None
    """Phrases of one group add to the short score once between them (the highest short weight found);
    a topic's ``cues`` are the group ``cues``."""

    @property
    def short(self) -> float:
        """The phrase's weight in the short score."""
        return self.weight if self.short_weight is None else self.short_weight


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A look-alike phrase: it cancels the topic's matches inside it."""

    text: str
    """The phrase as written in the taxonomy."""
    penalty: float = 0.0
    """Subtracted from the topic's score for each occurrence."""


@dataclass(frozen=True, slots=True)
class Topic:
    """One topic of the taxonomy."""

    id: str
    """The topic id written in tags, e.g. ``taiwan``."""
    label: str
    """A human label."""
    threshold: float
    """The score a text needs for the topic to be tagged."""
    phrases: tuple[Phrase, ...]
    """Aliases and phrases, each with its weight."""
    exclusions: tuple[Exclusion, ...]
    """Look-alikes that veto matches and may subtract from the score."""
    title_boost: float
    """Multiplier for a match in the title."""
    lead_boost: float
    """Multiplier for a match in the lead (first sentences of the body)."""
    max_hits: int
    """How many occurrences of one phrase count at most."""
    short_threshold: float | None = None
    """The short score an item of ``short_words`` words or fewer needs; ``None``: no length rule."""
    short_words: int = DEFAULT_SHORT_WORDS
    """Up to this many words an item is short; beyond, the short score needed grows with its length."""


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """A validated taxonomy."""

    topics: tuple[Topic, ...]
    """The topics, in file order."""
    source: str
    """Where the taxonomy was read from (for messages)."""


def default_path() -> Path:
    """Return the path of the shipped taxonomy, ``pipeline/data/taxonomy.toml``."""
    return Path(str(resources.files("pipeline").joinpath("data", "taxonomy.toml")))


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Read and validate a taxonomy file.

    Raises:
        TaxonomyError: the file is unreadable, not TOML, or breaks the schema.
    """
    return parse_taxonomy(read_text(path, TaxonomyError, "taxonomy"), source=str(path))


def parse_taxonomy(text: str, *, source: str = "<taxonomy>") -> Taxonomy:
    """Validate taxonomy TOML text.

    Raises:
        TaxonomyError: the text is not TOML or breaks the schema.
    """
    return _Validator(text, source).taxonomy(load_toml(text, source, TaxonomyError))


class _Validator:
    """Schema checks with line lookup in the source text."""

    def __init__(self, text: str, source: str) -> None:
        self._lines = text.splitlines()
        self._source = source
        self._topic_starts = [i for i, line in enumerate(self._lines) if re.match(r"\s*\[\[\s*topic\s*\]\]", line)]

    def _fail(
        self,
        message: str,
        *,
        topic: int | None = None,
        key: str | None = None,
        needle: str | None = None,
        table: str | None = None,
    ) -> TaxonomyError:
        return TaxonomyError(self._source, self._line(topic, key, needle, table), message)

    def _line(self, topic: int | None, key: str | None, needle: str | None, table: str | None) -> int | None:
        start, end = 0, len(self._lines)
        if topic is not None and topic < len(self._topic_starts):
            start = self._topic_starts[topic]
            if topic + 1 < len(self._topic_starts):
                end = self._topic_starts[topic + 1]
        elif table is not None:
            for i, line in enumerate(self._lines):
                if re.match(rf"\s*\[\s*{re.escape(table)}\s*\]", line):
                    start = i
                    break
        key_re = re.compile(rf"^\s*{re.escape(key)}\s*=") if key else None
        key_line: int | None = None
        for i in range(start, end):
            if key_re is not None and key_line is None and key_re.search(self._lines[i]):
                key_line = i
                if needle is None:
                    return i + 1
        if needle is not None:
            for i in range(key_line if key_line is not None else start, end):
                if needle in self._lines[i]:
                    return i + 1
        if key_line is not None:
            return key_line + 1
        if topic is not None or table is not None:
            return start + 1
        return None

    def taxonomy(self, doc: dict[str, Any]) -> Taxonomy:
        for key in doc:
            if key not in _TOP_KEYS:
                raise self._fail(f"unknown top-level key {key!r}", key=key, table=key)
        defaults = doc.get("defaults", {})
        if not isinstance(defaults, dict):
            raise self._fail("'defaults' must be a table", key="defaults")
        for key in defaults:
            if key not in _DEFAULT_KEYS:
                raise self._fail(f"unknown key {key!r} in [defaults]", table="defaults", key=key)
        title_boost = self._number(defaults, "title_boost", 3.0, table="defaults")
        lead_boost = self._number(defaults, "lead_boost", 2.0, table="defaults")
        max_hits = self._count(defaults, "max_hits", 3, table="defaults")
        short_words = self._count(defaults, "short_words", DEFAULT_SHORT_WORDS, table="defaults")
        raw_topics = doc.get("topic")
        if not isinstance(raw_topics, list) or not raw_topics:
            raise self._fail("the taxonomy needs at least one [[topic]] table", key="topic")
        topics: list[Topic] = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_topics):
            topic = self._topic(index, raw, (title_boost, lead_boost, max_hits, short_words))
            if topic.id in seen:
                raise self._fail(f"duplicate topic id {topic.id!r}", topic=index, key="id")
            seen.add(topic.id)
            topics.append(topic)
        return Taxonomy(topics=tuple(topics), source=self._source)

    def _number(
        self,
        data: dict[str, Any],
        key: str,
        default: float,
        *,
        topic: int | None = None,
        table: str | None = None,
        positive: bool = True,
        needle: str | None = None,
    ) -> float:
        value = data.get(key, default)
        where: dict[str, Any] = {"topic": topic, "table": table}
        where.update({"needle": needle} if needle else {"key": key})
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(f"{key!r} must be a number", **where)
        if (positive and value <= 0) or value < 0 or math.isnan(value):
            raise self._fail(f"{key!r} must be {'positive' if positive else 'non-negative'}", **where)
        return float(value)

    def _count(
        self, data: dict[str, Any], key: str, default: int, *, topic: int | None = None, table: str | None = None
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self._fail(f"{key!r} must be a whole number >= 1", topic=topic, key=key, table=table)
        return value

    def _topic(self, index: int, raw: Any, defaults: tuple[float, float, int, int]) -> Topic:
        title_boost, lead_boost, max_hits, short_words = defaults
        if not isinstance(raw, dict):
            raise self._fail("each [[topic]] must be a table", topic=index)
        for key in raw:
            if key not in _TOPIC_KEYS:
                raise self._fail(f"unknown key {key!r} in topic", topic=index, key=key)
        topic_id = raw.get("id")
        if not isinstance(topic_id, str) or not _ID_RE.match(topic_id):
            raise self._fail("topic 'id' is required: lowercase letters, digits, '_', '.', '-'", topic=index, key="id")
        label = raw.get("label", topic_id)
        if not isinstance(label, str) or not label.strip():
            raise self._fail(f"topic {topic_id!r}: 'label' must be a non-empty string", topic=index, key="label")
        if "threshold" not in raw:
            raise self._fail(f"topic {topic_id!r}: 'threshold' is required", topic=index)
        threshold = self._number(raw, "threshold", 1.0, topic=index)
        short_threshold = self._number(raw, "short_threshold", 1.0, topic=index) if "short_threshold" in raw else None
        alias_weight = self._number(raw, "alias_weight", 1.0, topic=index)
        phrases: list[Phrase] = []
        origin: list[str] = []
        aliases = raw.get("aliases", [])
        if not isinstance(aliases, list):
            raise self._fail(f"topic {topic_id!r}: 'aliases' must be a list of strings", topic=index, key="aliases")
        for alias in aliases:
            phrases.append(Phrase(self._text(alias, index, "aliases", topic_id), alias_weight))
            origin.append("aliases")
        for item in self._tables(raw, "phrases", index, topic_id):
            self._keys(item, _PHRASE_KEYS, index, "phrases", topic_id)
            text = self._text(item.get("text"), index, "phrases", topic_id)
            weight = self._number(item, "weight", 1.0, topic=index, positive=False, needle=f'"{text}"')
            short_weight = (
                self._number(item, "short_weight", 1.0, topic=index, positive=False, needle=f'"{text}"')
                if "short_weight" in item
                else None
            )
            if weight == 0 and not short_weight:
                raise self._fail(
                    f"topic {topic_id!r}: phrase {text!r} needs a 'weight' or a 'short_weight' above 0",
                    topic=index,
                    key="phrases",
                    needle=f'"{text}"',
                )
            context = item.get("context", [])
            if not isinstance(context, list) or (not context and "context" in item):
                raise self._fail(
                    f"topic {topic_id!r}: 'context' of {text!r} must be a non-empty list",
                    topic=index,
                    key="phrases",
                    needle=text,
                )
            ctx = tuple(self._text(c, index, "phrases", topic_id) for c in context)
            group = item.get("group")
            if group is not None and (not isinstance(group, str) or not _ID_RE.match(group)):
                raise self._fail(
                    f"topic {topic_id!r}: 'group' of {text!r} must be an id like \"balance\"",
                    topic=index,
                    key="phrases",
                    needle=text,
                )
            phrases.append(Phrase(text, weight, ctx, short_weight, group))
            origin.append("phrases")
        cues = raw.get("cues", [])
        if not isinstance(cues, list):
            raise self._fail(f"topic {topic_id!r}: 'cues' must be a list of strings", topic=index, key="cues")
        cue_weight = self._number(raw, "cue_weight", 0.5, topic=index)
        for cue in cues:
            phrases.append(Phrase(self._text(cue, index, "cues", topic_id), 0.0, (), cue_weight, group="cues"))
            origin.append("cues")
        if not any(phrase.weight > 0 for phrase in phrases):
            raise self._fail(f"topic {topic_id!r} has no aliases or phrases of weight above 0", topic=index)
        exclusions: list[Exclusion] = []
        for item in self._tables(raw, "exclusions", index, topic_id):
            self._keys(item, _EXCLUSION_KEYS, index, "exclusions", topic_id)
            text = self._text(item.get("text"), index, "exclusions", topic_id)
            penalty = self._number(item, "penalty", 0.0, topic=index, positive=False, needle=f'"{text}"')
            exclusions.append(Exclusion(text, penalty))
        seen: set[str] = set()
        for phrase, key in zip(phrases, origin, strict=True):
            folded = phrase.text.casefold()
            if folded in seen:
                raise self._fail(
                    f"topic {topic_id!r}: phrase {phrase.text!r} is listed twice",
                    topic=index,
                    key=key,
                    needle=f'"{phrase.text}"',
                )
            seen.add(folded)
        return Topic(
            id=topic_id,
            label=label,
            threshold=threshold,
            phrases=tuple(phrases),
            exclusions=tuple(exclusions),
            title_boost=self._number(raw, "title_boost", title_boost, topic=index),
            lead_boost=self._number(raw, "lead_boost", lead_boost, topic=index),
            max_hits=self._count(raw, "max_hits", max_hits, topic=index),
            short_threshold=short_threshold,
            short_words=self._count(raw, "short_words", short_words, topic=index),
        )

    def _tables(self, raw: dict[str, Any], key: str, index: int, topic_id: str) -> list[dict[str, Any]]:
        items = raw.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise self._fail(
                f'topic {topic_id!r}: {key!r} must be a list of tables like {{ text = "...", ... }}',
                topic=index,
                key=key,
            )
        return items

    def _keys(self, item: dict[str, Any], allowed: frozenset[str], index: int, key: str, topic_id: str) -> None:
        for name in item:
            if name not in allowed:
                raise self._fail(
                    f"topic {topic_id!r}: unknown key {name!r} in {key!r}", topic=index, key=key, needle=name
                )

    def _text(self, value: Any, index: int, key: str, topic_id: str) -> str:
        if not isinstance(value, str):
            raise self._fail(f"topic {topic_id!r}: every entry of {key!r} needs a text string", topic=index, key=key)
        if not any(ch.isalnum() for ch in value):
            raise self._fail(
                f"topic {topic_id!r}: {key!r} entry {value!r} has no letters or digits",
                topic=index,
                key=key,
                needle=f'"{value}"',
            )
        return value
