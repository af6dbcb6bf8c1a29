"""What a feed reader yields: entries mapped to the raw contract, broken entries, skipped records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class NotAFeedError(ValueError):
    """A whole file (or HTTP response) that is not a feed this reader knows, or that it refuses to read."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        """A stable snake_case code: ``not_a_feed``, ``hostile_xml``, ``unreadable``."""
        self.detail = detail
        """A sentence for the operator."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry or record as a raw item (``schemas/raw.schema.json``)."""

    number: int
    """Where it is in its file: the line of an XML entry, the 1-based index of a JSON Feed item, the byte
    offset of a WARC/ARC record (compressed file position for ``.warc.gz``)."""
    where: str
    """``number`` with its unit, for messages (``line 12``, ``item 3``, ``offset 4096``)."""
    item: dict[str, Any]
    """``id``, ``url``, ``title``, ``published_at``, ``body``, ``source``, ``language`` (absent when unknown)."""


@dataclass(frozen=True, slots=True)
class Broken:
    """An entry that cannot become an item; reported with its position, the rest of the file goes on."""

    number: int
    where: str
    reason: str
    """A stable snake_case code (``no_body``, ``not_an_object``, ``truncated_record``...)."""
    detail: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that is not meant to become an item (a WARC request, a response that is not an HTML page)."""

    number: int
    where: str
    reason: str
    """``warcinfo``, ``request``, ``metadata``, ``revisit``, ``not_html``, ``http_status``, ..."""


Parsed = Entry | Broken | Skipped


def host_of(url: str | None) -> str | None:
    """The host of ``url`` (``www.`` kept: it is part of the outlet's name as the feed gives it), or None."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host or None


def compact(item: dict[str, Any]) -> dict[str, Any]:
    """Drop the fields a feed did not give (None or blank), so decode sees them as absent."""
    return {key: value for key, value in item.items() if value is not None and value != ""}
