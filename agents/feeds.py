"""Reading archived feeds from disk: JSON lines, RSS/Atom/JSON Feed documents, WARC/ARC crawls, ``.gz`` of
each, directories of them, or standard input (JSON lines). Formats are found from the content.

``resolve`` checks every path before anything connects; ``read_records`` yields one ``Record`` per line,
entry or crawl record, with how far into its file the reader is (for the progress bar).
"""

from __future__ import annotations

import contextlib
import gzip
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import structlog

from pipeline.feeds import DOCUMENT_FORMATS, HEAD_BYTES, Broken, Entry, NotAFeedError, Skipped, detect, parse_document
from pipeline.feeds import parse_warc as _parse_warc

_NAMES = (".jsonl", ".json", ".ndjson", ".xml", ".rss", ".atom", ".rdf", ".feed", ".warc", ".arc")
SUFFIXES = _NAMES + tuple(name + ".gz" for name in _NAMES) + (".gz",)
"""Files a directory contributes (a file named explicitly is read whatever its name)."""
_GZIP_MAGIC = b"\x1f\x8b"

log = structlog.get_logger(__name__)


class PathError(ValueError):
    """A path given to a command that cannot be read as a feed: missing, unreadable, empty folder, not a feed."""


@dataclass(frozen=True, slots=True)
class FeedFile:
    """One input file and the format found in it."""

    path: str
    format: str
    size: int | None
    """Bytes on disk (None for standard input)."""
    refused: NotAFeedError | None = None
    """Why a file found in a directory is not read (a file named on the command line is an error instead)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One line, entry or crawl record of a file."""

    file: FeedFile
    number: int
    """Line (JSON lines, XML), item index (JSON Feed) or byte offset (WARC/ARC)."""
    where: str
    data: bytes | None
    """The raw item's bytes (as read for JSON lines, encoded from the entry otherwise); None when ``problem``."""
    item: dict[str, Any] | None
    """The entry as a flat dict (feeds and crawls; None for JSON lines, which are decoded from ``data``)."""
    problem: Broken | Skipped | None
    done: int
    """Bytes of ``file`` read so far (on disk, compressed)."""


def expand(paths: list[str]) -> list[str]:
    """Expand directories to the feed files under them, sorted; ``-`` stands for standard input."""
    out: list[str] = []
    for name in paths:
        path = Path(name)
        if name != "-" and path.is_dir():
            out.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.name.endswith(SUFFIXES))
        else:
            out.append(name)
    return out


def resolve(paths: list[str]) -> list[FeedFile]:
    """Check every path and find each file's format, before any connection is made.

    Raises:
        PathError: naming the first path that is missing, unreadable, an empty directory or not a feed.
    """
    files: list[FeedFile] = []
    for name in paths:
        if name == "-":
            files.append(FeedFile("-", "jsonl", None))
            continue
        path = Path(name)
        if not path.exists():
            raise PathError(f"{name}: no such file or directory")
        if path.is_dir():
            found = expand([name])
            if not found:
                raise PathError(f"{name}: a directory with no feed files (names ending in {', '.join(_NAMES)})")
            files.extend(_sniff(found_name, strict=False) for found_name in found)
        else:
            files.append(_sniff(name))
    return files


def _sniff(name: str, *, strict: bool = True) -> FeedFile:
    try:
        head = _head(name)
        size = Path(name).stat().st_size
    except OSError as error:
        raise PathError(f"{name}: cannot be read ({error.strerror or error})") from None
    except EOFError:
        raise PathError(f"{name}: a truncated gzip file") from None
    try:
        return FeedFile(name, detect(head), size)
    except NotAFeedError as error:
        if strict:
            raise PathError(f"{name}: {error.detail}") from None
        return FeedFile(name, "refused", size, error)


def _head(name: str) -> bytes:
    """The first bytes of a file, decompressed when it is gzip (found by its magic bytes, not its name)."""
    with Path(name).open("rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not gzipped:
            return raw.read(HEAD_BYTES)
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            return stream.read(HEAD_BYTES)


def read_records(
    files: list[FeedFile], *, max_bytes: int, on_recovered: Callable[[FeedFile, list[str]], None] | None = None
) -> Iterator[Record]:
    """Yield every line, entry or record of ``files`` in order.

    ``on_recovered`` is told of the XML errors lxml read past in a feed document (default: a warning is logged).

    Raises:
        NotAFeedError: a file that passed ``resolve`` turns out unreadable as its format (the caller reports
            it and goes on with the next file).
    """
    for file in files:
        if file.refused is not None:
            raise file.refused
        if file.path == "-":
            yield from _lines(file, sys.stdin.buffer, None)
            continue
        with Path(file.path).open("rb") as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw  # type: ignore[assignment]
            if file.format in {"warc", "arc"}:
                # warcio's own per-record gunzip is the fastest, but it refuses a crawl gzipped as one stream
                # rather than one gzip member per record (warcio's example-bad-non-chunked.warc.gz).
                per_record = not gzipped or _several_members(raw)
                yield from _crawl(file, raw if per_record else stream, raw, max_bytes)
                continue
            if file.format in DOCUMENT_FORMATS:
                yield from _document(file, stream.read(), on_recovered or log_recovered)
            else:
                yield from _lines(file, stream, raw)


def _several_members(raw: IO[bytes], probe: int = 1 << 20) -> bool:
    """Whether ``raw`` holds several gzip members, seen within ``probe`` bytes (a WARC's first record is small)."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    with contextlib.suppress(zlib.error):
        inflater.decompress(raw.read(probe))
    raw.seek(0)
    return inflater.eof and bool(inflater.unused_data)  # one member holding the whole file reads either way


def _lines(file: FeedFile, stream: Iterable[bytes], raw: IO[bytes] | None) -> Iterator[Record]:
    for number, line in enumerate(stream, start=1):
        data = line.rstrip(b"\r\n")
        if data.strip():
            yield Record(file, number, f"line {number}", data, None, None, raw.tell() if raw is not None else 0)


def log_recovered(file: FeedFile, errors: list[str]) -> None:
    """Report, once per file, the XML errors lxml read past (an undefined entity, a stray ampersand)."""
    log.warning("feed_xml_recovered", path=file.path, errors=len(errors), first=errors[0])


def _document(file: FeedFile, data: bytes, on_recovered: Callable[[FeedFile, list[str]], None]) -> Iterator[Record]:
    document = parse_document(data)
    if document.recovered:
        on_recovered(file, document.recovered)
    total = len(document.entries) or 1
    size = file.size or 0
    for index, parsed in enumerate(document.entries, start=1):
        yield _record(file, parsed, size * index // total)


def _crawl(file: FeedFile, stream: IO[bytes], raw: IO[bytes], max_bytes: int) -> Iterator[Record]:
    for parsed in _parse_warc(stream, max_bytes):
        yield _record(file, parsed, raw.tell())


def _record(file: FeedFile, parsed: Entry | Broken | Skipped, done: int) -> Record:
    if isinstance(parsed, Entry):
        return Record(file, parsed.number, parsed.where, orjson.dumps(parsed.item), parsed.item, None, done)
    return Record(file, parsed.number, parsed.where, None, None, parsed, done)
