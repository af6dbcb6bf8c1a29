# ruff: noqa: E501
"""``make bench``: run every benchmark once, print the figures, write bench/results/latest.json.

usage: python bench/report.py          (scripts/bench.sh starts the broker and sets BENCH_BROKER)
environment (all optional):
  BENCH_BROKER            kafka://127.0.0.1:19292
  BENCH_ITEMS             items of each sustained run (20000)
  BENCH_REPEATS           runs of each throughput, latency and two-worker figure (3): median and spread reported
  BENCH_LATENCY_RATE      items/s of the latency run (200)     BENCH_LATENCY_SECONDS (20)
  BENCH_MEMORY_ITEMS      items through the worker before reading its RSS and state size (100000)
  BENCH_BUDGET_S          the whole run's time budget in seconds (900); the memory run gets what is left
  BENCH_SKIP              comma-separated phases to skip (default: fetchwait,dedupe): offline,raw,throughput,
                          copyheavy,latency,scaling,scaling_roles,fetchwait,dedupe,memory
The headline stream is bench/streams.py's realistic one (real dev-corpus text, fresh ids, ~75% new stories); the
forward-only Faust agent and the worker run on it alternately, BENCH_REPEATS times each, so the CPU-per-item ratio
comes from the same run. The copy-heavy stream (the dedupe dev stream repeated, ~90% exact copies) is reported
beside it.
Phases that fail are reported as errors; the others still run. Progress goes to standard error.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
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
PROGRESS = RESULTS / "progress.json"
TARGETS = {
    "offline_items_per_s": 3500,
    "worker_cpu_ms_per_item": 0.55,
    "worker_over_forward_agent": 2.5,
    "latency_p99_ms": 150,
    "scaling": 1.5,
}  # issue 16


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
    RESULTS.mkdir(parents=True, exist_ok=True)  # what is done so far survives a run cut short (its timeout)
    PROGRESS.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    return value


def _repeat(results: dict[str, Any], name: str, skip: set[str], runs: list[tuple[str, Any]]) -> None:
    """Run each (label, fn) pair in order -- alternating targets share the same machine state -- and keep each
    label's runs with their median and spread."""
    if name in skip:
        results[name] = {"skipped": True}
        return

    def body() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label, fn in runs:
            print(f"   {name}/{label} run {len(out.get(label, {}).get('runs', [])) + 1} (load {e2e.loadavg()})",
                  file=sys.stderr, flush=True)  # fmt: skip
            out.setdefault(label, {"runs": []})["runs"].append(fn())
        return {label: summary | spread(summary["runs"]) for label, summary in out.items()}

    _phase(results, name, set(), body)


def _median_run(runs: list[dict[str, Any]], figure: Any) -> dict[str, Any]:
    """The run whose ``figure(run)`` is the median (the lower middle of an even count), with every run's figure
    under ``runs_figure``: a noisy figure (a p99, a two-worker rate) is read as the median of several runs."""
    values = [figure(run) for run in runs]
    scored = sorted((value, at) for at, value in enumerate(values) if value is not None)
    middle = scored[(len(scored) - 1) // 2][1] if scored else len(runs) - 1
    return runs[middle] | {"runs_figure": values}


def spread(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median, min and max of items/s and CPU ms per item over complete runs (all runs if none is complete)."""
    good = [r for r in runs if r.get("complete") and "items_per_s" in r] or [r for r in runs if "items_per_s" in r]
    out: dict[str, Any] = {"complete_runs": sum(1 for r in runs if r.get("complete")), "n_runs": len(runs)}
    for key in ("items_per_s", "cpu_ms_per_item"):
        values = [float(r[key]) for r in good]
        if values:
            out[key] = {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
                        "max": round(max(values), 2), "values": values}  # fmt: skip
    return out


def run_all() -> dict[str, Any]:
    budget_end = time.monotonic() + _env_int("BENCH_BUDGET_S", 900)
    skip = {s.strip() for s in os.environ.get("BENCH_SKIP", "fetchwait,dedupe").split(",") if s.strip()}
    items = _env_int("BENCH_ITEMS", 20_000)
    repeats = _env_int("BENCH_REPEATS", 3)
    rate = float(os.environ.get("BENCH_LATENCY_RATE", "200"))
    lat_s = float(os.environ.get("BENCH_LATENCY_SECONDS", "20"))
    mem_items = _env_int("BENCH_MEMORY_ITEMS", 100_000)
    results: dict[str, Any] = {"machine": machine(), "config": {"items": items, "repeats": repeats, "latency_rate": rate,
                               "latency_seconds": lat_s, "memory_items": mem_items}}  # fmt: skip

    def cap(share: float) -> float:
        # a worker run may use this share of what is left of the budget (the rest is kept for later phases);
        # when it runs out, the run stops and reports the rate over what did arrive, marked incomplete
        return max(60.0, (budget_end - time.monotonic()) * share)

    realistic = e2e.realistic_payloads(items)
    copyheavy = e2e.stream_payloads(items)

    def offline_runs() -> dict[str, Any]:
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as handle:
            for _, value in realistic[:3000]:
                handle.write(value + b"\n")
        try:
            return {"realistic": offline.run(handle.name), "dev_stream": offline.run(str(offline.DEFAULT_STREAM))}
        finally:
            Path(handle.name).unlink()

    _phase(results, "offline", skip, offline_runs)
    _phase(results, "raw", skip, lambda: asyncio.run(e2e.sustained("raw", realistic)))
    pair = [("faust", lambda: asyncio.run(e2e.sustained("faust", realistic))),
            ("worker", lambda: asyncio.run(e2e.sustained("worker", realistic, sample_rss=True, timeout=cap(0.1))))]  # fmt: skip
    _repeat(results, "throughput", skip, pair * repeats)
    _repeat(results, "copyheavy", skip,
            [("worker", lambda: asyncio.run(e2e.sustained("worker", copyheavy, timeout=cap(0.15))))] * repeats)  # fmt: skip
    _phase(results, "latency", skip, lambda: _median_run(
        [asyncio.run(e2e.latency("worker", rate=rate, seconds=lat_s)) for _ in range(repeats)],
        lambda run: run.get("latency", {}).get("p99_ms")))  # fmt: skip
    _phase(results, "scaling", skip, lambda: _median_run(
        [asyncio.run(e2e.sustained("worker", realistic, workers=2, timeout=cap(0.12))) for _ in range(repeats)],
        lambda run: run.get("items_per_s") if run.get("complete") else None))  # fmt: skip
    _phase(results, "scaling_roles", skip,
           lambda: asyncio.run(e2e.sustained("worker", realistic, roles=["intake", "dedupe"], timeout=cap(0.25))))  # fmt: skip

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
        payloads = e2e.realistic_payloads(mem_items, seed=2)
        # leave ~40 s for start-up and teardown; an incomplete run reports RSS after what did arrive
        out = asyncio.run(e2e.sustained("worker", payloads, sample_rss=True, timeout=max(60.0, left - 40)))
        # the stream spans less than the dedupe window, so every decided item is held by the index
        out["items_held"] = out["by_topic"].get("search", 0) + out["by_topic"].get("duplicates", 0)
        return out

    _phase(results, "memory", skip, mem)
    results["machine"]["loadavg_end"] = e2e.loadavg()
    return results


# --------------------------------------------------------------------------------------------- printing


def _scaling_line(run: dict[str, Any], one_worker: float | None) -> str:
    """A scaling run's rate and its ratio to one worker's median, against the 1.5x target."""
    ratio = run["items_per_s"] / one_worker if one_worker else None
    times = "no one-worker rate to compare" if ratio is None else f"{ratio:.2f}x one worker's median"
    return (f"   {run['items_per_s']:,.0f} items/s ({run['arrived']}/{run['items']} in {run['elapsed_s']} s; load "
            f"{run['load_before'][0]}->{run['load_after'][0]}) = {times}   target >= 1.5x: {_ok(ratio, 1.5)}")  # fmt: skip


def _spread_text(values: list[float], unit: str) -> str:
    """``median [min-max] (each run in order)``."""
    shown = ", ".join(f"{v:,.1f}" for v in values)
    return f"{statistics.median(values):,.1f}{unit} [{min(values):,.1f}-{max(values):,.1f}] ({shown})"


def _ok(value: float | None, target: float, higher: bool = True) -> str:
    if value is None:
        return "n/a"
    return "MEETS" if (value >= target if higher else value <= target) else "MISSES"


def _median(summary: dict[str, Any] | None, key: str) -> float | None:
    if not summary or key not in summary:
        return None
    return float(summary[key]["median"])


def _figure(label: str, summary: dict[str, Any] | None) -> str:
    """One throughput figure: median [min-max] of items/s and of CPU ms per item over the runs."""
    if not summary or "items_per_s" not in summary:
        return f"   {label:<28} {summary}"
    rate, cpu = summary["items_per_s"], summary["cpu_ms_per_item"]
    loads = "/".join(str(r.get("load_before", ["?"])[0]) for r in summary["runs"])
    note = (
        ""
        if summary["complete_runs"] == summary["n_runs"]
        else f"  INCOMPLETE runs: {summary['n_runs'] - summary['complete_runs']}"
    )
    return (f"   {label:<28} CPU {cpu['median']:.3f} ms/item [{cpu['min']:.3f}-{cpu['max']:.3f}]   "
            f"{rate['median']:>7,.0f} items/s [{rate['min']:,.0f}-{rate['max']:,.0f}]   load at start {loads}{note}")  # fmt: skip


def _pair_ratios(runs: dict[str, Any]) -> list[float]:
    """Worker CPU per item over the forward agent's, run by run (each pair ran back to back)."""
    faust = runs.get("faust", {}).get("runs", [])
    worker = runs.get("worker", {}).get("runs", [])
    return [round(w["cpu_ms_per_item"] / f["cpu_ms_per_item"], 2) for f, w in zip(faust, worker, strict=False)
            if f.get("cpu_ms_per_item") and w.get("cpu_ms_per_item")]  # fmt: skip


def _offline_lines(add: Any, off: dict[str, Any], name: str, target: float | None) -> None:
    r = off["items_per_s_median"]
    aim = (
        f"   target >= {target:,.0f}: {_ok(r, target)} (per CPU-s: {_ok(off['items_per_cpu_s_median'], target)})"
        if target
        else ""
    )
    add(f"   {name}, {off['items']} items: {r:,.0f} items/s wall (best {off['items_per_s_best']:,.0f}), "
        f"{off['items_per_cpu_s_median']:,.0f} items per CPU-second{aim}")  # fmt: skip


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
    add("      understate the code; CPU per item (CPU time of the consumer processes) is the steadier, main figure.")
    add("")
    off = res.get("offline") or {}
    add("1. offline pipeline (one process, dict state)")
    if "realistic" not in off:
        add(f"   {off}")
    else:
        _offline_lines(add, off["realistic"], "realistic stream (bench/streams.py)", 3500)
        _offline_lines(add, off["dev_stream"], "dedupe-stream.jsonl", None)
        real = off["realistic"]
        add(f"   {'stage (realistic)':<22}{'median µs':>10}{'p99 µs':>10}{'mean µs':>10}")
        for name, q in real["stages"].items():
            add(f"   {name:<22}{q['median_us']:>10.1f}{q['p99_us']:>10.1f}{q['mean_us']:>10.1f}")
        for name, q in real["serialization"].items():
            add(f"   {name + ' *':<22}{q['median_us']:>10.1f}{q['p99_us']:>10.1f}{q['mean_us']:>10.1f}")
        add(f"   * worker-only costs (internal topic format, output encoding); raw item {real['raw_bytes_mean']} B, "
            f"prepared record {real['prepared_bytes_mean']} B on average")  # fmt: skip
    add("")
    cfg = res["config"]
    add(
        f"2. end to end, one consumer process, {cfg['items']:,} items per run, {cfg['repeats']} runs each: median [min-max]"
    )
    add("   realistic stream (real dev-corpus text, fresh ids, ~75% new stories, ~25% syndication copies); the forward")
    add("   agent and the worker ran alternately. CPU per item = consumer CPU time / items out.")
    thr = res.get("throughput") or {}
    raw = res.get("raw") or {}
    if "items_per_s" in raw:
        add(f"   {'raw aiokafka loop (1 run)':<28} CPU {raw['cpu_ms_per_item']:.3f} ms/item            "
            f"{raw['items_per_s']:>7,.0f} items/s")  # fmt: skip
    add(_figure("forward-only Faust agent", thr.get("faust")))
    add(_figure("newsfeed worker", thr.get("worker")))
    worker_cpu, faust_cpu = _median(thr.get("worker"), "cpu_ms_per_item"), _median(thr.get("faust"), "cpu_ms_per_item")
    ratios = _pair_ratios(thr)
    if worker_cpu and faust_cpu:
        add(f"   worker / forward agent, CPU per item: {worker_cpu / faust_cpu:.2f}x (medians); run by run {ratios}"
            f"   target <= 2.5x: {_ok(worker_cpu / faust_cpu, 2.5, False)}")  # fmt: skip
    add(f"   worker CPU per item target <= 0.55 ms: {_ok(worker_cpu, 0.55, False)};   items/s target >= 1,500: "
        f"{_ok(_median(thr.get('worker'), 'items_per_s'), 1500)}")  # fmt: skip
    last = (thr.get("worker") or {}).get("runs", [{}])[-1]
    if "messages_per_item" in last:
        add(f"   messages written per item by the worker, by topic: {last['messages_per_item']}")
    if "by_topic" in last:
        add(f"   outputs by topic (last run): {last['by_topic']}")
    heavy = (res.get("copyheavy") or {}).get("worker")
    add("   copy-heavy stream (dedupe-stream.jsonl repeated with fresh ids, ~90% exact copies):")
    add(_figure("newsfeed worker", heavy))
    heavy_cpu = _median(heavy, "cpu_ms_per_item")
    if heavy_cpu and faust_cpu:
        add(f"   copy-heavy worker / forward agent (realistic runs above), CPU per item: {heavy_cpu / faust_cpu:.2f}x")
    lat = res.get("latency") or {}
    if "latency" in lat:
        q = lat["latency"]
        p99s = [v for v in lat.get("runs_figure", [q.get("p99_ms")]) if v is not None]
        add(f"   latency produce -> search at {lat['rate']:.0f} items/s for {lat['seconds']:.0f} s (unique fresh items), "
            f"{len(p99s)} runs: p99 {_spread_text(p99s, ' ms')}   target p99 <= 150 ms: {_ok(q.get('p99_ms'), 150, False)}")  # fmt: skip
        add(f"   the median run ({lat['on_search']}/{lat['items']} on search): p50 {q.get('p50_ms')} ms, "
            f"p90 {q.get('p90_ms')} ms, p99 {q.get('p99_ms')} ms, max {q.get('max_ms')} ms")  # fmt: skip
        windows = ", ".join(f"{w['p50_ms']:.0f}/{w['p99_ms']:.0f}" for w in lat.get("windows_5s", []) if "p99_ms" in w)
        if windows:
            add(f"   by 5 s window sent in, p50/p99 ms: {windows}")
        if "idle_cpu_share" in lat:
            add(f"   the worker idle before the run: {100 * lat['idle_cpu_share']:.1f}% of a core")
        if lat.get("producer_behind_s", 0) > 0.5:
            add(f"   (the producer fell {lat['producer_behind_s']} s behind the schedule: the rate was not held)")
    else:
        add(f"   latency: {lat}")
    add("")
    one = _median(thr.get("worker"), "items_per_s")
    sc = res.get("scaling") or {}
    add("3. scaling on the realistic stream: two worker processes, one consumer group, raw has 4 partitions")
    rates = [v for v in sc.get("runs_figure", []) if v is not None]
    if rates and one:
        add(f"   {len(rates)} runs, items/s: {_spread_text(rates, '')}; the median run:")
    add(_scaling_line(sc, one) if "items_per_s" in sc else f"   {sc}")
    if "consumer_cpu_s" in sc:
        add(f"   CPU-s per worker process: {sc['consumer_cpu_s']}")
    sr = res.get("scaling_roles") or {}
    add("   split roles: one intake worker (all raw partitions) and one dedupe worker (NEWSFEED_WORKER_ROLE)")
    add(_scaling_line(sr, one) if "items_per_s" in sr else f"   {sr}")
    if "consumer_cpu_s" in sr:
        add(f"   CPU-s per worker process (intake, dedupe): {sr['consumer_cpu_s']}")
    add("")
    mem = res.get("memory") or {}
    add("4. memory, realistic stream (seed 2)")
    if "rss_kib_after" in mem:
        held = mem.get("items_held") or 0
        per_item = mem["state_dir_du_bytes"] / held if held else None
        add(f"   after {mem['arrived']:,} items ({mem['elapsed_s']} s, {mem['items_per_s']:,.0f} items/s, CPU "
            f"{mem['cpu_ms_per_item']} ms/item{'' if mem['complete'] else ', INCOMPLETE: budget ran out'}): worker RSS "
            f"{mem['rss_kib_after'][0] / 1024:,.0f} MiB (ready {mem['rss_kib_ready'][0] / 1024:,.0f}, peak "
            f"{mem['rss_kib_peak'][0] / 1024:,.0f} MiB)")  # fmt: skip
        if per_item is not None:
            add(f"   worker data dir (RocksDB tables), du: {mem['state_dir_du_bytes'] / 2**20:,.1f} MiB for {held:,} items "
                f"held = {per_item:,.0f} bytes per item (apparent size {mem['state_dir_bytes'] / held:,.0f})"
                f"   target <= 2 KB per item: {_ok(per_item, 2048, False)}")  # fmt: skip
        if not mem["complete"]:
            add("   (for the full 100,000: BENCH_SKIP=offline,raw,throughput,copyheavy,latency,scaling,scaling_roles,fetchwait,"
                "dedupe BENCH_BUDGET_S=3600 BENCH_TIMEOUT=3900 make bench)")  # fmt: skip
    else:
        add(f"   worker RSS: {mem}")
    ded = res.get("dedupe") or {}
    if "bytes_per_item" in ded:
        add(
            f"   dedupe index estimate (keys + values in dicts, bench/dedupe_bench.py): {ded['bytes_per_item']} bytes per item"
        )
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
    PROGRESS.unlink(missing_ok=True)
    status = 0
    try:
        results = run_all()
    except SystemExit as stop:  # stopped (its timeout): the phases done are still reported
        status = int(stop.code or 1)
        results = orjson.loads(PROGRESS.read_bytes()) if PROGRESS.exists() else {}
        results["stopped_early"] = True
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
    return status


if __name__ == "__main__":
    raise SystemExit(main())
