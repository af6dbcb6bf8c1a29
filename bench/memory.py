"""Memory figures: the worker's resident memory after N items (measured in bench/e2e.py's memory run, read from
/proc/PID/status VmRSS) and the bytes per item the dedupe index holds (bench/dedupe_bench.py's ``run()``).

usage: python bench/memory.py [STREAM.jsonl]   # the dedupe index figure only; needs no broker
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_STREAM = Path(__file__).resolve().parents[2] / "shared/data/dev/dedupe-stream.jsonl"


def dedupe_index(path: str = str(DEFAULT_STREAM)) -> dict[str, object]:
    """Bytes per item held by the dedupe index at 100,000 items (sum of key + value lengths of both stores)."""
    import dedupe_bench  # noqa: PLC0415

    started = time.perf_counter()
    result = dedupe_bench.run(path)
    keep = ("fill_items", "items_held", "bytes_per_item", "items_store_bytes_per_item", "bands_store_bytes_per_item",
            "fill_fingerprint", "fill_decide")  # fmt: skip
    return {k: result[k] for k in keep if k in result} | {"seconds": round(time.perf_counter() - started, 1)}


if __name__ == "__main__":
    print(orjson.dumps(dedupe_index(sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_STREAM)),
                       option=orjson.OPT_INDENT_2).decode())  # fmt: skip
