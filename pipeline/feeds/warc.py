"""WARC and ARC crawls (``.warc.gz`` as CC-NEWS publishes them) to raw items, with warcio.

Only HTTP responses holding an HTML page become items; every other record is skipped and counted by kind.
The page's HTML is the body: the worker's page extraction cleans it. Title, language and publication time
come from the page's ``<head>`` when it has them, else from the record (WARC-Date).
"""

from __future__ import annotations

import codecs
import io
import re
import zlib
from collections.abc import Generator, Iterator
from dataclasses import replace
from html import unescape
from typing import IO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from pipeline.feeds import warc_fast
from pipeline.feeds.entries import Broken, Entry, NotAFeedError, Parsed, Skipped, compact, host_of

_HEAD_CHARS = 32_768
_HEAD_END = re.compile(r"</head\s*>|<body[\s>]", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_PUBLISHED_META = ("article:published_time", "og:published_time", "datepublished", "date", "dc.date")
_HTML_START = (b"<!doctype html", b"<html")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_LANG = re.compile(r"""<html\b[^>]*?\blang\s*=\s*["']?([A-Za-z][\w-]*)""", re.IGNORECASE)
_META = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([\w:.-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""")


def parse_warc(stream: IO[bytes], max_bytes: int) -> Iterator[Parsed]:
    """Yield an entry per HTML response, and a skipped or broken record for every other record.

    ``max_bytes`` bounds the page read per record: a larger one is reported broken (``too_large``), the
    raw topic would refuse it anyway. A WARC file (gzipped per record or not) is read with FastWARC, twice as
    fast as warcio; ARC, a crawl gzipped as one stream, and every record FastWARC's reading does not vouch for
    are read with warcio (``pipeline.feeds.warc_fast``).

    Raises:
        NotAFeedError: the stream is not WARC/ARC at its start.
    """
    if warc_fast.readable(stream):
        return warc_fast.parse(stream, max_bytes, page=_page, slow=_parse_warcio)
    return _parse_warcio(stream, max_bytes)


def _parse_warcio(stream: IO[bytes], max_bytes: int, *, resumed: bool = False) -> Generator[Parsed, None, None]:
    """Read with warcio from where ``stream`` stands; ``resumed``: past the start of a file already read."""
    number = end = stream.tell()
    records = ArchiveIterator(stream, arc2warc=True)
    iterator = iter(records)
    started = resumed
    while True:
        try:
            try:
                record = next(iterator)
            except StopIteration:
                break
            except ValueError as error:  # warcio on headers it cannot read (a Content-Length that is not a number)
                raise ArchiveLoadFailed(str(error)) from None
            except AttributeError:  # warcio on an HTTP record without a target URI (headers cut off)
                raise ArchiveLoadFailed("a record without WARC-Target-URI") from None
            started = True
            parsed = _record(record, max_bytes)
            if _truncated(record):
                parsed = Broken(0, "", "truncated_record", "the archive ends inside this record")
            # warcio knows a record's offset only once it has read the record to its end.
            number = records.get_record_offset()
            end = number + records.get_record_length()
        except ArchiveLoadFailed as error:
            message = " ".join(str(error).split())
            if not started:
                raise NotAFeedError("not_a_feed", f"not a WARC/ARC file: {message}") from None
            detail = f"the archive cannot be read on: {message}"
            yield Broken(number, f"offset {number}", "unreadable_record", detail)
            return
        except (OSError, EOFError, zlib.error) as error:
            yield Broken(number, f"offset {number}", "truncated_record", f"the archive ends early: {error}")
            return
        yield replace(parsed, number=number, where=f"offset {number}")
    if isinstance(stream, io.BufferedReader | io.BytesIO) and started:
        size = stream.seek(0, io.SEEK_END)
        stream.seek(end)
        # warcio stops silently where a record's headers were cut off; record separators are not data.
        if size > end and stream.read(4096).strip():
            detail = f"{size - end} bytes after the last complete record cannot be read"
            yield Broken(end, f"offset {end}", "truncated_record", detail)


def _truncated(record: object) -> bool:
    """Read the rest of the record; True when the file ended before its Content-Length (warcio says nothing)."""
    stream = record.raw_stream  # type: ignore[attr-defined]
    while stream.read(65_536):
        pass
    return int(getattr(stream, "limit", 0)) > 0


def _record(record: object, max_bytes: int) -> Parsed:
    number, where = 0, ""  # set by the caller
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
    rec_headers = record.rec_headers  # type: ignore[attr-defined]
    return _page(
        content_type, payload, rec_headers.get_header("WARC-Target-URI"), rec_headers.get_header("WARC-Date"), max_bytes
    )


def _page(content_type: str, payload: bytes, target: str | None, warc_date: str | None, max_bytes: int) -> Parsed:
    """The item of an HTML response: ``content_type`` lower-cased, ``payload`` read up to ``max_bytes + 1``."""
    number, where = 0, ""  # set by the caller
    if not content_type and not payload.lstrip()[:16].lower().startswith(_HTML_START):
        return Skipped(number, where, "not_html")
    if len(payload) > max_bytes:
        return Broken(number, where, "too_large", f"the page is over {max_bytes} bytes")
    if not payload.strip():
        return Broken(number, where, "no_body", "the response has an empty page")
    html = payload.decode(_encoding(content_type, payload), "replace")
    url = (target or "").strip().strip("<>") or None
    title, language, published = _head(html)
    item = compact(
        {
            "id": url,
            "url": url,
            "title": title,
            "published_at": published or warc_date,
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
    """Title, ``<html lang>`` and the publication time a page's head declares, by pattern over the head only
    (a parse of the head cost 0.3 ms a page, as much as the rest of the record's mapping)."""
    head = html[:_HEAD_CHARS]
    end = _HEAD_END.search(head)
    if end is not None:
        head = head[: end.start()]
    title_match = _TITLE.search(head)
    title = " ".join(unescape(title_match.group(1)).split()) if title_match else None
    lang_match = _LANG.search(head)
    language = lang_match.group(1).strip() if lang_match else None
    published = None
    for meta in _META.finditer(head):
        tag = meta.group(0)
        lowered = tag.lower()
        if "date" not in lowered and "published" not in lowered:
            continue  # every name in _PUBLISHED_META holds one of them; most of a head's metas hold neither
        attributes = {name.lower(): value for name, value in _ATTRIBUTE.findall(tag)}
        attributes = {name: value.strip("\"'") for name, value in attributes.items()}
        name = (attributes.get("property") or attributes.get("name") or attributes.get("itemprop") or "").lower()
        if name in _PUBLISHED_META and attributes.get("content"):
            published = unescape(attributes["content"]).strip()
            break
    return title or None, language or None, published or None
