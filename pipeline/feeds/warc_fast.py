"""WARC files read with FastWARC (0.4 ms a 165 KB page against warcio's 0.9), warcio kept for what is not plain.

FastWARC reads WARC gzipped per record (as CC-NEWS publishes it); an uncompressed WARC, ARC and a crawl gzipped
as one stream are warcio's (FastWARC skips bytes it cannot read in an uncompressed file, where warcio stops).
Within a file FastWARC reads the common record: an HTTP response whose body is neither chunked nor
content-encoded. Every other response, and a record whose headers are not plain ASCII, is mapped by warcio,
read again from the record's offset through a second file handle; records that are not responses are skipped by
their ``WARC-Type``, as warcio's reading would. A record is handed on only once FastWARC has read the two after
it: when FastWARC fails, or offsets stop increasing (records sharing a gzip member), or the file ends, warcio
reads on from the first of the two records held back, so a truncated or unreadable end is reported exactly as
warcio reports it (where the last complete record ends included).

Known difference, on corrupt archives only: within a gzip member that holds a damaged record, FastWARC may find
the next record where warcio stops, or read the damaged one otherwise (10 of 2,000 crawls with one record
damaged at random, in a differential run; none on whole or cut-off crawls).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from typing import IO, Any, Protocol

from fastwarc.warc import ArchiveIterator

from pipeline.feeds.entries import Broken, Parsed, Skipped

_GZIP_MAGIC = b"\x1f\x8b"
_HTTP_SCHEMES = ("http:", "https:")
_PROBE = 4096


class _Slow(Protocol):
    def __call__(self, stream: IO[bytes], max_bytes: int, *, resumed: bool = ...) -> Generator[Parsed, None, None]: ...


Page = Callable[[str, bytes, str | None, str | None, int], Parsed]


def readable(stream: IO[bytes]) -> bool:
    """True for a seekable file (or bytes) that starts as WARC, plain or gzipped: FastWARC's to read."""
    if not isinstance(stream, io.BufferedReader | io.BytesIO) or stream.tell() != 0:
        return False  # FastWARC's offsets count from where it starts reading
    head = stream.read(_PROBE)
    stream.seek(0)
    if not head.startswith(_GZIP_MAGIC):
        return False  # uncompressed: FastWARC skips over bytes it cannot read where warcio stops
    try:
        head = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(head, 16)
    except zlib.error:
        return False
    return head.startswith(b"WARC/")


def parse(stream: IO[bytes], max_bytes: int, *, page: Page, slow: _Slow) -> Iterator[Parsed]:
    """Yield what ``slow`` (warcio's reading) would yield for ``stream``, reading what it can with FastWARC.

    Args:
        page: maps an HTML response (lower-cased content type, payload, target URI, WARC-Date, max_bytes).
        slow: warcio's reading from where a stream stands, for the tail and for a whole file it cannot start.
    """
    held: list[tuple[int, Parsed]] = []  # the last two records read: warcio reads on from the first
    try:
        for record in ArchiveIterator(stream, parse_http=False):
            offset = int(record.stream_pos)
            if held and offset <= held[-1][0]:
                break  # several records in one gzip member: warcio's offsets, from the records held
            parsed = _record(record, max_bytes, page)
            if parsed is None:
                parsed = _one(stream, offset, max_bytes, slow)
                if isinstance(parsed, Broken):
                    break  # warcio stops the file there: it reads on from the records held, and stops the same
            if len(held) == 2:
                yield held.pop(0)[1]
            held.append((offset, replace(parsed, number=offset, where=f"offset {offset}")))
    except (OSError, ValueError, zlib.error):
        pass  # warcio reads on from the records held back and reports what it finds there
    stream.seek(held[0][0] if held else 0)
    yield from slow(stream, max_bytes, resumed=bool(held))


def _record(record: Any, max_bytes: int, page: Page) -> Parsed | None:
    """The record mapped as warcio's reading maps it, or None when warcio is to map it."""
    headers = record.headers
    rec_type = headers.get("WARC-Type") or ""
    if not (rec_type.isascii() and rec_type.isprintable()):
        return None  # warcio reads headers as Latin-1, FastWARC as UTF-8, and each stops a header differently
    if rec_type != "response":
        return Skipped(0, "", rec_type or "unknown")
    target = headers.get("WARC-Target-URI") or ""
    warc_date = headers.get("WARC-Date")
    if not record.content_length or not target.startswith(_HTTP_SCHEMES) or not target.isascii():
        return None
    if warc_date is not None and not warc_date.isascii():
        return None
    record.parse_http()
    http = record.http_headers
    if http is None or http.status_code is None:
        return None
    if http.get("Transfer-Encoding") is not None or http.get("Content-Encoding") is not None:
        return None  # warcio de-chunks and decompresses as it always has
    content_types = http.get_multiple("Content-Type")
    if len(content_types) > 1 or not all(value.isascii() for value in content_types):
        return None
    if not str(http.status_code).startswith("2"):
        return Skipped(0, "", "http_status")
    content_type = (content_types[0] if content_types else "").lower()
    if content_type and "html" not in content_type:
        return Skipped(0, "", "not_html")
    payload = record.reader.read(max_bytes + 1)
    return page(content_type, payload, target, warc_date, max_bytes)


def _one(stream: IO[bytes], offset: int, max_bytes: int, slow: _Slow) -> Parsed:
    """The record at ``offset`` as warcio reads it, through a handle of its own (FastWARC reads ``stream``)."""
    if isinstance(stream, io.BytesIO):
        other: IO[bytes] = io.BytesIO(stream.getbuffer())
    else:
        other = open(stream.name, "rb")  # noqa: PTH123, SIM115 - the same file as stream, closed below
    with other:
        other.seek(offset)
        records = slow(other, max_bytes, resumed=True)
        try:
            return next(records, None) or Broken(offset, "", "unreadable_record", "the record cannot be read")
        finally:
            records.close()
