"""Benchmark the fingerprint and dedupe stages: latency per item and bytes held per indexed item.

usage: python bench/dedupe_bench.py [../shared/data/dev/dedupe-stream.jsonl]

Latency is measured over the stream as given (text prepared by ``pipeline.clean``, falling back to a
minimal HTML-and-junk-line strip should it raise), then again while filling an index to 100,000 items made by
perturbing the stream's texts (word substitutions for new stories, truncations and edits for copies).
Bytes per indexed item is the sum of ``len(key) + len(value)`` over both stores divided by items held,
measured at 100,000 items.
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from selectolax.lexbor import LexborHTMLParser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.clean import clean
from pipeline.dedupe import DedupeIndex
from pipeline.fingerprint import fingerprint

TARGET_ITEMS = 100_000
_JUNK = re.compile(r"^\s*(\[ad_\d+\]|read also\s*\||read more\b|share now\s*$|source link\s*$|source\s*$)", re.I)


def _prepare(body: str) -> str:
    """The cleaned body: the clean stage's, or a minimal strip should the clean stage raise."""
    try:
        return clean(body, None).body
    except Exception:  # noqa: BLE001 - a benchmark of dedupe should not stop at a clean-stage bug
        pass
    body = "\n".join(line for line in body.splitlines() if not _JUNK.match(line))
    if "<" in body:
        body = LexborHTMLParser(body).text(separator="\n")
    return "\n".join(line for line in body.splitlines() if line.strip() and not _JUNK.match(line))


def _stream(path: str) -> Iterator[tuple[str, str, datetime]]:
    with Path(path).open("rb") as lines:
        for line in lines:
            item = orjson.loads(line)
            when = datetime.fromisoformat(item["published_at"].replace("Z", "+00:00"))
            yield item["id"], _prepare(item["body"]), when


def _synthetic(texts: list[str], count: int, seed: int = 7) -> Iterator[tuple[str, str, datetime]]:
    """Perturbed items over six days: about 75% new stories, 25% copies of an earlier one."""
    rng = random.Random(seed)
    vocab = sorted({word for text in texts[:500] for word in text.split()})
    made: list[str] = []
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(count):
        if made and rng.random() < 0.25:
            words = rng.choice(made[-5000:]).split()
            cut = rng.choice((1.0, 1.0, 0.4, 0.7))
            words = words[: max(3, int(len(words) * cut))]
            for _ in range(3 if words else 0):
                words[rng.randrange(len(words))] = rng.choice(vocab)
        else:
            words = [w if rng.random() < 0.5 else rng.choice(vocab) for w in rng.choice(texts).split()]
        text = " ".join(words)
        made.append(text)
        yield f"synthetic-{n}", text, start + timedelta(seconds=n * 5)


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_us": round(statistics.median(ordered) * 1e6, 1),
        "p99_us": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6, 1),
    }


def _timed(index: DedupeIndex, items: Iterator[tuple[str, str, datetime]]) -> tuple[list[float], list[float]]:
    fp_times: list[float] = []
    decide_times: list[float] = []
    for item_id, text, when in items:
        t0 = time.perf_counter()
        fp = fingerprint(text)
        t1 = time.perf_counter()
        index.decide(item_id, fp, when)
        t2 = time.perf_counter()
        fp_times.append(t1 - t0)
        decide_times.append(t2 - t1)
    return fp_times, decide_times


def run(path: str) -> dict[str, object]:
    """Measure the stages on a stream file and on a 100,000-item synthetic fill.

    Returns:
        Latencies (median and p99 µs per item) for fingerprint and decide on the stream and on the fill,
        and bytes per indexed item at 100,000 items.
    """
    stream = list(_stream(path))
    # The dev stream spans decades; a window wide enough to hold it all measures matching, not expiry.
    fp_s, decide_s = _timed(DedupeIndex({}, {}, window=timedelta(days=365 * 60)), iter(stream))
    items: dict[str, bytes] = {}
    bands: dict[str, bytes] = {}
    fill = DedupeIndex(items, bands, window=timedelta(days=7))
    bases = [text for _, text, _ in stream if len(text.split()) >= 20]
    fp_f, decide_f = _timed(fill, _synthetic(bases, TARGET_ITEMS))
    held = sum(key.startswith("e:") for key in items)
    size = sum(len(k) + len(v) for k, v in items.items()) + sum(len(k) + len(v) for k, v in bands.items())
    return {
        "stream_items": len(stream),
        "stream_fingerprint": _quantiles(fp_s),
        "stream_decide": _quantiles(decide_s),
        "stream_total": _quantiles([a + b for a, b in zip(fp_s, decide_s, strict=True)]),
        "fill_items": TARGET_ITEMS,
        "fill_fingerprint": _quantiles(fp_f),
        "fill_decide": _quantiles(decide_f),
        "items_held": held,
        "bytes_per_item": round(size / held, 1),
        "items_store_bytes_per_item": round(sum(len(k) + len(v) for k, v in items.items()) / held, 1),
        "bands_store_bytes_per_item": round(sum(len(k) + len(v) for k, v in bands.items()) / held, 1),
    }


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent.parent / "shared/data/dev/dedupe-stream.jsonl"
    print(orjson.dumps(run(sys.argv[1] if len(sys.argv) > 1 else str(default)), option=orjson.OPT_INDENT_2).decode())
