"""Offline benchmark: the pipeline's stages in one process, no Kafka.

usage: python bench/offline.py [STREAM.jsonl] [--passes N] [--clock cpu|wall]

Throughput is measured without a StageTimer (the service runs without one), over the whole stream, including
encoding each output message as ``newsfeed process`` does. Per-stage latencies come from a second run with a
``StageTimer``. The serialization between the two worker stages (``Prepared.to_bytes``/``from_bytes``, the
internal topic's format) and the output encoding are timed separately, since the worker pays for them and
``newsfeed process`` does not.

``--clock cpu`` times the stages with this process's CPU time instead of the wall clock: on a machine shared
with other work, wall-clock laps include the time the process waited for a core.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.offline import ARCHIVE_WINDOW_DAYS, offline_pipeline, process_lines
from pipeline.prepared import Prepared
from pipeline.process import StageTimer
from pipeline.records import DeadLetter, Origin
from pipeline.settings import Settings

STAGES = ("decode", "clean", "fingerprint", "tag", "dedupe", "alerts", "route")
DEFAULT_STREAM = Path(__file__).resolve().parents[2] / "shared/data/dev/dedupe-stream.jsonl"


def quantiles_us(samples_ns: list[int]) -> dict[str, float]:
    """Median and p99 of nanosecond samples, in microseconds."""
    if not samples_ns:
        return {"n": 0, "median_us": 0.0, "p99_us": 0.0, "mean_us": 0.0}
    ordered = sorted(samples_ns)
    return {
        "n": len(ordered),
        "median_us": round(statistics.median(ordered) / 1e3, 1),
        "p99_us": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1e3, 1),
        "mean_us": round(sum(ordered) / len(ordered) / 1e3, 1),
    }


def _lines(path: str) -> list[tuple[str, int, bytes]]:
    with open(path, "rb") as handle:
        return [(path, n, line.rstrip(b"\r\n")) for n, line in enumerate(handle, 1) if line.strip()]


def _settings() -> Settings:
    # As ``newsfeed process``: the dev stream spans decades, so dedupe across the whole input.
    return replace(Settings.from_env({}), dedupe_window_days=ARCHIVE_WINDOW_DAYS)


def throughput(lines: list[tuple[str, int, bytes]], passes: int) -> dict[str, float]:
    """Items per second through both steps plus output encoding, fresh state per pass; best and median pass."""
    rates = []
    cpu_rates = []
    outputs = 0
    for _ in range(passes):
        pipeline = offline_pipeline(_settings())
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        outputs = 0
        for message in process_lines(pipeline, iter(lines)):
            orjson.dumps({"topic": message.topic, "key": message.key, "value": message.value})
            outputs += 1
        rates.append(len(lines) / (time.perf_counter() - started))
        cpu_rates.append(len(lines) / max(1e-9, time.process_time() - cpu_started))
    return {
        "items": len(lines),
        "outputs_per_pass": outputs,
        "passes": passes,
        "items_per_s_best": round(max(rates), 1),
        "items_per_s_median": round(statistics.median(rates), 1),
        # wall-clock rate suffers when other processes share the cores; CPU-time rate is what one core gives
        "items_per_cpu_s_median": round(statistics.median(cpu_rates), 1),
    }


def stages(lines: list[tuple[str, int, bytes]], clock: str = "wall") -> dict[str, object]:
    """Per-stage latencies (StageTimer) plus the worker-only serialization costs."""
    now_ns = time.process_time_ns if clock == "cpu" else time.perf_counter_ns
    timer = StageTimer(now_ns)
    pipeline = offline_pipeline(_settings(), timer)
    to_bytes: list[int] = []
    from_bytes: list[int] = []
    encode_out: list[int] = []
    prepared_sizes: list[int] = []
    raw_sizes: list[int] = []
    dead = 0
    gc.collect()
    for path, number, data in lines:
        now = datetime.now(UTC)
        raw_sizes.append(len(data))
        prepared = pipeline.prepare(data, Origin(path, None, number, False), now)
        if isinstance(prepared, DeadLetter):
            dead += 1
            continue
        t0 = now_ns()
        blob = prepared.to_bytes()
        t1 = now_ns()
        prepared = Prepared.from_bytes(blob)
        t2 = now_ns()
        to_bytes.append(t1 - t0)
        from_bytes.append(t2 - t1)
        prepared_sizes.append(len(blob))
        messages = pipeline.settle(prepared, now)
        t3 = now_ns()
        for message in messages:
            orjson.dumps(message.value)
        encode_out.append(now_ns() - t3)
    per_stage = {name: quantiles_us(timer.samples.get(name, [])) for name in STAGES}
    return {
        "clock": clock,
        "stages": per_stage,
        "serialization": {
            "prepared_to_bytes": quantiles_us(to_bytes),
            "prepared_from_bytes": quantiles_us(from_bytes),
            "encode_outputs": quantiles_us(encode_out),
        },
        "dead_lettered": dead,
        "raw_bytes_mean": round(sum(raw_sizes) / max(1, len(raw_sizes))),
        "prepared_bytes_mean": round(sum(prepared_sizes) / max(1, len(prepared_sizes))),
    }


def run(path: str, passes: int = 3, clock: str = "wall") -> dict[str, object]:
    """The offline figures for ``make bench``."""
    lines = _lines(path)
    # warm-up: imports, taxonomy automaton, regex caches
    for _ in process_lines(offline_pipeline(_settings()), iter(lines[:200])):
        pass
    return {"stream": path, **throughput(lines, passes), **stages(lines, clock)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stream", nargs="?", default=str(DEFAULT_STREAM))
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="the clock the stages are timed on")
    args = parser.parse_args()
    print(orjson.dumps(run(args.stream, args.passes, args.clock), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
