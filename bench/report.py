# ruff: noqa: E501
"""``make bench``: run every benchmark once, print the figures, write bench/results/latest.json.

usage: python bench/report.py          (scripts/bench.sh starts the broker and sets BENCH_BROKER)
environment (all optional):
  BENCH_BROKER            kafka://127.0.0.1:19292
  BENCH_ITEMS             items of each sustained run (20000)
  BENCH_LATENCY_RATE      items/s of the latency run (200)     BENCH_LATENCY_SECONDS (20)
  BENCH_MEMORY_ITEMS      items through the worker before reading its RSS (100000)
  BENCH_BUDGET_S          the whole run's time budget in seconds (840); the memory run gets what is left
  BENCH_SKIP              comma-separated phases to skip: offline,raw,faust,worker,latency,scaling,scaling_roles,
                          fetchwait,dedupe,memory
Phases that fail are reported as errors; the others still run. Progress goes to standard error.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import platform
import re
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import e2e  # noqa: E402
import memory  # noqa: E402
import offline  # noqa: E402

RESULTS = ROOT / "bench/results"
TARGETS = {"offline_items_per_s": 2500, "e2e_items_per_s": 1500, "latency_p99_ms": 500, "scaling": 1.4}


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, load, versions."""
    cpu = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    pom = (ROOT / "scripts/kafka/pom.xml").read_text()
    kafka = re.search(r"<kafka.version>(.*?)</kafka.version>", pom)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()  # fmt: skip
    versions = {}
    for dist in ("faust-streaming", "aiokafka", "orjson", "rocksdict", "mode-streaming"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(), "cpu": cpu, "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)), "mem_gib": round(mem_kib / 2**20, 1),
        "loadavg_start": e2e.loadavg(), "python": platform.python_version(),
        "kafka": kafka.group(1) if kafka else None, "broker": e2e.broker_url(), "versions": versions,
        "commit": commit, "newsfeed_env": {k: v for k, v in os.environ.items() if k.startswith("NEWSFEED_")},
    }  # fmt: skip


def _phase(results: dict[str, Any], name: str, skip: set[str], fn: Any) -> Any:
    if name in skip:
        results[name] = {"skipped": True}
        return None
    print(f"== {name} (load {e2e.loadavg()}) ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        value = fn()
    except Exception as error:  # noqa: BLE001 - one broken phase must not hide the others' figures
        traceback.print_exc()
        value = {"error": f"{type(error).__name__}: {error}"}
    if isinstance(value, dict):
        value["phase_s"] = round(time.monotonic() - started, 1)
    results[name] = value
    return value


def run_all() -> dict[str, Any]:
    budget_end = time.monotonic() + _env_int("BENCH_BUDGET_S", 840)
    skip = {s.strip() for s in os.environ.get("BENCH_SKIP", "").split(",") if s.strip()}
    items = _env_int("BENCH_ITEMS", 20_000)
    rate = float(os.environ.get("BENCH_LATENCY_RATE", "200"))
    lat_s = float(os.environ.get("BENCH_LATENCY_SECONDS", "20"))
    mem_items = _env_int("BENCH_MEMORY_ITEMS", 100_000)
    results: dict[str, Any] = {"machine": machine(), "config": {"items": items, "latency_rate": rate,
                               "latency_seconds": lat_s, "memory_items": mem_items}}  # fmt: skip

    def cap(share: float) -> float:
        # a worker run may use this share of what is left of the budget (the rest is kept for later phases);
        # when it runs out, the run stops and reports the rate over what did arrive, marked incomplete
        return max(60.0, (budget_end - time.monotonic()) * share)

    _phase(results, "offline", skip, lambda: offline.run(str(offline.DEFAULT_STREAM)))
    payloads = e2e.stream_payloads(items)
    _phase(results, "raw", skip, lambda: asyncio.run(e2e.sustained("raw", payloads)))
    _phase(results, "faust", skip, lambda: asyncio.run(e2e.sustained("faust", payloads)))
    _phase(results, "worker", skip,
           lambda: asyncio.run(e2e.sustained("worker", payloads, sample_rss=True, timeout=cap(0.3))))  # fmt: skip
    _phase(results, "latency", skip, lambda: asyncio.run(e2e.latency("worker", rate=rate, seconds=lat_s)))
    _phase(results, "scaling", skip,
           lambda: asyncio.run(e2e.sustained("worker", payloads, workers=2, timeout=cap(0.3))))  # fmt: skip
    _phase(results, "scaling_roles", skip,
           lambda: asyncio.run(e2e.sustained("worker", payloads, roles=["intake", "dedupe"], timeout=cap(0.3))))  # fmt: skip

    def fetchwait() -> dict[str, Any]:
        # The forward agent at a low rate (items spread over 4 partitions, so most fetches find some partitions
        # empty): does the broker's fetch wait show up as latency?
        out = {}
        for wait in (1500, 100):
            out[str(wait)] = asyncio.run(e2e.latency("faust", rate=20, seconds=10, fetch_wait_ms=wait))
        return out

    _phase(results, "fetchwait", skip, fetchwait)
    _phase(results, "dedupe", skip, memory.dedupe_index)

    def mem() -> dict[str, Any]:
        left = budget_end - time.monotonic()
        payloads = e2e.synthetic_payloads(mem_items)
        # leave ~40 s for start-up and teardown; an incomplete run reports RSS after what did arrive
        return asyncio.run(e2e.sustained("worker", payloads, sample_rss=True, timeout=max(60.0, left - 40)))

    _phase(results, "memory", skip, mem)
    results["machine"]["loadavg_end"] = e2e.loadavg()
    return results


# --------------------------------------------------------------------------------------------- printing


def _scaling_line(run: dict[str, Any], one_worker: float | None) -> str:
    """A scaling run's rate and its ratio to one worker's, against the 1.4x target."""
    ratio = run["items_per_s"] / one_worker if one_worker else None
    times = "no one-worker rate to compare" if ratio is None else f"{ratio:.2f}x one worker"
    return (f"   {run['items_per_s']:,.0f} items/s ({run['arrived']}/{run['items']} in {run['elapsed_s']} s; load "
            f"{run['load_before'][0]}->{run['load_after'][0]}) = {times}   target >= 1.4x: {_ok(ratio, 1.4)}")  # fmt: skip


def _ok(value: float | None, target: float, higher: bool = True) -> str:
    if value is None:
        return "n/a"
    return "MEETS" if (value >= target if higher else value <= target) else "MISSES"


def _rate(r: dict[str, Any] | None) -> float | None:
    if not r or "items_per_s" not in r:
        return None
    return float(r["items_per_s"])


def _cpu_rate(r: dict[str, Any] | None) -> float | None:
    if not r or not r.get("consumer_cpu_s"):
        return None
    cpu = sum(r["consumer_cpu_s"])
    return round(r.get("arrived", 0) / cpu, 1) if cpu else None


def render(res: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    m = res["machine"]
    add(f"newsfeed benchmarks  {m['when']}  commit {m['commit']}")
    add(f"machine: {m['cores']} cores ({m['cores_usable']} usable), {m['cpu']}, {m['mem_gib']} GiB; load average "
        f"{m['loadavg_start']} at start, {m.get('loadavg_end')} at end")  # fmt: skip
    add(f"python {m['python']}, kafka {m['kafka']} ({m['broker']}), faust-streaming {m['versions']['faust-streaming']}, "
        f"aiokafka {m['versions']['aiokafka']}, rocksdict {m['versions']['rocksdict']}")  # fmt: skip
    if m["newsfeed_env"]:
        add(f"NEWSFEED_* overrides: {m['newsfeed_env']}")
    add("note: a load average above the core count means other processes shared the CPUs; wall-clock rates then")
    add(
        "      understate the code, and the 'per CPU-second' figures (CPU time of the consumer processes) are steadier."
    )
    add("")
    off = res.get("offline") or {}
    add(
        "1. offline pipeline (one process, dict state), " + str(off.get("items", "?")) + " items of dedupe-stream.jsonl"
    )
    if "error" in off or "skipped" in off:
        add(f"   {off}")
    else:
        r = off["items_per_s_median"]
        add(f"   {r:,.0f} items/s wall (best {off['items_per_s_best']:,.0f}), {off['items_per_cpu_s_median']:,.0f} items "
            f"per CPU-second   target >= 2,500: {_ok(r, 2500)} (per CPU-s: {_ok(off['items_per_cpu_s_median'], 2500)})")  # fmt: skip
        add(f"   {'stage':<22}{'median µs':>10}{'p99 µs':>10}{'mean µs':>10}")
        for name, q in off["stages"].items():
            add(f"   {name:<22}{q['median_us']:>10.1f}{q['p99_us']:>10.1f}{q['mean_us']:>10.1f}")
        for name, q in off["serialization"].items():
            add(f"   {name + ' *':<22}{q['median_us']:>10.1f}{q['p99_us']:>10.1f}{q['mean_us']:>10.1f}")
        add(f"   * worker-only costs (internal topic format, output encoding); raw item {off['raw_bytes_mean']} B, "
            f"prepared record {off['prepared_bytes_mean']} B on average")  # fmt: skip
    add("")
    add(f"2. end to end, one consumer process, {res['config']['items']:,} items (dev stream repeated, fresh ids), "
        "first produce -> last arrival")  # fmt: skip
    worker = res.get("worker")
    for name, label in (
        ("raw", "raw aiokafka loop"),
        ("faust", "forward-only Faust agent"),
        ("worker", "newsfeed worker"),
    ):
        r = res.get(name) or {}
        if "items_per_s" not in r:
            add(f"   {label:<26} {r}")
            continue
        add(f"   {label:<26} {r['items_per_s']:>8,.0f} items/s  ({r['arrived']}/{r['items']} in {r['elapsed_s']} s, produce "
            f"{r['produce_s']} s; {_cpu_rate(r) or 0:,} items per consumer CPU-s; load {r['load_before'][0]}->{r['load_after'][0]})")  # fmt: skip
    wr = _rate(worker)
    for name, label in (("raw", "raw aiokafka loop"), ("faust", "forward-only Faust agent")):
        other = _rate(res.get(name))
        if wr and other:
            cpu_ratio = ""
            if _cpu_rate(worker) and _cpu_rate(res.get(name)):
                cpu_ratio = f", per CPU-s {_cpu_rate(worker) / _cpu_rate(res.get(name)):.2f}x"  # type: ignore[operator]
            add(f"   pipeline / {label}: {wr / other:.2f}x{cpu_ratio}")
    if worker and _cpu_rate(worker):
        add(f"   worker CPU per item: {1000 / _cpu_rate(worker):.2f} ms (offline stages alone: "
            f"{1000 / off['items_per_cpu_s_median']:.2f} ms)" if off.get("items_per_cpu_s_median") else "")  # fmt: skip
    if worker and "messages_per_item" in worker:
        add(f"   messages written per item by the worker, by topic: {worker['messages_per_item']}")
    if worker and worker.get("complete") is False:
        add("   (INCOMPLETE: the run hit its time cap; the rate is over what did arrive)")
    if worker and "by_topic" in worker:
        add(f"   outputs by topic: {worker['by_topic']}; worker RSS {worker['rss_kib_ready'][0] // 1024} MiB ready -> "
            f"{worker['rss_kib_after'][0] // 1024} MiB after")  # fmt: skip
    add(f"   target >= 1,500 items/s: {_ok(wr, 1500)}")
    lat = res.get("latency") or {}
    if "latency" in lat:
        q = lat["latency"]
        add(f"   latency produce -> search at {lat['rate']:.0f} items/s for {lat['seconds']:.0f} s (unique fresh items, "
            f"{lat['on_search']}/{lat['items']} on search): p50 {q.get('p50_ms')} ms, p90 {q.get('p90_ms')} ms, "
            f"p99 {q.get('p99_ms')} ms, max {q.get('max_ms')} ms   target p99 <= 500 ms: {_ok(q.get('p99_ms'), 500, False)}")  # fmt: skip
        if q.get("p50_ms", 0) > 2000:
            add("   (p50 in seconds: the worker does not keep up with this rate of unique items, a backlog builds up;"
                " see the per-item CPU above)")  # fmt: skip
        if lat.get("producer_behind_s", 0) > 0.5:
            add(f"   (the producer fell {lat['producer_behind_s']} s behind the schedule: the rate was not held)")
    else:
        add(f"   latency: {lat}")
    add("")
    sc = res.get("scaling") or {}
    add("3. scaling: two worker processes, one consumer group, raw has 4 partitions")
    if "items_per_s" in sc:
        add(_scaling_line(sc, wr))
        add(f"   CPU-s per worker process: {sc['consumer_cpu_s']} (the dedupe stage has one partition "
            "(NEWSFEED_DEDUPE_PARTITIONS=1): only one worker runs it)")  # fmt: skip
    else:
        add(f"   {sc}")
    sr = res.get("scaling_roles") or {}
    add("   split roles: one intake worker (all raw partitions) and one dedupe worker (NEWSFEED_WORKER_ROLE)")
    if "items_per_s" in sr:
        add(_scaling_line(sr, wr))
        add(f"   CPU-s per worker process (intake, dedupe): {sr['consumer_cpu_s']}")
    else:
        add(f"   {sr}")
    add("")
    mem = res.get("memory") or {}
    ded = res.get("dedupe") or {}
    add("4. memory")
    if "rss_kib_after" in mem:
        add(f"   worker RSS after {mem['arrived']:,} items (synthetic 6-day stream, ~75% new stories; {mem['elapsed_s']} s, "
            f"{mem['items_per_s']:,.0f} items/s{'' if mem['complete'] else ', INCOMPLETE: budget ran out'}): "
            f"{mem['rss_kib_after'][0] / 1024:,.0f} MiB (ready: {mem['rss_kib_ready'][0] / 1024:,.0f} MiB, peak "
            f"{mem['rss_kib_peak'][0] / 1024:,.0f} MiB); RocksDB state on disk {mem['state_dir_bytes'] / 2**20:,.0f} MiB")  # fmt: skip
        if not mem["complete"]:
            add("   (for the full 100,000: BENCH_SKIP=offline,raw,faust,worker,latency,scaling,scaling_roles,fetchwait,dedupe "
                "BENCH_BUDGET_S=3600 BENCH_TIMEOUT=3900 make bench)")  # fmt: skip
    else:
        add(f"   worker RSS: {mem}")
    if "bytes_per_item" in ded:
        add(f"   dedupe index: {ded['bytes_per_item']} bytes per item held at {ded['items_held']:,} items "
            f"(items store {ded['items_store_bytes_per_item']}, bands store {ded['bands_store_bytes_per_item']}; "
            "keys + values, bench/dedupe_bench.py)")  # fmt: skip
    else:
        add(f"   dedupe index: {ded}")
    fw = res.get("fetchwait") or {}
    if "1500" in fw:
        add("")
        add("fetch wait: forward-only Faust agent, 20 items/s over 4 partitions, produce -> arrival")
        for wait in ("1500", "100"):
            r = fw[wait]
            q = r.get("latency", {})
            add(f"   fetch_max_wait_ms={wait:>5}: p50 {q.get('p50_ms')} ms, p99 {q.get('p99_ms')} ms, max {q.get('max_ms')} ms "
                f"({r.get('arrived')}/{r.get('items')} arrived)")  # fmt: skip
    add("")
    add("phase seconds: " + ", ".join(f"{k} {v.get('phase_s')}" for k, v in res.items()
                                        if isinstance(v, dict) and "phase_s" in v))  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    started = time.monotonic()
    try:
        results = run_all()
    finally:
        e2e.kill_leftovers()
    results["total_s"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = render(results)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (RESULTS / "latest.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    (RESULTS / f"run-{stamp}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    (RESULTS / "latest.txt").write_text(text + "\n")
    print(text)
    print(f"\n(total {results['total_s']} s; JSON: {RESULTS / 'latest.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
