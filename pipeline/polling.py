"""The rules of the live feed poller, without I/O: the feed list, backoff, and which entries are new.

The poller (``agents/poll.py``) fetches and publishes; what it remembers per feed between polls (and across
restarts, in a compacted Kafka topic) is a ``FeedState``, encoded here.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import xxhash

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(s|m|h|d)?\Z")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
SEEN_MINIMUM = 1000
"""Entry keys remembered per feed at least; more when the feed itself holds more (twice its length)."""


class FeedListError(ValueError):
    """A line of the feed list that cannot be used (reported with its line number)."""


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One line of the feed list."""

    url: str
    source: str | None = None
    """Source name given in the list (else the feed's own title, or its host)."""
    interval: float | None = None
    """Seconds between polls (else the poller's default)."""


def parse_duration(text: str) -> float | None:
    """``300``, ``90s``, ``5m``, ``1h``, ``1d`` as seconds; None when ``text`` is not a duration."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        return None
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_feed_list(text: str) -> list[FeedSpec]:
    """Read a feed list: one ``URL [SOURCE NAME] [INTERVAL]`` a line; ``#`` starts a comment.

    The interval is the last word when it reads as a duration (``300``, ``90s``, ``5m``, ``1h``); the words
    between the URL and it are the source name.

    Raises:
        FeedListError: a line whose URL is not http(s), a zero interval, a URL listed twice, or no feed.
    """
    specs: list[FeedSpec] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.replace("\t", " ").split(" #", 1)[0].strip()
        words = line.split()
        url = words[0]
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise FeedListError(f"line {number}: {url!r} is not an http(s) URL")
        if url in seen:
            raise FeedListError(f"line {number}: {url} is already listed on line {seen[url]}")
        seen[url] = number
        rest = words[1:]
        interval = parse_duration(rest[-1]) if rest else None
        if interval is not None:
            rest = rest[:-1]
            if interval <= 0:
                raise FeedListError(f"line {number}: the interval must be more than 0")
        specs.append(FeedSpec(url, " ".join(rest) or None, interval))
    if not specs:
        raise FeedListError("the feed list names no feed")
    return specs


def backoff_delay(failures: int, interval: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before the next poll after ``failures`` errors in a row (0: the plain interval).

    Exponential (the interval doubled per failure, at most ``cap``) with +-20% jitter, so feeds that failed
    together (one host down) do not come back in lockstep.
    """
    if failures <= 0:
        return interval
    base = min(cap, interval * 2.0 ** min(failures, 32))
    return base * (rng or random).uniform(0.8, 1.2)


def entry_key(item: dict[str, Any]) -> str:
    """What makes an entry the same entry on the next poll: its id, else its link, else its content."""
    identity = item.get("id") or item.get("url") or f"{item.get('title')}\x00{item.get('body')}"
    return xxhash.xxh3_64_hexdigest(str(identity).encode("utf-8", "surrogatepass"))


@dataclass(slots=True)
class FeedState:
    """What the poller remembers of one feed: validators for conditional GET and the entries already published."""

    etag: str | None = None
    last_modified: str | None = None
    seen: list[str] = field(default_factory=list)
    """Keys (``entry_key``) of published entries, oldest first, bounded."""
    last_success: float | None = None
    """Epoch seconds of the last poll that fetched the feed (200 or 304)."""

    def new_entries(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items whose key is not remembered, in the order given (duplicates within ``items`` once)."""
        known = set(self.seen)
        out = []
        for item in items:
            key = entry_key(item)
            if key not in known:
                known.add(key)
                out.append(item)
        return out

    def remember(self, items: Iterable[dict[str, Any]], feed_length: int) -> None:
        """Add the keys of ``items`` (published, or refused for good) and drop the oldest beyond the bound."""
        known = set(self.seen)
        for item in items:
            key = entry_key(item)
            if key not in known:
                known.add(key)
                self.seen.append(key)
        bound = max(SEEN_MINIMUM, 2 * feed_length)
        if len(self.seen) > bound:
            del self.seen[: len(self.seen) - bound]

    def to_bytes(self) -> bytes:
        """The state as the value of its compacted-topic record."""
        return orjson.dumps(
            {"etag": self.etag, "last_modified": self.last_modified, "seen": self.seen,
             "last_success": self.last_success}
        )  # fmt: skip

    @classmethod
    def from_bytes(cls, data: bytes) -> FeedState:
        """Read a record written by ``to_bytes``; an unreadable one is an empty state (the feed starts over)."""
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            return cls()
        if not isinstance(value, dict):
            return cls()
        seen = value.get("seen")
        return cls(
            etag=value.get("etag") if isinstance(value.get("etag"), str) else None,
            last_modified=value.get("last_modified") if isinstance(value.get("last_modified"), str) else None,
            seen=[key for key in seen if isinstance(key, str)] if isinstance(seen, list) else [],
            last_success=value.get("last_success") if isinstance(value.get("last_success"), int | float) else None,
        )
