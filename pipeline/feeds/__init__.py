"""Feed and crawl formats to raw items: RSS, Atom, JSON Feed, WARC/ARC; pure functions over bytes and streams.

``detect`` names a file's format from its first bytes; ``parse_document`` maps a whole feed document;
``parse_warc`` streams a crawl. Each yields ``Entry`` (a raw item), ``Broken`` (reported, the rest goes on)
or ``Skipped`` (a WARC record that is not an HTML response); a file that is not a feed raises
``NotAFeedError``.
"""

from __future__ import annotations

from pipeline.feeds.detect import FORMATS, HEAD_BYTES, detect
from pipeline.feeds.entries import Broken, Entry, NotAFeedError, Parsed, Skipped
from pipeline.feeds.jsonfeed import parse_jsonfeed
from pipeline.feeds.syndication import Document, parse_syndication
from pipeline.feeds.warc import parse_warc

DOCUMENT_FORMATS = frozenset({"rss", "rdf", "atom", "jsonfeed"})
"""Formats read as one document (the others stream: JSON lines, WARC, ARC)."""


def parse_document(data: bytes) -> Document:
    """Parse a whole RSS, RDF, Atom or JSON Feed document, whichever ``data`` holds.

    Raises:
        NotAFeedError: it is none of them, or it is hostile XML.
    """
    fmt = detect(data[:HEAD_BYTES])
    if fmt == "jsonfeed":
        return Document("jsonfeed", entries=parse_jsonfeed(data))
    if fmt in {"rss", "rdf", "atom"}:
        return parse_syndication(data)
    raise NotAFeedError("not_a_feed", f"not a feed document: {fmt}")


__all__ = [
    "DOCUMENT_FORMATS",
    "FORMATS",
    "HEAD_BYTES",
    "Broken",
    "Document",
    "Entry",
    "NotAFeedError",
    "Parsed",
    "Skipped",
    "detect",
    "parse_document",
    "parse_jsonfeed",
    "parse_syndication",
    "parse_warc",
]
