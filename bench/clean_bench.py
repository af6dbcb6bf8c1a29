"""Time the clean stage per item, split by input kind.

Usage: ``python bench/clean_bench.py FILE.jsonl [FILE.jsonl ...]`` prints JSON with the
median and p99 cost in microseconds for plain text, HTML snippets and whole HTML pages.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import _html, _text
from pipeline.clean import clean


def _kind(body: str) -> str:
    text = _text.prepare(body)
    if not _html.looks_like_html(text):
        return "text"
    return "page_html" if _html.is_page(text) else "snippet_html"


def _percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def run(paths: list[str]) -> dict[str, dict[str, float]]:
    """Time ``clean()`` on every item of the given jsonl files.

    Each item is cleaned once untimed (warm-up: imports, caches) and then timed once.

    Returns:
        ``{kind: {"items", "median_us", "p99_us", "max_us"}}`` for the kinds present.
    """
    timings: dict[str, list[float]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                item = json.loads(line)
                body, title = item.get("body") or "", item.get("title")
                clean(body, title)
                start = time.perf_counter_ns()
                clean(body, title)
                elapsed = (time.perf_counter_ns() - start) / 1000
                timings.setdefault(_kind(body), []).append(elapsed)
    result: dict[str, dict[str, float]] = {}
    for kind, values in sorted(timings.items()):
        values.sort()
        result[kind] = {
            "items": len(values),
            "median_us": round(statistics.median(values), 1),
            "p99_us": round(_percentile(values, 0.99), 1),
            "max_us": round(values[-1], 1),
        }
    return result


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1:]), indent=2))
