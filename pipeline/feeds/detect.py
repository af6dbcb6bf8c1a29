"""Which format a file holds, from its first bytes (names only help to list directories)."""

from __future__ import annotations

import re

from pipeline.feeds.entries import NotAFeedError

FORMATS: tuple[str, ...] = ("jsonl", "jsonfeed", "rss", "rdf", "atom", "warc", "arc")
"""The formats ``detect`` names (``rss`` is RSS 0.9x and 2.0, ``rdf`` is RSS 0.90 and 1.0)."""

HEAD_BYTES = 65_536
"""How much of a file ``detect`` reads: enough for a long prolog of comments and a DOCTYPE."""

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
# Comments, processing instructions and a DOCTYPE (with an internal subset) may precede the root element.
_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]*\[.*?\])?[^>]*>)", re.DOTALL | re.IGNORECASE)
_ROOT = re.compile(rb"\s*<([A-Za-z_][\w.:-]*)")
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ROOTS = {b"rss": "rss", b"rdf": "rdf", b"feed": "atom", b"channel": "rss"}


def detect(head: bytes) -> str:
    """Name the format of a file from its first bytes (decompressed): one of ``FORMATS``.

    Raises:
        NotAFeedError: the bytes are not any of the formats (``not_a_feed``), or an XML document declares
            entities (``hostile_xml``: entity expansion and external entities are refused, never expanded).
    """
    data = head
    for bom in _BOMS:
        if data.startswith(bom):
            if bom != _BOMS[0]:
                return _xml_root(data.decode("utf-16", "replace").encode("utf-8"))
            data = data[len(bom) :]
            break
    stripped = data.lstrip()
    if not stripped:
        raise NotAFeedError("not_a_feed", "the file is empty")
    if stripped.startswith(b"WARC/"):
        return "warc"
    if stripped.startswith(b"filedesc://"):
        return "arc"
    if stripped.startswith(b"{"):
        return "jsonfeed" if b"jsonfeed.org/version/" in stripped[:HEAD_BYTES] else "jsonl"
    if stripped.startswith(b"<"):
        return _xml_root(stripped)
    raise NotAFeedError("not_a_feed", f"not a feed: it starts with {_show(stripped)}")


def _xml_root(data: bytes) -> str:
    position = 0
    while match := _PROLOG.match(data, position):
        if _ENTITY.search(match.group(0)):
            raise NotAFeedError("hostile_xml", "the XML declares entities (expansion and external entities refused)")
        position = match.end()
    root = _ROOT.match(data, position)
    if root is None:
        raise NotAFeedError("not_a_feed", f"not a feed: no XML root element in {_show(data[position:])}")
    name = root.group(1).rsplit(b":", 1)[-1].lower()
    if name in _ROOTS:
        return _ROOTS[name]
    if name == b"html":
        raise NotAFeedError("not_a_feed", "not a feed: an HTML page")
    raise NotAFeedError("not_a_feed", f"not a feed: XML whose root element is <{name.decode('ascii', 'replace')}>")


def _show(data: bytes) -> str:
    return repr(data[:24].decode("utf-8", "replace"))
