"""Benchmark ``Tagger.tag`` with the shipped taxonomy over a JSON-lines file of items.

Usage: ``python bench/tag_bench.py [ITEMS.jsonl]`` (default: the shared Reuters dev half).
Prints one JSON object: articles, median and p99 microseconds per ``tag()`` call.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.tag import Tagger

DEFAULT_ITEMS = "../shared/data/dev/reuters21578.jsonl"


def run(path: str, *, rounds: int = 3) -> dict[str, float]:
    """Time ``tag(title, body)`` per article; return median/p99 µs (best round per article)."""
    tagger = Tagger.default()
    items: list[tuple[str | None, str]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                doc = json.loads(line)
                items.append((doc.get("title"), doc.get("body") or ""))
    best = [float("inf")] * len(items)
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for i, (title, body) in enumerate(items):
            start = clock()
            tagger.tag(title, body)
            best[i] = min(best[i], (clock() - start) / 1000)
    ordered = sorted(best)
    return {
        "articles": len(items),
        "median_us": round(statistics.median(ordered), 1),
        "p99_us": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "mean_chars": round(sum(len(b) for _, b in items) / max(1, len(items))),
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_ITEMS)))
