"""WARC and ARC crawls (``.warc.gz`` as CC-NEWS publishes them) to raw items, with warcio.

Only HTTP responses holding an HTML page become items; every other record is skipped and counted by kind.
The page's HTML is the body: the worker's page extraction cleans it. Title, language and publication time
come from the page's ``<head>`` when it has them, else from the record (WARC-Date).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import IO

from selectolax.lexbor import LexborHTMLParser
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from pipeline.feeds.entries import Broken, Entry, NotAFeedError, Parsed, Skipped, compact, host_of

_HEAD_CHARS = 32_768
_HEAD_END = re.compile(r"</head\s*>|<body[\s>]", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_PUBLISHED_META = ("article:published_time", "og:published_time", "datepublished", "date", "dc.date")
_HTML_START = (b"<!doctype html", b"<html")


def parse_warc(stream: IO[bytes], max_bytes: int) -> Iterator[Parsed]:
    """Yield an entry per HTML response, and a skipped or broken record for every other record.

    ``max_bytes`` bounds the page read per record: a larger one is reported broken (``too_large``), the
    raw topic would refuse it anyway.

    Raises:
        NotAFeedError: the stream is not WARC/ARC at its start.
    """
    records = ArchiveIterator(stream, arc2warc=True)
    number = 0
    try:
        for record in records:
            number = records.get_record_offset()
            yield _record(record, number, max_bytes)
    except ArchiveLoadFailed as error:
        message = " ".join(str(error).split())
        if number == 0:
            raise NotAFeedError("not_a_feed", f"not a WARC/ARC file: {message}") from None
        yield Broken(number, f"offset {number}", "unreadable_record", f"the archive cannot be read on: {message}")
    except (OSError, EOFError, ValueError) as error:
        yield Broken(number, f"offset {number}", "truncated_record", f"the archive ends early: {error}")


def _record(record: object, number: int, max_bytes: int) -> Parsed:
    where = f"offset {number}"
    rec_type = getattr(record, "rec_type", "")
    if rec_type != "response":
        return Skipped(number, where, rec_type or "unknown")
    http = record.http_headers  # type: ignore[attr-defined]
    if http is None:
        return Skipped(number, where, "not_http")
    status = http.get_statuscode() or ""
    if not status.startswith("2"):
        return Skipped(number, where, "http_status")
    content_type = (http.get_header("Content-Type") or "").lower()
    if content_type and "html" not in content_type:
        return Skipped(number, where, "not_html")
    payload = record.content_stream().read(max_bytes + 1)  # type: ignore[attr-defined]
    if not content_type and not payload.lstrip()[:16].lower().startswith(_HTML_START):
        return Skipped(number, where, "not_html")
    if len(payload) > max_bytes:
        return Broken(number, where, "too_large", f"the page is over {max_bytes} bytes")
    if not payload.strip():
        return Broken(number, where, "no_body", "the response has an empty page")
    html = payload.decode(_encoding(content_type, payload), "replace")
    url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip().strip("<>") or None  # type: ignore[attr-defined]
    title, language, published = _head(html)
    item = compact(
        {
            "id": url,
            "url": url,
            "title": title,
            "published_at": published or record.rec_headers.get_header("WARC-Date"),  # type: ignore[attr-defined]
            "body": html,
            "source": host_of(url),
            "language": language,
        }
    )
    return Entry(number, where, item)


def _encoding(content_type: str, payload: bytes) -> str:
    match = _CHARSET.search(content_type) or _META_CHARSET.search(payload[:4096])
    if match is not None:
        name = match.group(1)
        name = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            return codecs.lookup(name).name
        except LookupError:
            pass
    return "utf-8"


def _head(html: str) -> tuple[str | None, str | None, str | None]:
    """Title, ``<html lang>`` and the publication time a page's head declares; only the head is parsed."""
    head = html[:_HEAD_CHARS]
    end = _HEAD_END.search(head)
    tree = LexborHTMLParser(head[: end.start()] if end else head)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else None
    root = tree.css_first("html")
    language = (root.attributes.get("lang") or None) if root is not None else None
    published = None
    for meta in tree.css("meta"):
        attributes = meta.attributes
        name = (attributes.get("property") or attributes.get("name") or attributes.get("itemprop") or "").lower()
        if name in _PUBLISHED_META and attributes.get("content"):
            published = attributes["content"]
            break
    return title or None, (language or "").strip() or None, published
