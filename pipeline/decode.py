"""Decode and validate one raw message of ``news.raw``, before any expensive work."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
import xxhash

from pipeline.canonical_url import canonical_url
from pipeline.dates import isoformat, parse_published
from pipeline.records import RawItem
from pipeline.settings import Settings

_KNOWN = frozenset({"id", "body", "url", "source", "title", "published_at", "language"})
_BOM = b"\xef\xbb\xbf"
_MAX_SCOPE = 128
"""Characters of the source kept in an id's scope."""
_WRITE_DEPTH = 254
"""orjson reads 1024 levels of nesting but writes only 254."""
_OUTPUT_WRAP = 3
"""Levels the outputs add around the item's fields (``extra`` in an article, a prepared message, a
``newsfeed process`` line): an item nested deeper than the difference could be read but not written."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a message cannot become an item; it goes to the dead letter."""

    reason: str
    """A stable snake_case code."""
    detail: str
    """A sentence for the operator."""
    stage: str = "decode"
    """``decode`` (not a JSON object) or ``validate`` (an object with bad fields)."""
    item_id: str | None = None
    """The item's id, when it had a usable one."""


def decode(raw: bytes, settings: Settings) -> RawItem | Rejected:
    """Turn the bytes of one ``news.raw`` message into a validated item.

    Limits are checked before the work they protect: the byte size before parsing, field sizes
    before cleaning. Nesting is bounded by orjson (1024 levels).
    """
    if len(raw) > settings.max_item_bytes:
        return Rejected("too_large", f"item is {len(raw)} bytes; the limit is {settings.max_item_bytes}")
    payload = raw[len(_BOM) :] if raw.startswith(_BOM) else raw
    if not payload.strip():
        return Rejected("empty_message", "the message is empty")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        reason = "invalid_utf8" if _invalid_utf8(payload) else "invalid_json"
        return Rejected(reason, f"not valid JSON: {_short(str(error))}")
    if not isinstance(data, dict):
        return Rejected("not_an_object", f"expected a JSON object, got {type(data).__name__}")
    return _validate(data, settings, payload)


def validate_flat(data: dict[str, Any], raw: bytes, settings: Settings) -> RawItem | Rejected:
    """Validate an item a feed reader has just built (flat: strings only) and encoded as ``raw``.

    The same checks as ``decode`` without parsing ``raw`` again: a WARC page parsed twice costs more than
    reading it.
    """
    if len(raw) > settings.max_item_bytes:
        return Rejected("too_large", f"item is {len(raw)} bytes; the limit is {settings.max_item_bytes}")
    return _validate(data, settings, raw, nested=False)


def _validate(data: dict[str, Any], settings: Settings, raw: bytes, *, nested: bool = True) -> RawItem | Rejected:
    raw_id = data.get("id")
    item_id: str | None = None
    if raw_id is not None:
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            return _invalid("invalid_id", "id must be a string or an integer", None)
        item_id = str(raw_id).strip()
        if not item_id:
            item_id = None
        elif len(item_id) > settings.max_id_chars:
            return _invalid(
                "invalid_id", f"id is {len(item_id)} characters; the limit is {settings.max_id_chars}", None
            )
        elif not item_id.isprintable():
            return _invalid("invalid_id", "id holds control characters", None)
    feed_id = item_id
    if item_id is not None:
        item_id = item_key(item_id, data.get("source"))  # two outlets' "12345" are two items
    if nested and _too_deep(raw, data):
        limit = _WRITE_DEPTH - _OUTPUT_WRAP
        return _invalid("too_deep", f"the item nests arrays and objects more than {limit} levels deep", item_id)
    body = data.get("body")
    if body is None:
        return _invalid("missing_body", "the item has no body", item_id)
    if not isinstance(body, str):
        return _invalid("invalid_body", f"body must be a string, got {type(body).__name__}", item_id)
    if not body or body.isspace():  # as ``not body.strip()``, without copying a 165 KB page
        return _invalid("missing_body", "the body is empty", item_id)
    if len(body) > settings.max_body_chars:
        return _invalid(
            "body_too_large", f"body is {len(body)} characters; the limit is {settings.max_body_chars}", item_id
        )
    fields: dict[str, str | None] = {}
    for name in ("url", "source", "title", "language"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            return _invalid(f"invalid_{name}", f"{name} must be a string, got {type(value).__name__}", item_id)
        if value is not None and len(value) > settings.max_field_chars:
            return _invalid(f"invalid_{name}", f"{name} is longer than {settings.max_field_chars} characters", item_id)
        # The title is cleaned like the body later; controls removed here would stop the clean stage
        # from repairing mojibake that holds C1 characters ("CAFÃ\x89" for "CAFÉ").
        fields[name] = (value if name == "title" else _printable(value)) if value else None
    warnings: list[str] = []
    url = canonical_url(fields["url"]) if fields["url"] else None
    if fields["url"] and url is None:
        warnings.append("url_invalid")
    published_raw = data.get("published_at")
    published = parse_published(published_raw)
    if published_raw not in (None, "") and published is None:
        warnings.append("published_at_unparseable")
    id_source = "feed"
    if item_id is None:
        if url:
            item_id, id_source = "url-" + xxhash.xxh3_64_hexdigest(url.encode()), "url"
        else:
            item_id, id_source = "content-" + xxhash.xxh3_64_hexdigest(body.encode("utf-8", "surrogatepass")), "content"
    language = (fields["language"] or "en").strip().lower().replace("_", "-")[:16] or "en"
    return RawItem(
        id=item_id,
        feed_id=feed_id,
        id_source=id_source,  # type: ignore[arg-type]
        body=body,
        source=fields["source"],
        url=url,
        title=fields["title"],
        published_at=isoformat(published) if published else None,
        language=language,
        extra={key: value for key, value in data.items() if key not in _KNOWN},
        warnings=tuple(warnings),
    )


def source_scope(source: Any) -> str | None:
    """The scope of a feed's ids: its source, case-folded with white space collapsed (None without one).

    An item's key is ``<scope>:<feed id>`` when the feed gives an id and a source, so that two outlets that both
    send id ``12345`` stay two items (without a source: the feed id, ``:<feed id>`` if it holds a colon). The
    feed's own id is kept as ``feed_id`` and is the article's public ``id``. A colon in the source is written
    ``%3A`` (and ``%`` as ``%25``), so the feed id is all after the first colon (``public_id``).
    """
    if not isinstance(source, str):
        return None
    # A stream holds few sources, each sent many times: short ones (all real ones) are cached.
    return _cached_scope(source) if len(source) <= _MAX_CACHED_SOURCE else _scope(source)


_MAX_CACHED_SOURCE = 256
"""Longer sources are not cached (the field's limit is checked after the id is scoped)."""


def _scope(source: str) -> str | None:
    if not source.isprintable():
        source = "".join(c for c in source if c.isprintable())
    scope = " ".join(source.split()).casefold()[:_MAX_SCOPE]
    if "%" in scope or ":" in scope:
        scope = scope.replace("%", "%25").replace(":", "%3A")
    return scope or None


def item_key(feed_id: str, source: Any) -> str:
    """The key of an item whose feed gave it ``feed_id`` (see ``source_scope``)."""
    scope = source_scope(source)
    return f"{scope or ''}:{feed_id}" if scope or ":" in feed_id else feed_id


def public_id(key: str) -> str:
    """The id an item is published under, from its key: the feed's own id (all after the scope), or a derived
    id (``url-...``, ``content-...``, which hold no colon) as it is."""
    scope, colon, feed_id = key.partition(":")
    return feed_id if colon else scope


_cached_scope = lru_cache(maxsize=4096)(_scope)


def _invalid(reason: str, detail: str, item_id: str | None) -> Rejected:
    return Rejected(reason, detail, stage="validate", item_id=item_id)


def _printable(value: str) -> str:
    text = value.replace("\x00", "")
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())


def _too_deep(raw: bytes, data: dict[str, Any]) -> bool:
    """True when the item, wrapped as the outputs wrap it, is nested too deeply for orjson to write."""
    if raw.count(b"[") + raw.count(b"{") < _WRITE_DEPTH - _OUTPUT_WRAP:
        return False
    wrapped: Any = data
    for _ in range(_OUTPUT_WRAP):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)  # C speed: a walk in Python would cost more than the parse
    except orjson.JSONEncodeError:
        return True
    return False


def _invalid_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
