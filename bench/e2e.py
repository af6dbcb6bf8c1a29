# ruff: noqa: E501, ASYNC109
"""End-to-end benchmarks through a real Kafka broker: sustained rate, latency at a fixed rate, scaling, memory.

usage:
  python bench/e2e.py throughput --target worker|faust|raw|rdkafka|rdkafka-stages [--workers N] [--items N]
                                 [--stream realistic|copyheavy|synthetic] [--synthetic] [--rss]
  python bench/e2e.py latency    --target worker|faust|raw|rdkafka|rdkafka-stages [--rate R] [--seconds S]
                                 [--fetch-wait MS] [--roles intake,dedupe] [--dump FILE]
  python bench/e2e.py memory     [--items N]
environment: BENCH_BROKER (kafka://127.0.0.1:19292); BENCH_KEEP_TOPICS=1 keeps each run's topics (deleted by default).
Targets: the worker, the forward-only Faust agent, a raw aiokafka loop, and (dev-only extra ``.[peer]``) a
librdkafka loop forwarding (``rdkafka``) or running the stages in one process (``rdkafka-stages``,
``bench/peer_rdkafka.py``).

Streams: ``realistic`` (the default) is bench/streams.py's: real text of the dev corpora with fresh ids, ~75% new
stories and ~25% syndication copies. ``copyheavy`` is the dedupe dev stream repeated with fresh ids (~90% exact
copies after its first pass: dedupe's cheapest path). ``synthetic`` (``--synthetic``) is bench/dedupe_bench.py's
six days of perturbed words.

Every run gets a fresh topic prefix and app id (so a fresh consumer group and fresh state), starts its
consumers as subprocesses, proves them assigned and running with one warm-up item per raw partition, then
measures. Sustained rate: all items produced as fast as possible; the time runs from the first produce to the
arrival of the last item on the output topics (search + duplicates + deadletter for the worker; the forward
topic for the comparisons). Latency: unique fresh items at a fixed rate, produce time to arrival on search, both
taken with the same monotonic clock in this process. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.admin import create_topics  # noqa: E402
from agents.app import bootstrap_servers  # noqa: E402
from agents.logs import configure_logging  # noqa: E402
from pipeline.decode import item_key  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

configure_logging("WARNING", "console")  # the service's own log lines (topics_created, ...) stay off stdout
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # topics just created: transient leader errors retry
PYTHON = sys.executable
NEWSFEED = str(Path(sys.executable).with_name("newsfeed"))
STREAM = ROOT.parent / "shared/data/dev/dedupe-stream.jsonl"
PARTITIONS = 4
PEERS = ("rdkafka", "rdkafka-stages")
"""Targets of the dev-only peer (``bench/peer_rdkafka.py``): a librdkafka loop forwarding, or running the stages."""
READY_TIMEOUT = 90.0
_LIVE: list[subprocess.Popen[bytes]] = []


def log(*parts: object) -> None:
    """Progress to standard error (standard output carries the results)."""
    print("  ..", *parts, file=sys.stderr, flush=True)


def broker_url() -> str:
    return os.environ.get("BENCH_BROKER", "kafka://127.0.0.1:19292")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def rss_kib(pid: int) -> int | None:
    """Resident memory of a process (VmRSS, KiB), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def quantiles_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1e3, 1)

    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered) * 1e3, 1), "p90_ms": q(0.90),
            "p99_ms": q(0.99), "max_ms": round(ordered[-1] * 1e3, 1)}  # fmt: skip


# --------------------------------------------------------------------------------------------- payloads


def _read_stream() -> list[dict[str, Any]]:
    with STREAM.open("rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]


def stream_payloads(count: int) -> list[tuple[bytes, bytes]]:
    """The dev stream repeated with fresh ids until ``count`` items: (key, value)."""
    items = _read_stream()
    out: list[tuple[bytes, bytes]] = []
    rep = 0
    while len(out) < count:
        for item in items:
            if len(out) >= count:
                break
            fresh = {**item, "id": f"{item['id']}~{rep}"}
            # Keyed as the worker keys its outputs (the id scoped by source), which is what arrivals are matched by.
            out.append((item_key(fresh["id"], fresh.get("source")).encode(), orjson.dumps(fresh)))
        rep += 1
    return out


class UniqueItems:
    """Fresh, unique news-like items: a dev-stream text with half of its words replaced, published now."""

    def __init__(self, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.texts = [item["body"] for item in _read_stream() if len(item["body"].split()) >= 40]
        self.vocab = sorted({w for text in self.texts[:800] for w in text.split() if w.isalpha()})

    def make(self, item_id: str, source: str | None = "bench") -> bytes:
        rng = self.rng
        words = [w if rng.random() < 0.5 else rng.choice(self.vocab) for w in rng.choice(self.texts).split()]
        paragraphs = [" ".join(words[i : i + 40]) for i in range(0, len(words), 40)]
        return orjson.dumps(
            {
                "id": item_id,
                "source": source,
                "title": " ".join(rng.choice(self.vocab) for _ in range(7)),
                "body": "\n\n".join(paragraphs),
                "published_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "language": "en",
            }
        )


def realistic_payloads(count: int, *, seed: int = 1, copy_share: float = 0.25) -> list[tuple[bytes, bytes]]:
    """``count`` items of bench/streams.py's realistic stream, published over the hours before now."""
    sys.path.insert(0, str(ROOT / "bench"))
    import streams  # noqa: PLC0415

    start = datetime.now(UTC) - timedelta(seconds=count * streams.SPACING_S)
    return streams.payloads(streams.Spec(items=count, seed=seed, copy_share=copy_share, start=start))


def payloads_for(stream: str, count: int) -> list[tuple[bytes, bytes]]:
    """The named stream's first ``count`` items (realistic, copyheavy or synthetic)."""
    if stream == "realistic":
        return realistic_payloads(count)
    if stream == "copyheavy":
        return stream_payloads(count)
    if stream == "synthetic":
        return synthetic_payloads(count)
    raise ValueError(stream)


def synthetic_payloads(count: int) -> list[tuple[bytes, bytes]]:
    """``count`` items over six days, ~75% new stories and ~25% copies (bench/dedupe_bench.py's generator)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import dedupe_bench  # noqa: PLC0415

    bases = [text for _, text, _ in dedupe_bench._stream(str(STREAM)) if len(text.split()) >= 20]  # noqa: SLF001
    out = []
    for item_id, text, when in dedupe_bench._synthetic(bases, count):  # noqa: SLF001
        value = {"id": item_id, "source": "bench", "body": text, "language": "en",
                 "published_at": when.isoformat().replace("+00:00", "Z")}  # fmt: skip
        out.append((item_key(item_id, "bench").encode(), orjson.dumps(value)))
    return out


# --------------------------------------------------------------------------------------------- targets


@dataclass
class Target:
    """The consumers under test (subprocesses), their input topic and the topics where items come out."""

    kind: str
    tag: str
    raw_topic: str
    out_topics: list[str]
    env: dict[str, str]
    workdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    web_ports: list[int] = field(default_factory=list)
    app_id: str = ""
    roles: list[str] | None = None

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]


def _base_env() -> dict[str, str]:
    # The caller's NEWSFEED_* tuning (e.g. NEWSFEED_PRODUCER_LINGER_MS) passes through; identity is ours.
    return {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH"}}


@contextlib.asynccontextmanager
async def _admin() -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client of the bench's broker, closed on the way out."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(Settings(broker=broker_url())))
    try:
        await admin.start()
        yield admin
    finally:
        await admin.close()


async def _run_topics(admin: AIOKafkaAdminClient, tag: str) -> list[str]:
    """A run's topics: every name holding its tag (its own and Faust's)."""
    return [t for t in await admin.list_topics() if tag in t]


async def _create(topics: dict[str, int]) -> None:
    async with _admin() as admin:
        await admin.create_topics([NewTopic(name, parts, 1) for name, parts in topics.items()])


def _spawn(target: Target, argv: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    logfile = (target.workdir / f"{name}.log").open("ab")
    proc = subprocess.Popen(argv, env=env, cwd=target.workdir, stdout=logfile, stderr=subprocess.STDOUT)
    logfile.close()
    target.procs.append(proc)
    _LIVE.append(proc)
    return proc


async def start_target(
    kind: str,
    *,
    workers: int = 1,
    fetch_wait_ms: int | None = None,
    extra_env: dict[str, str] | None = None,
    roles: list[str] | None = None,
) -> Target:
    """Create fresh topics and start the consumer(s) under test (``roles``: each worker's NEWSFEED_WORKER_ROLE)."""
    tag = f"{kind[:2]}{uuid.uuid4().hex[:8]}"
    prefix, app_id = f"bench{tag}", f"newsfeed-bench-{tag}"
    workdir = Path(tempfile.mkdtemp(prefix=f"newsfeed-bench-{tag}-"))
    env = _base_env() | (extra_env or {})
    if fetch_wait_ms is not None:
        env["NEWSFEED_FETCH_MAX_WAIT_MS"] = str(fetch_wait_ms)
        env["BENCH_FETCH_MAX_WAIT_MS"] = str(fetch_wait_ms)
    if kind == "worker":
        env |= {"NEWSFEED_BROKER": broker_url(), "NEWSFEED_TOPIC_PREFIX": prefix, "NEWSFEED_APP_ID": app_id,
                "NEWSFEED_RAW_PARTITIONS": str(PARTITIONS), "NEWSFEED_LOG_LEVEL": env.get("NEWSFEED_LOG_LEVEL", "WARNING"),
                "NEWSFEED_LOG_FORMAT": "json"}  # fmt: skip
        settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("NEWSFEED_")})
        await create_topics(settings)
        target = Target(kind, tag, settings.topic("raw"),
                        [settings.topic("search"), settings.topic("duplicates"), settings.topic("deadletter")],
                        env, workdir, app_id=app_id)  # fmt: skip
        target.roles = roles
        for n in range(workers):
            port = _free_port()
            wenv = env | {"NEWSFEED_WEB_PORT": str(port), "NEWSFEED_DATA_DIR": str(workdir / f"state-w{n}")}
            if roles:
                wenv["NEWSFEED_WORKER_ROLE"] = roles[n]
            target.web_ports.append(port)
            _spawn(target, [NEWSFEED, "worker"], wenv, f"worker{n}")
        return target
    raw_topic, out_topic = f"{prefix}.raw", f"{prefix}.forward"
    await _create({raw_topic: PARTITIONS, out_topic: PARTITIONS})
    env |= {"BENCH_BROKER": broker_url(), "BENCH_BOOTSTRAP": ",".join(bootstrap_servers(Settings(broker=broker_url()))),
            "BENCH_APP_ID": app_id, "BENCH_IN_TOPIC": raw_topic, "BENCH_OUT_TOPIC": out_topic,
            "PYTHONPATH": str(ROOT)}  # fmt: skip
    env.setdefault("NEWSFEED_FETCH_MAX_WAIT_MS", "100")
    # As the worker logs: Faust leaves the root logger at DEBUG (its handler filters), which costs the forward
    # agent 0.1-0.15 ms an item in debug records that the worker never builds.
    env.setdefault("BENCH_ROOT_LOG_LEVEL", "WARNING")
    target = Target(kind, tag, raw_topic, [out_topic], env, workdir, app_id=app_id)
    for n in range(workers):
        if kind == "faust":
            _spawn(target, [PYTHON, str(ROOT / "bench/forward_agent.py"), "worker", "-l", "warn",
                            "--without-web"], env, f"faust{n}")  # fmt: skip
        elif kind == "raw":
            _spawn(target, [PYTHON, str(ROOT / "bench/forward_raw.py")], env, f"raw{n}")
        elif kind in PEERS:  # the dev-only extra: pip install -e '.[peer]'
            peer_env = env | {"BENCH_PEER_STAGES": "1" if kind == "rdkafka-stages" else "0"}
            _spawn(target, [PYTHON, str(ROOT / "bench/peer_rdkafka.py")], peer_env, f"peer{n}")
        else:
            raise ValueError(kind)
    return target


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except Exception:  # noqa: BLE001 - 503, refused, timeout: not ready yet
        return False


async def _group_stable(app_id: str, members: int) -> bool:
    try:
        async with _admin() as admin:
            for description in await admin.describe_consumer_groups([app_id]):
                for group in description.groups:
                    if group[2] == "Stable" and len(group[5]) == members:
                        return True
        return False
    except Exception:  # noqa: BLE001 - coordinator not elected yet, group not created yet: not stable
        return False


def _check_alive(target: Target) -> None:
    for proc in target.procs:
        if proc.poll() is not None:
            logs = "".join(p.read_text(errors="replace")[-3000:] for p in target.workdir.glob("*.log"))
            raise RuntimeError(f"{target.kind} process {proc.pid} exited with {proc.returncode}:\n{logs}")


async def wait_ready(target: Target, tracker: Tracker, producer: AIOKafkaProducer) -> float:
    """Wait for health (worker), a stable group of all members, and one warm-up item through each partition."""
    started = time.monotonic()
    deadline = started + READY_TIMEOUT
    for port in target.web_ports:
        while not await asyncio.to_thread(_health, port):
            _check_alive(target)
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker on port {port} not healthy after {READY_TIMEOUT}s")
            await asyncio.sleep(0.3)
    roles = target.roles or ["all"] * len(target.procs)
    groups = {target.app_id: sum(r != "intake" for r in roles), f"{target.app_id}-intake": roles.count("intake")}
    for group, members in groups.items():
        while members and not await _group_stable(group, members):
            _check_alive(target)
            if time.monotonic() > deadline:
                raise TimeoutError(f"group {group} not stable with {members} members")
            await asyncio.sleep(0.3)
    unique = UniqueItems(seed=1)
    keys = [f"warmup-{p}" for p in range(PARTITIONS)]
    for p, key in enumerate(keys):
        # No source: the worker's key is the id itself, the key the forward-only agent keeps (a scoped key
        # "bench:warmup-0" was never awaited here, and each worker run waited out the 90 s deadline instead).
        await producer.send_and_wait(target.raw_topic, unique.make(key, None), key=key.encode(), partition=p)
    await tracker.wait_keys(set(keys), deadline - time.monotonic(), target)
    return time.monotonic() - started


async def stop_target(target: Target) -> None:
    for proc in target.procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in target.procs:
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)
        with contextlib.suppress(ValueError):
            _LIVE.remove(proc)
    shutil.rmtree(target.workdir, ignore_errors=True)
    if not os.environ.get("BENCH_KEEP_TOPICS"):
        await delete_topics(target.tag)


async def delete_topics(tag: str) -> None:
    """Delete a run's topics once its figures are taken.

    Left in place, a broker that serves bench after bench kept them all: after an afternoon, 6,570 partitions and
    19 GB, and the worker ran 10% slower on it than on a fresh broker. BENCH_KEEP_TOPICS=1 keeps them.
    """
    try:
        async with _admin() as admin:
            names = await _run_topics(admin, tag)
            if names:
                await admin.delete_topics(names)
    except Exception as error:  # noqa: BLE001 - the figures are taken; a topic left behind is no failure
        print(f"bench: could not delete the run's topics ({type(error).__name__}: {error})", file=sys.stderr)


def kill_leftovers() -> None:
    """At exit: stop any subprocess this module started and that still runs (by its own pid)."""
    for proc in list(_LIVE):
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(10)


# --------------------------------------------------------------------------------------------- measuring


class Tracker:
    """Reads the output topics from the beginning (no group) and notes when each key first arrives."""

    def __init__(self, topics: list[str]) -> None:
        self.consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap_servers(Settings(broker=broker_url())),
            auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=50,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )  # fmt: skip
        self.arrivals: dict[str, float] = {}
        self.topic_of: dict[str, str] = {}
        self.redelivered = 0
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._pump())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    async def _pump(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100, max_records=10_000)
            now = time.perf_counter()
            for tp, records in batch.items():
                for record in records:
                    key = record.key.decode() if record.key else f"<nokey {tp.topic} {record.offset}>"
                    if key in self.arrivals:
                        self.redelivered += 1
                        continue
                    self.arrivals[key] = now
                    self.topic_of[key] = tp.topic
            if batch:
                self.changed.set()

    async def wait_keys(self, keys: set[str], timeout: float, target: Target | None = None) -> bool:
        """Wait until every key arrived, at most ``timeout`` seconds; True if they all did."""
        deadline = time.monotonic() + max(0.0, timeout)
        while not keys.issubset(self.arrivals.keys()):
            if target is not None:
                _check_alive(target)
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
        return True


def _producer(linger_ms: int) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(Settings(broker=broker_url())), acks="all", linger_ms=linger_ms,
        max_request_size=16_000_000, max_batch_size=256 * 1024,
    )  # fmt: skip


async def _measured(kind: str, body: Any, *, workers: int = 1, fetch_wait_ms: int | None = None,
                    roles: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Start a target and a tracker, wait until ready, run ``body(target, tracker, producer)``, stop all."""
    target = await start_target(kind, workers=workers, fetch_wait_ms=fetch_wait_ms, roles=roles)
    tracker = Tracker(target.out_topics)
    producer = _producer(linger_ms=5)
    await tracker.start()
    await producer.start()
    try:
        ready_s = await wait_ready(target, tracker, producer)
        cpu0 = {pid: cpu_seconds(pid) for pid in target.pids()}
        load0 = loadavg()
        result = await body(target, tracker, producer)
        cpu = {pid: round((cpu_seconds(pid) or 0) - (cpu0[pid] or 0), 2) for pid in target.pids()}
        result |= {"target": kind, "workers": workers, "roles": roles, "ready_s": round(ready_s, 1), "load_before": load0,
                   "load_after": loadavg(), "consumer_cpu_s": list(cpu.values())}  # fmt: skip
        if fetch_wait_ms is not None:
            result["fetch_max_wait_ms"] = fetch_wait_ms
        return result
    finally:
        await producer.stop()
        await tracker.stop()
        await stop_target(target)


async def sustained(kind: str, payloads: list[tuple[bytes, bytes]], *, workers: int = 1,
                    sample_rss: bool = False, timeout: float | None = None,
                    roles: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Publish ``payloads`` as fast as possible; rate from the first produce to the last arrival."""

    async def body(target: Target, tracker: Tracker, producer: AIOKafkaProducer) -> dict[str, Any]:
        keys = {key.decode() for key, _ in payloads}
        rss0 = {pid: rss_kib(pid) for pid in target.pids()}
        peak = dict(rss0)
        sampling = True

        async def sample() -> None:
            while sampling:
                for pid in target.pids():
                    now = rss_kib(pid) or 0
                    peak[pid] = max(peak[pid] or 0, now)
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample()) if sample_rss else None
        cpu0 = sum(cpu_seconds(pid) or 0.0 for pid in target.pids())
        started = time.perf_counter()
        futures = [await producer.send(target.raw_topic, value, key=key) for key, value in payloads]
        await asyncio.gather(*futures)
        produced = time.perf_counter() - started
        # by default assume at least 100 items/s; a slower run stops there and is reported incomplete
        limit = timeout if timeout is not None else 60 + len(payloads) / 100
        complete = await tracker.wait_keys(keys, limit - (time.perf_counter() - started), target)
        arrived = [tracker.arrivals[k] for k in keys if k in tracker.arrivals]
        last = max(arrived) if arrived else time.perf_counter()
        elapsed = last - started
        cpu = sum(cpu_seconds(pid) or 0.0 for pid in target.pids()) - cpu0
        out: dict[str, Any] = {
            "items": len(payloads), "arrived": len(arrived), "complete": complete,
            "produce_s": round(produced, 2), "elapsed_s": round(elapsed, 2),
            "items_per_s": round(len(arrived) / elapsed, 1) if elapsed > 0 else 0.0,
            "cpu_ms_per_item": round(1000 * cpu / max(1, len(arrived)), 2),
            "by_topic": dict(Counter(tracker.topic_of[k].rsplit(".", 1)[-1] for k in keys if k in tracker.topic_of)),
            "redelivered": tracker.redelivered,
        }  # fmt: skip
        if kind == "worker":
            counts = await topic_counts(target.tag)
            out["messages_per_item"] = {t.split(target.tag, 1)[-1].lstrip(".-"): round(n / len(payloads), 2)
                                        for t, n in sorted(counts.items()) if n}  # fmt: skip
        if sample_rss:
            sampling = False
            if sampler:
                await sampler
            out["rss_kib_ready"] = list(rss0.values())
            out["rss_kib_after"] = [rss_kib(pid) for pid in target.pids()]
            out["rss_kib_peak"] = list(peak.values())
            out |= state_dir_usage(target.workdir)
        return out

    return await _measured(kind, body, workers=len(roles) if roles else workers, roles=roles)


def state_dir_usage(workdir: Path) -> dict[str, Any]:
    """Bytes under the workers' data directories (``state-w*``): apparent sizes, and disk usage as ``du`` counts
    it (allocated blocks), in all and per worker."""
    apparent, disk, per_worker = 0, 0, []
    for state in sorted(workdir.glob("state-*")):
        used = 0
        for f in state.rglob("*"):
            if f.is_file():
                st = f.lstat()
                apparent += st.st_size
                used += st.st_blocks * 512
        disk += used
        per_worker.append(used)
    return {"state_dir_bytes": apparent, "state_dir_du_bytes": disk, "state_dir_du_bytes_per_worker": per_worker}


async def latency(kind: str, *, rate: float = 200.0, seconds: float = 20.0, fetch_wait_ms: int | None = None,
                  skip_s: float = 1.0, roles: list[str] | None = None, dump: Path | None = None) -> dict[str, Any]:  # fmt: skip
    """Unique fresh items at a fixed rate; produce time to arrival on search (or the forward topic).

    ``roles``: one worker process per role (e.g. intake and dedupe), instead of one worker doing both.
    ``dump``: write every item's ``[seconds after the first send, latency in seconds]`` there, in send order.
    """
    unique = UniqueItems(seed=5)
    count = int(rate * seconds)
    tag = uuid.uuid4().hex[:6]
    payloads = [(f"lat-{tag}-{i}", unique.make(f"lat-{tag}-{i}", None)) for i in range(count)]  # key = id: no source

    async def body(target: Target, tracker: Tracker, _: AIOKafkaProducer) -> dict[str, Any]:
        # What the consumers cost with nothing to do: 5 s after warm-up, before the first item.
        idle0, idle_t0 = sum(cpu_seconds(pid) or 0.0 for pid in target.pids()), time.perf_counter()
        await asyncio.sleep(5.0)
        idle_cpu = (sum(cpu_seconds(pid) or 0.0 for pid in target.pids()) - idle0) / (time.perf_counter() - idle_t0)
        producer = _producer(linger_ms=0)
        await producer.start()
        sent: dict[str, float] = {}
        try:
            started = time.perf_counter()
            for i, (key, value) in enumerate(payloads):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent[key] = time.perf_counter()
                await producer.send(target.raw_topic, value, key=key.encode())
            await producer.flush()
            behind = time.perf_counter() - (started + count / rate)
        finally:
            await producer.stop()
        complete = await tracker.wait_keys(set(sent), 60.0, target)
        wanted = target.out_topics[0]  # search for the worker, the forward topic otherwise
        took = {k: tracker.arrivals[k] - at for k, at in sent.items()
                if k in tracker.arrivals and tracker.topic_of[k] == wanted}  # fmt: skip
        lat = [took[k] for k in took if sent[k] - started >= skip_s]
        if dump is not None:  # to find what a spike in the tail lines up with
            await asyncio.to_thread(dump.write_bytes, orjson.dumps(sorted((sent[k] - started, took[k]) for k in took)))
        windows: dict[int, list[float]] = {}  # by the 5 s window each item was sent in: does latency grow?
        for k, seconds_taken in took.items():
            windows.setdefault(int((sent[k] - started) // 5) * 5, []).append(seconds_taken)
        return {"rate": rate, "seconds": seconds, "items": count, "complete": complete,
                "arrived": sum(k in tracker.arrivals for k in sent),
                "on_search": sum(tracker.topic_of.get(k) == wanted for k in sent),
                "producer_behind_s": round(behind, 2), "idle_cpu_share": round(idle_cpu, 3), "latency": quantiles_ms(lat),
                "windows_5s": [{"from_s": at, "p50_ms": (q := quantiles_ms(samples))["p50_ms"], "p99_ms": q["p99_ms"]}
                               for at, samples in sorted(windows.items())],
                }  # fmt: skip

    return await _measured(kind, body, fetch_wait_ms=fetch_wait_ms, workers=len(roles) if roles else 1, roles=roles)


async def topic_counts(tag: str) -> dict[str, int]:
    """Messages written to each topic of a run (sum of end offsets), to count produce calls per item."""
    async with _admin() as admin:
        names = await _run_topics(admin, tag)
    consumer = AIOKafkaConsumer(*names, bootstrap_servers=bootstrap_servers(Settings(broker=broker_url())))
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in names for p in (consumer.partitions_for_topic(t) or ())]
        ends = await consumer.end_offsets(parts) if parts else {}
        out: dict[str, int] = {}
        for tp, end in ends.items():
            out[tp.topic] = out.get(tp.topic, 0) + end
        return out
    finally:
        await consumer.stop()


async def profile(kind: str, payloads: list[tuple[bytes, bytes]], *, out: Path, rate: int = 100,
                  timeout: float = 300.0) -> dict[str, Any]:  # fmt: skip
    """py-spy records the (first) consumer process over the whole sustained run of ``payloads``."""

    async def body(target: Target, tracker: Tracker, producer: AIOKafkaProducer) -> dict[str, Any]:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [spy, "record", "--pid", str(target.procs[0].pid), "--rate", str(rate), "--format", "raw",
               "--nonblocking", "--output", str(out)]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)  # fmt: skip
        await asyncio.sleep(1.0)
        cpu0 = cpu_seconds(target.procs[0].pid) or 0.0
        t0 = time.perf_counter()
        futures = [await producer.send(target.raw_topic, value, key=key) for key, value in payloads]
        await asyncio.gather(*futures)
        keys = {k.decode() for k, _ in payloads}
        complete = await tracker.wait_keys(keys, timeout, target)
        elapsed = time.perf_counter() - t0
        cpu = (cpu_seconds(target.procs[0].pid) or 0.0) - cpu0
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        done = sum(k in tracker.arrivals for k in keys)
        return {"profile": str(out), "py_spy_rc": proc.returncode, "py_spy_err": err.decode()[-300:],
                "complete": complete, "items": done, "items_per_s": round(done / elapsed, 1),
                "cpu_s": round(cpu, 2), "cpu_ms_per_item": round(1000 * cpu / max(1, done), 2),
                "messages_by_topic": await topic_counts(target.tag)}  # fmt: skip

    return await _measured(kind, body)


# --------------------------------------------------------------------------------------------- CLI


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--target", default="worker", choices=["worker", "faust", "raw", *PEERS])
    t.add_argument("--workers", type=int, default=1)
    t.add_argument("--roles", default=None, help="comma-separated worker roles, e.g. intake,dedupe")
    t.add_argument("--items", type=int, default=20_000)
    t.add_argument("--stream", default="realistic", choices=["realistic", "copyheavy", "synthetic"])
    t.add_argument("--synthetic", action="store_true", help="same as --stream synthetic")
    t.add_argument("--rss", action="store_true")
    t.add_argument("--timeout", type=float, default=None, help="seconds to wait for all items (60 + items/100)")
    lat = sub.add_parser("latency")
    lat.add_argument("--target", default="worker", choices=["worker", "faust", "raw", *PEERS])
    lat.add_argument("--rate", type=float, default=200.0)
    lat.add_argument("--seconds", type=float, default=20.0)
    lat.add_argument("--fetch-wait", type=int, default=None)
    lat.add_argument("--roles", default=None, help="comma-separated worker roles, e.g. intake,dedupe")
    lat.add_argument("--dump", default=None, help="write [sent at, latency] of every item here (JSON)")
    prof = sub.add_parser("profile")
    prof.add_argument("--target", default="worker", choices=["worker", "faust", "raw", *PEERS])
    prof.add_argument("--items", type=int, default=20_000)
    prof.add_argument("--stream", default="realistic", choices=["realistic", "copyheavy", "synthetic"])
    prof.add_argument("--synthetic", action="store_true", help="same as --stream synthetic")
    prof.add_argument("--seconds", type=float, default=30.0)
    prof.add_argument("--out", default=str(ROOT / "bench/results/profile-worker.txt"))
    args = parser.parse_args()
    try:
        if args.mode == "throughput":
            stream = "synthetic" if args.synthetic else args.stream
            payloads = payloads_for(stream, args.items)
            roles = args.roles.split(",") if args.roles else None
            result = asyncio.run(sustained(args.target, payloads, workers=args.workers, sample_rss=args.rss,
                                           roles=roles, timeout=args.timeout))  # fmt: skip
            result["stream"] = stream
        elif args.mode == "profile":
            payloads = payloads_for("synthetic" if args.synthetic else args.stream, args.items)
            result = asyncio.run(profile(args.target, payloads, out=Path(args.out)))
        else:
            result = asyncio.run(
                latency(
                    args.target,
                    rate=args.rate,
                    seconds=args.seconds,
                    fetch_wait_ms=args.fetch_wait,
                    roles=args.roles.split(",") if args.roles else None,
                    dump=Path(args.dump) if args.dump else None,
                )
            )
    finally:
        kill_leftovers()
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


def payload_iter(payloads: list[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    yield from payloads


if __name__ == "__main__":
    main()
