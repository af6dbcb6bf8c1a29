"""Record types shared by the stages and the public topics.

Records are frozen dataclasses: orjson serialises them natively, and their JSON shape is
the contract published in ``schemas/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Dateline:
    """The story's opening dateline, e.g. ``BEIJING, June 19 (AP) —``."""

    text: str
    """The dateline exactly as it stood in the text."""
    place: str | None = None
    """The place, e.g. ``BEIJING``."""
    date: str | None = None
    """The date as written, e.g. ``June 19``."""
    agency: str | None = None
    """The agency code, e.g. ``AP`` or ``Reuters``."""


@dataclass(frozen=True, slots=True)
class Tag:
    """One topic assigned to an article."""

    topic: str
    """The taxonomy topic id, e.g. ``taiwan``."""
    score: float
    """The topic's score; the topic is tagged when it passes the topic's threshold."""
    evidence: tuple[str, ...]
    """The phrases matched in the text, as they were written there."""


@dataclass(frozen=True, slots=True)
class Cleaned:
    """What the clean stage makes of one item's title and body."""

    title: str | None
    """The cleaned title (entities decoded, whitespace folded)."""
    body: str
    """The article text; paragraphs separated by one blank line."""
    dateline: Dateline | None = None
    """The opening dateline, when the body has one."""
    credit: str | None = None
    """A credit line such as ``Associated Press`` or ``Reporting by ...``."""
    removed: dict[str, int] = field(default_factory=dict)
    """What cleaning removed, counted by kind (e.g. ``ad_marker: 2``)."""


DecisionKind = Literal["unique", "exact", "near"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message was read from, kept so a dead letter can be found and replayed."""

    topic: str
    """The topic the message came from."""
    partition: int | None = None
    """Its partition (None offline)."""
    offset: int | None = None
    """Its offset, or the input line number offline."""
    replay: bool = False
    """True when the item was published by ``newsfeed replay`` (a backfill)."""


@dataclass(frozen=True, slots=True)
class RawItem:
    """A validated input item (``news.raw``), before cleaning."""

    id: str
    """The feed's stable id scoped by source (``<source>:<feed id>``), or one derived from the canonical URL or
    the content."""
    id_source: Literal["feed", "url", "content"]
    """Where ``id`` came from."""
    body: str
    """The body as received: text or HTML."""
    source: str | None = None
    """The outlet or feed."""
    url: str | None = None
    """The canonical URL: lower-case host, no fragment, no tracking parameters."""
    title: str | None = None
    """The headline as received."""
    published_at: str | None = None
    """Publication time, ISO 8601 in UTC, when it could be parsed."""
    language: str = "en"
    """Language code; items default to English."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Every other field of the input object, kept as it was."""
    warnings: tuple[str, ...] = ()
    """Non-fatal problems found while validating, e.g. ``published_at_unparseable``."""
    feed_id: str | None = None
    """The id as the feed gave it, before scoping; None when the feed gave none."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An item the pipeline could not turn into an article (``news.deadletter``)."""

    reason: str
    """A stable snake_case code, e.g. ``invalid_json`` or ``empty_after_cleaning``."""
    detail: str
    """A human sentence about what was wrong."""
    stage: str
    """The stage that gave up: ``decode``, ``validate``, ``clean``, ``dedupe``, ..."""
    source_topic: str
    """Where the original message came from."""
    source_partition: int | None
    """Its partition (None offline)."""
    source_offset: int | None
    """Its offset (the input line number offline)."""
    original: str
    """The original message bytes: as text when valid UTF-8, otherwise base64."""
    original_encoding: Literal["utf-8", "base64"]
    """How ``original`` is encoded."""
    original_bytes: int
    """Length of the original message in bytes."""
    item_id: str | None
    """The item's key when it could be read (an article's ``key``: the feed id scoped by source)."""
    failed_at: str
    """When the item was dead-lettered, ISO 8601 UTC."""
    replay: bool = False
    """True when the item came from a backfill."""
    schema_version: int = SCHEMA_VERSION
    """Version of this message shape."""


@dataclass(frozen=True, slots=True)
class Article:
    """A cleaned, tagged, deduplicated article: the value of ``news.search`` and ``news.duplicates``."""

    id: str
    """The item's id: the feed's own id, or one derived from the canonical URL or the body (``id_source``). Two
    outlets may send the same feed id: ``key`` tells their articles apart."""
    key: str
    """The item's key, unique across sources: ``<source>:<feed id>`` (``:<feed id>`` without a source; the
    source case-folded, white space collapsed, ``:`` written ``%3A``), or the derived id. Also the message key."""
    id_source: str
    """``feed``, ``url`` (derived from the canonical URL) or ``content`` (derived from the body)."""
    source: str | None
    """The outlet or feed."""
    url: str | None
    """The canonical URL."""
    title: str | None
    """The cleaned headline."""
    body: str
    """The clean article text, paragraphs separated by blank lines."""
    published_at: str | None
    """Publication time, ISO 8601 UTC."""
    language: str
    """Language code."""
    dateline: Dateline | None
    """The opening dateline: place, date text, agency."""
    credit: str | None
    """Credit line, e.g. ``Associated Press``."""
    tags: tuple[Tag, ...]
    """Topics with score and evidence."""
    fingerprint: str
    """Exact-content hash of the normalised text (hex)."""
    cluster_id: str
    """The story cluster: the ``id`` of its canonical (first seen) copy."""
    cluster_key: str
    """The ``key`` of the story's canonical copy."""
    duplicate_of: str | None
    """The canonical item's ``id`` on ``news.duplicates``; null on ``news.search``."""
    duplicate_of_key: str | None
    """The canonical item's ``key`` on ``news.duplicates``; null on ``news.search``."""
    similarity: float
    """Similarity to the canonical copy (1.0 for the canonical copy itself)."""
    duplicate_kind: str
    """``unique``, ``exact`` or ``near``."""
    removed: dict[str, int]
    """What cleaning removed, counted by kind."""
    ingested_at: str
    """When the pipeline first took the item, ISO 8601 UTC."""
    replay: bool
    """True for items published by a backfill."""
    warnings: tuple[str, ...]
    """Non-fatal problems with the input, e.g. ``published_at_unparseable``."""
    extra: dict[str, Any]
    """Input fields outside the contract, kept as they were."""
    schema_version: int = SCHEMA_VERSION
    """Version of this message shape."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message for an output topic: the unit both the agents and ``newsfeed process`` emit."""

    topic: str
    """The full topic name."""
    key: str
    """The message key: item id, or alert id on the alerts topic."""
    value: Any
    """A record (Article, DeadLetter, Alert) that orjson serialises."""
