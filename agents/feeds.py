"""Reading archived feeds: JSON-lines files, ``.gz`` files, directories of them, or standard input."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz", ".gz")


def expand(paths: list[str]) -> list[str]:
    """Expand directories to the feed files under them, sorted; ``-`` stands for standard input."""
    out: list[str] = []
    for name in paths:
        path = Path(name)
        if name != "-" and path.is_dir():
            out.extend(str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.name.endswith(_SUFFIXES))
        else:
            out.append(name)
    return out


def read_lines(paths: list[str]) -> Iterator[tuple[str, int, bytes]]:
    """Yield ``(path, line number, raw bytes)`` for every non-blank line, in order, bytes untouched."""
    for name in expand(paths):
        if name == "-":
            stream = sys.stdin.buffer
            yield from _lines(name, stream)
            continue
        opener = gzip.open if name.endswith(".gz") else open
        with opener(name, "rb") as stream:
            yield from _lines(name, stream)


def _lines(name: str, stream: Iterable[bytes]) -> Iterator[tuple[str, int, bytes]]:
    for number, line in enumerate(stream, start=1):
        data = line.rstrip(b"\r\n")
        if data.strip():
            yield name, number, data


def count_lines(paths: list[str]) -> int | None:
    """Count the non-blank lines to replay (for the progress bar's ETA); None for standard input."""
    total = 0
    for name in expand(paths):
        if name == "-":
            return None
        opener = gzip.open if name.endswith(".gz") else open
        with opener(name, "rb") as stream:
            total += sum(1 for line in stream if line.strip())
    return total
