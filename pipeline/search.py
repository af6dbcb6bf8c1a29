"""What the search index holds of an article and what a search asks for: pure functions, no index engine.

``pipeline/search_index.py`` stores :class:`IndexEntry` values and answers :class:`SearchRequest` values with
:class:`Hit` values; this module builds and renders them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pipeline.dates import parse_published

Kind = Literal["story", "copy"]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_LIMIT = 1000
"""Most results one search returns."""


class NotAnArticleError(ValueError):
    """A message on the search or duplicates topic that is not an article (no id, no body)."""


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One article as the index holds it."""

    id: str
    """The article's key (``schemas/article.schema.json``): documents are upserted by it."""
    kind: Kind
    """``story`` (from the search topic) or ``copy`` (from the duplicates topic)."""
    duplicate_of: str | None
    """For a copy, the key of its original."""
    title: str
    """Searched, with a boost over the body."""
    body: str
    """Searched, not stored."""
    source: str | None
    """The outlet, as written."""
    url: str | None
    """Canonical URL."""
    published_at: str | None
    """Publication time as the article gives it (ISO 8601, UTC)."""
    when: datetime
    """What ``--since`` and the newest-first order go by: the publication time, else the ingestion time."""
    tags: tuple[str, ...]
    """Topic ids."""
    language: str
    """Language code."""
    cluster_id: str | None
    """The story cluster shared by an original and its copies."""


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A search, normalised: text in the index's query syntax, filters ANDed together."""

    text: str = ""
    """Words, "phrases", AND/OR/-word; empty matches every story (then newest first)."""
    tags: tuple[str, ...] = ()
    """Every one of these topics must be tagged."""
    sources: tuple[str, ...] = ()
    """The story's source is one of these (case-insensitive)."""
    since: datetime | None = None
    """Only stories published (else ingested) at or after this time."""
    limit: int = 10
    """Most results."""


@dataclass(frozen=True, slots=True)
class Copy:
    """Another outlet's copy of a story."""

    id: str
    source: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a story and the copies of it the index holds."""

    id: str
    title: str
    source: str | None
    url: str | None
    published_at: str | None
    tags: tuple[str, ...]
    score: float
    """Relevance (BM25); for a search without text, 0."""
    copies: int = 0
    """How many copies of the story the index holds."""
    also_published_by: tuple[Copy, ...] = field(default_factory=tuple)
    """The first copies (by time), up to a bound; ``copies`` counts them all."""


def source_key(source: str) -> str:
    """How sources are matched: case and surrounding space do not matter."""
    return " ".join(source.split()).casefold()


def index_entry(value: Mapping[str, Any], *, kind: Kind) -> IndexEntry:
    """Map an article (``schemas/article.schema.json``) to what the index holds.

    Raises:
        NotAnArticleError: no string id, or no text to index.
    """
    # By key: two outlets' articles may share a feed id (``id``), never a key. Messages written before keys
    # existed hold the key in ``id``.
    article_id = value.get("key") or value.get("id")
    if not isinstance(article_id, str) or not article_id:
        raise NotAnArticleError("no id")
    title = _text(value.get("title"))
    body = _text(value.get("body"))
    if not title and not body:
        raise NotAnArticleError("no title and no body")
    duplicate_of = _text(value.get("duplicate_of_key") or value.get("duplicate_of")) or None
    if kind == "copy" and duplicate_of is None:
        raise NotAnArticleError("a copy without duplicate_of")
    when = parse_published(value.get("published_at")) or parse_published(value.get("ingested_at"))
    tags = tuple(
        dict.fromkeys(
            tag["topic"].casefold()
            for tag in value.get("tags") or ()
            if isinstance(tag, Mapping) and isinstance(tag.get("topic"), str)
        )
    )
    return IndexEntry(
        id=article_id,
        kind=kind,
        duplicate_of=duplicate_of if kind == "copy" else None,
        title=title,
        body=body,
        source=_text(value.get("source")) or None,
        url=_text(value.get("url")) or None,
        published_at=_text(value.get("published_at")) or None,
        # An article without any time sorts as the oldest and is left out by --since.
        when=when or datetime(1970, 1, 1, tzinfo=UTC),
        tags=tags,
        language=_text(value.get("language")),
        cluster_id=_text(value.get("cluster_key") or value.get("cluster_id")) or None,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_since(text: str, now: datetime) -> datetime:
    """Read ``--since``: a span back from ``now`` (``90m``, ``36h``, ``2d``, ``1w``) or an ISO 8601 time.

    A time without a zone is UTC.

    Raises:
        ValueError: neither a span nor a time.
    """
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since takes a span like 2d, 36h, 90m, 1w or an ISO 8601 time, not {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def search_request(
    text: str,
    *,
    tags: Iterable[str] = (),
    sources: Iterable[str] = (),
    since: str | None = None,
    limit: int = 10,
    now: datetime | None = None,
) -> SearchRequest:
    """Build a :class:`SearchRequest` from the command line's values.

    Raises:
        ValueError: ``since`` cannot be read, or ``limit`` is not between 1 and :data:`MAX_LIMIT`.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"--limit must be between 1 and {MAX_LIMIT}, not {limit}")
    moment = parse_since(since, now or datetime.now(UTC)) if since else None
    return SearchRequest(
        text=text.strip(),
        tags=tuple(dict.fromkeys(t.strip().casefold() for t in tags if t.strip())),
        sources=tuple(dict.fromkeys(source_key(s) for s in sources if s.strip())),
        since=moment,
        limit=limit,
    )


def hit_json(hit: Hit) -> dict[str, Any]:
    """A result as the JSON the ``--format json`` output prints (one object a line)."""
    return {
        "id": hit.id,
        "title": hit.title,
        "source": hit.source,
        "published_at": hit.published_at,
        "tags": list(hit.tags),
        "url": hit.url,
        "copies": hit.copies,
        "also_published_by": [{"id": c.id, "source": c.source, "url": c.url} for c in hit.also_published_by],
        "score": round(hit.score, 4),
    }


def hit_pretty(rank: int, hit: Hit) -> str:
    """A result as a few readable lines (``--format pretty``)."""
    when = (hit.published_at or "undated").replace("T", " ")[:16]
    tags = ", ".join(hit.tags) or "no tags"
    copies = {0: "no copies", 1: "1 copy"}.get(hit.copies, f"{hit.copies} copies")
    lines = [
        f"{rank:>3}. {hit.title or hit.id}",
        f"     {hit.source or 'unknown source'} · {when} · {tags} · {copies}",
        f"     {hit.url or '(no url)'}",
    ]
    if hit.also_published_by:
        others = ", ".join(dict.fromkeys(c.source or c.url or c.id for c in hit.also_published_by))
        more = f" and {hit.copies - len(hit.also_published_by)} more" if hit.copies > len(hit.also_published_by) else ""
        lines.append(f"     also published by {others}{more}")
    return "\n".join(lines)
