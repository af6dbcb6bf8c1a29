"""The chaos run: a long stream through two workers while workers die, the broker stops and outputs are refused.

``make chaos`` runs the full plan (100,000 items, 10 SIGKILLs, a 60 s broker stop, one episode of refused
outputs, a worker added mid-run); ``tests/integration/test_chaos.py`` runs a short one inside ``make test``.
After the stream goes quiet every output topic is read to its end offsets, and the run is judged:

- lost: input items on no output topic (must be 0; bad input is matched by its original bytes);
- on two topics: ids that reached more than one of search, duplicates and dead letter (must be 0);
- decided twice: ids given two different decisions (must be 0);
- repeated identical outputs: allowed (at least once, idempotent by key), counted;
- alerts: every alert that ``newsfeed process`` raises for the same input is delivered, none with two contents.

The stream is made here from random words, deterministic for a seed: at least 70% new stories, copies of
earlier ones as syndication makes them (junk lines, an upper-cased headline, a trimmed last sentence, another
outlet), hostile lines, and items sent again with the same id. Stories that alert are never copied, so their
alert ids do not depend on which copy a worker reads first.

Usage: python -m tests.chaos [--items N] [--kills N] [--outage SECONDS] [--refusal SECONDS] [--rate N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from agents.admin import create_topics
from agents.app import client_options
from agents.offline import offline_pipeline, process_lines
from agents.readback import read_outputs
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
NEWSFEED = Path(sys.executable).with_name("newsfeed")
ROUTED = ("search", "duplicates", "deadletter")

_WORDS = [
    "harbour",
    "council",
    "budget",
    "river",
    "school",
    "bridge",
    "festival",
    "market",
    "railway",
    "hospital",
    "election",
    "museum",
    "factory",
    "orchard",
    "library",
    "stadium",
    "airport",
    "farmers",
    "union",
    "court",
    "ministry",
    "vaccine",
    "drought",
    "harvest",
    "tunnel",
    "reactor",
    "satellite",
    "glacier",
    "forest",
    "village",
    "province",
    "senator",
    "mayor",
    "teachers",
    "nurses",
    "miners",
    "pilots",
    "bakers",
    "storm",
    "flood",
    "wildfire",
    "coastline",
    "parliament",
    "research",
    "telescope",
    "engineers",
    "startup",
    "pension",
    "housing",
    "rents",
    "wages",
    "doctors",
    "patients",
    "students",
]
_ALERTING = (
    "Diplomats said the quarrels run from trade to Beijing's military drills near the Taiwan Strait. "
    "The delegation pressed China to stop the export of fentanyl precursors that feed the opioid crisis. "
    "The administration also signed deals with Australia and Britain to supply nuclear-powered submarines "
    "under the AUKUS partnership."
)
_JUNK = ["Read also | {}", "share now", "Source link", "[ad_1]", "Advertisement"]


@dataclass(frozen=True)
class Plan:
    """What a chaos run does."""

    items: int = 100_000
    kills: int = 10
    outage: float = 60.0
    refusal: float = 15.0
    add_worker: bool = True
    workers: int = 2
    rate: float = 600.0
    """Items published per second (the stream keeps flowing while the faults happen)."""
    seed: int = 7
    quiet_timeout: float = 900.0


def stream(plan: Plan, tag: str) -> list[bytes]:
    """The raw lines of the run, in publishing order."""
    rng = random.Random(plan.seed)
    lines: list[bytes] = []
    copyable: list[dict[str, Any]] = []
    sent: list[bytes] = []
    for n in range(plan.items):
        roll = rng.random()
        if roll < 0.02:
            lines.append(_hostile(rng, n, tag))
        elif roll < 0.05 and sent:
            lines.append(rng.choice(sent[-2000:]))  # the same item again, same id
        elif roll < 0.25 and copyable:
            original = rng.choice(copyable[-500:])
            lines.append(orjson.dumps(_copy(rng, original, n, tag)))
        else:
            story = _story(rng, n, tag, alerting=rng.random() < 0.05)
            data = orjson.dumps(story)
            lines.append(data)
            sent.append(data)
            if not story["alerting"]:
                copyable.append(story)
    return lines


def unrelated_stories(tag: str, n: int, *, source: str) -> list[dict[str, Any]]:
    """``n`` stories of random words, none a copy of another, each over 1,000 bytes as an article."""
    rng = random.Random(tag)
    return [{**_story(rng, i, tag, alerting=False), "source": source} for i in range(n)]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(9, 16))).capitalize() + "."


def _story(rng: random.Random, n: int, tag: str, *, alerting: bool) -> dict[str, Any]:
    sentences = [_sentence(rng) for _ in range(rng.randint(8, 16))]
    if alerting:
        sentences.insert(1, _ALERTING)
    title = " ".join(rng.choice(_WORDS) for _ in range(6)).capitalize()
    return {
        "id": f"{tag}-{n}",
        "source": f"outlet-{rng.randint(1, 40)}",
        "title": f"{title} ({n})",
        "body": f"Report {n}. " + "\n\n".join(sentences),
        "published_at": datetime.now(UTC).isoformat(),
        "alerting": alerting,
    }


def _copy(rng: random.Random, original: dict[str, Any], n: int, tag: str) -> dict[str, Any]:
    paragraphs = original["body"].split("\n\n")
    if len(paragraphs) > 4 and rng.random() < 0.5:
        paragraphs = paragraphs[:-1]  # a trimmed last paragraph
    junk = [j.format(rng.choice(_WORDS)) for j in rng.sample(_JUNK, 3)]
    body = "\n".join([junk[0], *paragraphs, junk[1], junk[2]])
    return {
        "id": f"{tag}-copy-{n}",
        "source": f"aggregator-{rng.randint(1, 20)}",
        "title": original["title"].upper() if rng.random() < 0.5 else original["title"],
        "body": body,
        "published_at": original["published_at"],
        "alerting": False,
    }


def _hostile(rng: random.Random, n: int, tag: str) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return b'{"id": "' + f"{tag}-bad-{n}".encode() + b'", "body": '  # truncated JSON
    if kind == 1:
        return orjson.dumps({"id": f"{tag}-nobody-{n}", "title": "no body"})
    if kind == 2:
        return orjson.dumps({"id": f"{tag}-ctl-{n}", "body": "\x00\x01\x02" * 50 + " text"})
    return orjson.dumps({"id": f"{tag}-junk-{n}", "body": "[ad_1]\nshare now\n[ad_2]\nSource link"})


@dataclass
class Expected:
    """What ``newsfeed process`` makes of the same input."""

    ids: set[str] = field(default_factory=set)
    """Ids of the items that must come out (search, duplicates or dead letter)."""
    anonymous: Counter[bytes] = field(default_factory=Counter)
    """Dead letters without an id, by a digest of their original bytes."""
    alerts: dict[str, bytes] = field(default_factory=dict)
    """alert_id -> the alert's content without ``raised_at``."""


def expected(settings: Settings, lines: list[bytes]) -> Expected:
    out = Expected()
    numbered = (("chaos", n, line) for n, line in enumerate(lines))
    for message in process_lines(offline_pipeline(settings), numbered):
        short = message.topic.rsplit(".", 1)[-1]
        value = orjson.loads(orjson.dumps(message.value))
        if short in ROUTED:
            if message.key:
                out.ids.add(message.key)
            else:
                out.anonymous[_digest(value)] += 1
        elif short == "alerts":
            out.alerts[message.key] = _alert_content(value)
    out.anonymous = Counter(dict.fromkeys(out.anonymous, 1))  # the same bad line sent twice is one input
    return out


def _digest(letter: dict[str, Any]) -> bytes:
    return hashlib.blake2b(letter["original"].encode(), digest_size=16).digest()


def _alert_content(alert: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in alert.items() if k != "raised_at"}, option=orjson.OPT_SORT_KEYS)


@dataclass
class Verdict:
    inputs: int
    lost: set[str]
    lost_anonymous: int
    on_two_topics: set[str]
    decided_twice: set[str]
    repeats: int
    alerts_expected: int
    alerts_missing: set[str]
    alerts_with_two_contents: set[str]
    seconds: float
    events: list[str]

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.lost_anonymous
            or self.on_two_topics
            or self.decided_twice
            or self.alerts_missing
            or self.alerts_with_two_contents
        )

    def report(self) -> str:
        rows = [
            ("input ids", self.inputs),
            ("lost", len(self.lost) + self.lost_anonymous),
            ("ids on two topics", len(self.on_two_topics)),
            ("ids with two different decisions", len(self.decided_twice)),
            ("repeated identical outputs (allowed)", self.repeats),
            ("alerts expected (newsfeed process)", self.alerts_expected),
            ("alerts missing", len(self.alerts_missing)),
            ("alerts with two contents", len(self.alerts_with_two_contents)),
            ("seconds", round(self.seconds, 1)),
        ]
        text = "\n".join(f"  {name:<40} {value}" for name, value in rows)
        samples = {
            "lost": sorted(self.lost)[:5],
            "on two topics": sorted(self.on_two_topics)[:5],
            "decided twice": sorted(self.decided_twice)[:5],
            "alerts missing": sorted(self.alerts_missing)[:5],
        }
        shown = "\n".join(f"  e.g. {name}: {ids}" for name, ids in samples.items() if ids)
        return (
            "chaos:\n"
            + "\n".join(f"  - {event}" for event in self.events)
            + "\n"
            + text
            + ("\n" + shown if shown else "")
        )


def judge(messages: list[tuple[str, str | None, Any]], want: Expected, seconds: float, events: list[str]) -> Verdict:
    places: dict[str, set[str]] = {}
    decisions: dict[str, set[bytes]] = {}
    anonymous: Counter[bytes] = Counter()
    alerts: dict[str, set[bytes]] = {}
    seen: set[bytes] = set()
    repeats = 0
    for topic, key, value in messages:
        body = orjson.dumps([topic, key, value], option=orjson.OPT_SORT_KEYS)
        if body in seen:
            repeats += 1
        seen.add(body)
        if topic == "alerts" and key:
            alerts.setdefault(key, set()).add(_alert_content(value))
        elif topic in ROUTED:
            item = key or None
            if item is None:
                anonymous[_digest(value)] += 1
                continue
            places.setdefault(item, set()).add(topic)
            if topic != "deadletter":
                decisions.setdefault(item, set()).add(orjson.dumps([value["duplicate_of_key"], value["cluster_key"]]))
    return Verdict(
        inputs=len(want.ids) + len(want.anonymous),
        lost=want.ids - set(places),
        lost_anonymous=sum(1 for digest in want.anonymous if digest not in anonymous),
        on_two_topics={item for item, topics in places.items() if len(topics) > 1},
        decided_twice={item for item, seen_decisions in decisions.items() if len(seen_decisions) > 1},
        repeats=repeats,
        alerts_expected=len(want.alerts),
        alerts_missing=set(want.alerts) - set(alerts),
        alerts_with_two_contents={alert for alert, contents in alerts.items() if len(contents) > 1},
        seconds=seconds,
        events=events,
    )


class _Workers:
    """Worker subprocesses of one deployment, restarted when killed, as a supervisor would."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Any] = {}

    def start(self, name: str) -> None:
        env = {**self.env, "NEWSFEED_DATA_DIR": str(self.workdir / f"state-{name}"), "NEWSFEED_WEB_PORT": _free_port()}
        log = self.logs.get(name) or (self.workdir / f"{name}.log").open("ab")
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(
            [str(NEWSFEED), "worker"], env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)

    def revive(self, events: list[str], started: float) -> None:
        """Restart the workers that exited by themselves (a crash stops a worker with an error, for this)."""
        for name, proc in list(self.procs.items()):
            code = proc.poll()
            if code is not None and code != -signal.SIGKILL:
                events.append(f"{round(time.monotonic() - started, 1)}s {name} exited with {code} (restarted)")
                self.start(name)

    def alive(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is None]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in self.logs.values():
            log.close()


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def _kafka(action: str, port: str) -> None:
    subprocess.run([str(ROOT / "scripts" / "kafka.sh"), action], check=True, env={**os.environ, "KAFKA_PORT": port})


async def _set_limit(settings: Settings, topic: str, value: str) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, settings.topic(topic), configs={"max.message.bytes": value})
        await admin.alter_configs([resource])
    finally:
        await admin.close()


async def _publish(settings: Settings, lines: list[bytes], rate: float) -> None:
    producer = AIOKafkaProducer(
        **client_options(settings), acks="all", linger_ms=5, request_timeout_ms=300_000, max_request_size=16_000_000
    )
    await producer.start()
    try:
        started = time.monotonic()
        futures = []
        for n, line in enumerate(lines):
            key = None
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
                key = str(orjson.loads(line)["id"]).encode()
            futures.append(await producer.send(settings.topic("raw"), value=line, key=key))
            ahead = started + n / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)  # the stream's pace, not a wait for a result
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _faults(
    plan: Plan, settings: Settings, workers: _Workers, *, port: str, span: float, events: list[str]
) -> None:
    """Inflict the plan's faults at random moments within ``span`` seconds, one at a time."""
    rng = random.Random(plan.seed + 1)
    faults: list[str] = ["kill"] * plan.kills + ["outage"] * (plan.outage > 0) + ["refusal"] * (plan.refusal > 0)
    if plan.add_worker:
        faults.append("add")
    rng.shuffle(faults)
    started = time.monotonic()
    # Spread over the stream and the time the outage and the refusal themselves take; never two at once.
    gap = (span + plan.outage + plan.refusal) / (len(faults) + 1)
    last = started
    for n, fault in enumerate(faults, 1):
        target = max(started + n * gap * rng.uniform(0.8, 1.0), last + gap * 0.5)
        while time.monotonic() < target:
            workers.revive(events, started)
            await asyncio.sleep(min(1.0, max(0.0, target - time.monotonic())))
        at = round(time.monotonic() - started, 1)
        if fault == "kill":
            name = rng.choice(workers.alive() or list(workers.procs))
            workers.kill(name)
            workers.start(name)
            events.append(f"{at}s SIGKILL {name} (restarted)")
        elif fault == "outage":
            events.append(f"{at}s broker stopped for {plan.outage:.0f}s")
            await asyncio.to_thread(_kafka, "down", port)
            await asyncio.sleep(plan.outage)
            await asyncio.to_thread(_kafka, "up", port)
        elif fault == "refusal":
            events.append(f"{at}s search refuses messages over 1,000 bytes for {plan.refusal:.0f}s")
            await _set_limit(settings, "search", "1000")
            await asyncio.sleep(plan.refusal)
            await _set_limit(settings, "search", "8388608")
        elif fault == "add":
            name = f"w{len(workers.procs) + 1}"
            workers.start(name)
            events.append(f"{at}s worker {name} added")
        last = time.monotonic()


async def _quiet(settings: Settings, want: Expected, within: float, revive: Callable[[], None]) -> None:
    """Wait until every expected id and alert has come out (or ``within`` seconds): the stream has gone quiet."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        revive()
        messages = await read_outputs(settings, (*ROUTED, "alerts"))
        found = {key for topic, key, _ in messages if topic in ROUTED and key}
        alerts = {key for topic, key, _ in messages if topic == "alerts"}
        if want.ids <= found and set(want.alerts) <= alerts:
            return
        await asyncio.sleep(5.0)


async def run(plan: Plan, broker: str, workdir: Path) -> Verdict:
    """One chaos run against ``broker`` (a local broker that ``scripts/kafka.sh`` controls)."""
    tag = uuid.uuid4().hex[:8]
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSFEED_")} | {
        "NEWSFEED_BROKER": broker,
        "NEWSFEED_TOPIC_PREFIX": f"chaos{tag}",
        "NEWSFEED_APP_ID": f"newsfeed-chaos{tag}",
        "NEWSFEED_RAW_PARTITIONS": "4",
        "NEWSFEED_LOG_FORMAT": "json",
        "NEWSFEED_SESSION_TIMEOUT_SECONDS": "10",
        "NEWSFEED_HEARTBEAT_INTERVAL_SECONDS": "2",
    }
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("NEWSFEED_")})
    lines = stream(plan, tag)
    want = expected(settings, lines)
    await create_topics(settings)
    port = broker.rsplit(":", 1)[1]
    workers = _Workers(env, workdir)
    events: list[str] = []
    started = time.monotonic()
    try:
        for n in range(plan.workers):
            workers.start(f"w{n + 1}")
        span = len(lines) / plan.rate
        await asyncio.gather(
            _publish(settings, lines, plan.rate), _faults(plan, settings, workers, port=port, span=span, events=events)
        )
        await _quiet(settings, want, plan.quiet_timeout, lambda: workers.revive(events, started))
        messages = await read_outputs(settings, (*ROUTED, "alerts"))
    finally:
        workers.stop()
    return judge(messages, want, time.monotonic() - started, events)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=Plan.items)
    parser.add_argument("--kills", type=int, default=Plan.kills)
    parser.add_argument("--outage", type=float, default=Plan.outage)
    parser.add_argument("--refusal", type=float, default=Plan.refusal)
    parser.add_argument("--rate", type=float, default=Plan.rate)
    args = parser.parse_args()
    plan = Plan(items=args.items, kills=args.kills, outage=args.outage, refusal=args.refusal, rate=args.rate)
    port = os.environ.get("KAFKA_PORT", "9092")
    broker = os.environ.get("NEWSFEED_TEST_BROKER") or f"kafka://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="newsfeed-chaos-") as workdir:
        verdict = asyncio.run(run(plan, broker, Path(workdir)))
    sys.stdout.write(verdict.report() + "\n")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
