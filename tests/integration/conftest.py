"""Integration fixtures: the real local Kafka broker, workers as subprocesses, and bounded waits on topics.

The broker is started by ``make test`` (scripts/test.sh); run alone, these fixtures start it themselves with
the same script. A broker that cannot be reached is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from agents import readback
from agents.admin import create_topics
from agents.app import client_options
from pipeline.settings import Settings
from tests.conftest import key_of

ROOT = Path(__file__).resolve().parents[2]
NEWSFEED = Path(sys.executable).with_name("newsfeed")
READY_TIMEOUT = 90.0


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """The broker's URL; starts the local broker when nothing runs it yet, and stops only what it started."""
    url = os.environ.get("NEWSFEED_TEST_BROKER")
    started = False
    if url is None:
        port = os.environ.get("KAFKA_PORT", "9092")
        url = f"kafka://127.0.0.1:{port}"
        status = subprocess.run([ROOT / "scripts" / "kafka.sh", "status"], capture_output=True, check=False)
        if status.returncode != 0:
            subprocess.run([ROOT / "scripts" / "kafka.sh", "up"], check=True)
            started = True
    host, port = url.split("://", 1)[-1].split(";")[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10):
        pass  # raises when no broker answers: integration tests fail, never skip
    yield url
    if started:
        subprocess.run([ROOT / "scripts" / "kafka.sh", "down"], check=False)


def _run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even when the test's own loop is running."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """One isolated newsfeed deployment: its own topic prefix, consumer group and state directory."""

    env: dict[str, str]
    settings: Settings
    workdir: Path
    workers: list[Worker] = field(default_factory=list)

    def topic(self, name: str) -> str:
        return self.settings.topic(name)


class Worker:
    """A ``newsfeed worker`` subprocess; its log lines are collected for assertions and diagnosis."""

    def __init__(self, stack: Stack, name: str, extra_env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = _free_port()
        env = {**stack.env, "NEWSFEED_WEB_PORT": str(self.port), **(extra_env or {})}
        env["NEWSFEED_DATA_DIR"] = str(stack.workdir / f"state-{name}")
        self.log_path = stack.workdir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            [str(NEWSFEED), "worker"], env=env, cwd=stack.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            if not self._log.closed:
                self._log.write(raw)
                self._log.flush()
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            if '"worker_ready"' in line:
                self._ready.set()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Block until the worker logs ``worker_ready``; returns the seconds it took."""
        started = time.monotonic()
        while not self._ready.wait(0.2):
            if self.proc.poll() is not None:
                raise AssertionError(f"worker {self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() - started > timeout:
                raise AssertionError(f"worker {self.name} not ready after {timeout}s:\n{self.tail()}")
        return time.monotonic() - started

    def metric(self, sample: str) -> float:
        """The value of one Prometheus sample (e.g. ``newsfeed_items_in_total{stage="intake"}``), 0 if absent."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(sample + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def health(self) -> dict[str, Any]:
        """The worker's ``/health`` body (its status code is not checked: 503 while it rebalances)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=10) as response:
                body: dict[str, Any] = orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            body = orjson.loads(error.read())
        return body

    def tail(self, n: int = 40) -> str:
        return "".join(self.lines[-n:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Send ``sig`` and wait for the process to exit; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._pump_thread.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if not self._log.closed:
            self._log.close()
        return int(self.proc.returncode)

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to commit or flush."""
        self.stop(signal.SIGKILL)


@pytest.fixture
def make_stack(broker: str, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """A factory of isolated deployments (unique prefix and group per test); stops their workers after."""
    stacks: list[Stack] = []

    def make(**overrides: str) -> Stack:
        tag = uuid.uuid4().hex[:10]
        env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSFEED_")} | {
            "NEWSFEED_BROKER": broker,
            "NEWSFEED_TOPIC_PREFIX": f"t{tag}",
            "NEWSFEED_APP_ID": f"newsfeed-t{tag}",
            "NEWSFEED_RAW_PARTITIONS": "4",
            "NEWSFEED_LOG_FORMAT": "json",
            "NEWSFEED_SESSION_TIMEOUT_SECONDS": "6",
            "NEWSFEED_HEARTBEAT_INTERVAL_SECONDS": "1",
            "NEWSFEED_ALERT_MAX_AGE_HOURS": "24",
        }
        env.update(overrides)
        workdir = tmp_path / tag
        workdir.mkdir()
        settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("NEWSFEED_")})
        _run_sync(create_topics(settings))
        stack = Stack(env=env, settings=settings, workdir=workdir)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        for worker in stack.workers:
            worker.stop()


@pytest.fixture
def start_worker() -> Callable[..., Worker]:
    """Start a worker of ``stack`` and wait until it is ready."""

    def start(stack: Stack, name: str = "w1", *, wait: bool = True, **extra_env: str) -> Worker:
        worker = Worker(stack, name, extra_env)
        stack.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    return start


@pytest.fixture
async def producer(broker: str) -> AsyncIterator[AIOKafkaProducer]:
    """A producer for the test's raw messages."""
    settings = Settings.from_env({}, broker=broker)
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=5, max_request_size=16_000_000)
    await producer.start()
    yield producer
    await producer.stop()


async def publish(producer: AIOKafkaProducer, stack: Stack, values: list[bytes | dict[str, Any]], **kw: Any) -> None:
    """Publish raw items to the stack's raw topic (dicts are JSON-encoded; key = id when there is one)."""
    futures = []
    for value in values:
        data = orjson.dumps(value) if isinstance(value, dict) else value
        key = str(value["id"]).encode() if isinstance(value, dict) and value.get("id") else None
        futures.append(await producer.send(stack.topic("raw"), value=data, key=key, **kw))
    await asyncio.gather(*futures)


async def collect(
    stack: Stack,
    topics: list[str],
    *,
    until: Callable[[list[dict[str, Any]]], bool],
    within: float = 60.0,
) -> list[dict[str, Any]]:
    """Read ``topics`` from the beginning until ``until(messages)`` holds; fails after ``within`` seconds.

    Each message is ``{"topic", "key", "value", "partition", "offset"}`` with the value decoded from JSON.
    """
    names = [stack.topic(t) for t in topics]
    consumer = AIOKafkaConsumer(
        *names, auto_offset_reset="earliest", enable_auto_commit=False, **client_options(stack.settings)
    )
    await consumer.start()
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    try:
        while not until(messages):
            if time.monotonic() > deadline:
                seen = [(m["topic"], m["key"]) for m in messages]
                raise AssertionError(f"condition not met within {within}s; saw {len(messages)}: {seen[:50]}")
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    messages.append(
                        {
                            "topic": record.topic.split(".", 1)[1],
                            "key": record.key.decode() if record.key is not None else None,
                            "value": orjson.loads(record.value) if record.value else None,
                            "partition": record.partition,
                            "offset": record.offset,
                        }
                    )
    finally:
        await consumer.stop()
    return messages


async def publish_in_order(producer: AIOKafkaProducer, stack: Stack, items: list[dict[str, Any]]) -> None:
    """Publish items one at a time, each after the one before has left the worker.

    Raw partitions are keyed by item id, so items published together may be read in any order across
    partitions. A test that relies on which copy arrived first (and is the cluster root) uses this.
    """
    for item in items:
        await publish(producer, stack, [item])
        key = key_of(item)
        await collect(
            stack, ["search", "duplicates", "deadletter"], until=lambda ms, key=key: any(m["key"] == key for m in ms)
        )


def by_topic(messages: list[dict[str, Any]], topic: str) -> list[dict[str, Any]]:
    """The messages of one topic (short name)."""
    return [m for m in messages if m["topic"] == topic]


async def read_to_end(stack: Stack, topics: list[str]) -> list[dict[str, Any]]:
    """Every message of ``topics`` from the beginning up to their end offsets as they stand now.

    Tests that claim "exactly once" call this after their items have arrived, so a later second copy or a
    second, different decision would be read too.
    """
    records = await readback.read_to_end(stack.settings, [stack.topic(t) for t in topics])
    return [_decoded(record) for record in records]


def _decoded(record: Any) -> dict[str, Any]:
    return {
        "topic": record.topic.split(".", 1)[1],
        "key": record.key.decode() if record.key is not None else None,
        "value": orjson.loads(record.value) if record.value else None,
        "partition": record.partition,
        "offset": record.offset,
    }


@dataclass(frozen=True)
class Outcome:
    """Where each item went, read to the end offsets: the checks of the delivery guarantee."""

    places: dict[str, set[str]]
    """Item id -> the output topics it reached (search, duplicates, deadletter)."""
    decisions: dict[str, set[bytes]]
    """Item id -> the distinct decisions (duplicate_of, cluster) it was given."""
    repeats: int
    """Identical output messages seen more than once (allowed: at-least-once with idempotent keys)."""

    def lost(self, ids: set[str]) -> set[str]:
        return ids - set(self.places)

    def on_two_topics(self) -> set[str]:
        return {item for item, topics in self.places.items() if len(topics) > 1}

    def decided_twice(self) -> set[str]:
        return {item for item, seen in self.decisions.items() if len(seen) > 1}


def outcome(messages: list[dict[str, Any]]) -> Outcome:
    """Sort output messages by item id (dead letters without an id are left out)."""
    places: dict[str, set[str]] = {}
    decisions: dict[str, set[bytes]] = {}
    seen: set[bytes] = set()
    repeats = 0
    for message in messages:
        if message["topic"] not in ("search", "duplicates", "deadletter"):
            continue
        value = message["value"]
        item = value.get("item_id") if message["topic"] == "deadletter" else value["key"]
        if not item:
            continue
        places.setdefault(item, set()).add(message["topic"])
        if message["topic"] != "deadletter":
            decisions.setdefault(item, set()).add(orjson.dumps([value["duplicate_of_key"], value["cluster_key"]]))
        body = orjson.dumps([message["topic"], message["key"], value], option=orjson.OPT_SORT_KEYS)
        if body in seen:
            repeats += 1
        seen.add(body)
    return Outcome(places, decisions, repeats)


async def set_topic_config(stack: Stack, topic: str, configs: dict[str, str]) -> None:
    """Change a topic's configuration on the broker (e.g. lower ``max.message.bytes`` to refuse messages)."""
    admin = AIOKafkaAdminClient(**client_options(stack.settings))
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, stack.topic(topic), configs=configs)])
    finally:
        await admin.close()


async def committed_offsets(stack: Stack, group: str, topic: str) -> int:
    """The sum of ``group``'s committed offsets on ``topic`` (its full name; 0 where none)."""
    admin = AIOKafkaAdminClient(**client_options(stack.settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


async def read_topic_to_end(stack: Stack, topic: str) -> list[dict[str, Any]]:
    """Every message of a topic (short name), read from its beginning to the end offsets it has now.

    Each message is ``{"key", "value", "headers", "partition", "offset"}``, the value decoded from JSON.
    """
    return [
        {
            "key": r.key.decode() if r.key is not None else None,
            "value": orjson.loads(r.value) if r.value else None,
            "headers": dict(r.headers),
            "partition": r.partition,
            "offset": r.offset,
        }
        for r in await readback.read_to_end(stack.settings, [stack.topic(topic)])
    ]
