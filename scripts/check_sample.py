"""`make run`'s once mode: wait until the worker's outputs for a replayed sample match what it must produce.

What it must produce is what ``newsfeed process`` makes of the same file: how many items go to search, to
duplicates and to the dead letter, and how many alerts they raise. Which copy of a story is the original
depends on the order the worker reads them in, so the check compares per-topic counts over the sample's ids,
not ids per topic. Every topic is read to its end offsets. Exits 0 when all is there, 1 after the time limit.

Usage: python scripts/check_sample.py FILE [--within SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from agents.offline import offline_pipeline, process_lines
from agents.readback import read_outputs
from pipeline.settings import Settings

ROUTED = ("search", "duplicates", "deadletter")


def expected(settings: Settings, path: Path) -> tuple[Counter[str], set[str]]:
    """Per short topic name, how many messages the sample makes; and the ids of its items."""
    lines = ((str(path), number, line.rstrip(b"\n")) for number, line in enumerate(path.open("rb"), 1))
    counts: Counter[str] = Counter()
    ids: set[str] = set()
    for message in process_lines(offline_pipeline(settings), lines):
        short = message.topic.rsplit(".", 1)[-1]
        counts[short] += 1
        if short in ROUTED and message.key:
            ids.add(message.key)
    return counts, ids


def seen(messages: list[tuple[str, str | None, Any]], ids: set[str]) -> Counter[str]:
    """Per topic, how many of the sample's items (or alerts raised by them) are there."""
    places: dict[str, set[str]] = {}
    alerts: set[str] = set()
    for topic, key, value in messages:
        if topic in ROUTED and key in ids:
            places.setdefault(key, set()).add(topic)
        elif topic == "alerts" and key and value.get("item_id") in ids:
            alerts.add(key)
    counts: Counter[str] = Counter(topic for topics in places.values() if len(topics) == 1 for topic in topics)
    counts["alerts"] = len(alerts)
    counts["on two topics"] = sum(1 for topics in places.values() if len(topics) > 1)
    return counts


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--within", type=float, default=90.0)
    args = parser.parse_args()
    settings = Settings.from_env()
    want, ids = expected(settings, args.file)
    want["on two topics"] = 0
    deadline = time.monotonic() + args.within
    while True:
        have = seen(await read_outputs(settings, (*ROUTED, "alerts")), ids)
        # More alerts than expected only after earlier runs, whose copies were read in another order.
        if all(have[topic] == count or (topic == "alerts" and have[topic] > count) for topic, count in want.items()):
            sys.stderr.write(f"check: every output the sample must produce is there: {dict(want)}\n")
            return 0
        if time.monotonic() > deadline:
            sys.stderr.write(f"check FAILED after {args.within:.0f}s: expected {dict(want)}, found {dict(have)}\n")
            return 1
        await asyncio.sleep(1.0)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
