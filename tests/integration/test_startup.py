"""Before a worker joins its group: it waits for an unreachable broker, and starts where the other layout stands."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import replace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents.app import client_options, group_id
from agents.startup import follow_other_layout
from tests.integration.conftest import collect, publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class _Forwarder:
    """A TCP forwarder from a loopback port to the broker, opened only when the test says so.

    Clients bootstrap through it; the broker's metadata then names its own address, so only bootstrapping
    depends on it. Until ``open``, nothing listens on the port: the broker is unreachable there.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self._server: asyncio.Server | None = None

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(copy(reader, upstream_writer), copy(upstream_reader, writer))


async def _until(condition, what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within}s")
        await asyncio.sleep(0.2)


async def test_a_worker_started_without_a_broker_waits_for_it(make_stack, start_worker, producer, broker) -> None:
    host, port = broker.split("://", 1)[-1].rsplit(":", 1)
    forwarder = _Forwarder((host, int(port)))
    stack = make_stack()
    worker = start_worker(stack, wait=False, NEWSFEED_BROKER=f"kafka://127.0.0.1:{forwarder.port}")
    try:
        await _until(lambda: sum('"broker_unreachable"' in line for line in worker.lines) >= 2, "two retries logged")
        assert worker.proc.poll() is None, "the worker exited instead of waiting"
        first = next(line for line in worker.lines if '"broker_unreachable"' in line)
        assert f"127.0.0.1:{forwarder.port}" in first
        await forwarder.open()
        await asyncio.to_thread(worker.wait_ready)
        assert any('"broker_reachable"' in line for line in worker.lines)
        item = {"id": "after-wait", "title": "Harbour works", "body": "The harbour council approved new works."}
        await publish(producer, stack, [item])
        await collect(stack, ["search"], until=lambda ms: any(m["key"] == "after-wait" for m in ms))
    finally:
        worker.stop()
        await forwarder.close()


async def test_a_group_without_offsets_starts_where_the_other_layout_stands(make_stack) -> None:
    stack = make_stack()
    settings = stack.settings
    topic = settings.topic("raw")
    partitions = [TopicPartition(topic, p) for p in range(settings.raw_partitions)]
    # The `all` layout has read raw up to these offsets; the intake layout never ran.
    consumer = AIOKafkaConsumer(
        group_id=group_id(settings, "all"), enable_auto_commit=False, **client_options(settings)
    )
    await consumer.start()
    try:
        await publish_filler(stack, settings.raw_partitions)
        consumer.assign(partitions)
        standing = dict.fromkeys(partitions, 1)
        await consumer.commit(standing)
    finally:
        await consumer.stop()

    moved = await follow_other_layout(replace(settings, worker_role="intake"))
    assert moved == dict.fromkeys(range(settings.raw_partitions), 1)
    intake = AIOKafkaConsumer(
        group_id=group_id(settings, "intake"), enable_auto_commit=False, **client_options(settings)
    )
    await intake.start()
    try:
        assert {tp: await intake.committed(tp) for tp in partitions} == standing
    finally:
        await intake.stop()
    # Nothing further to follow: a second start moves nothing, and a dedupe worker never reads raw.
    assert await follow_other_layout(replace(settings, worker_role="intake")) == {}
    assert await follow_other_layout(replace(settings, worker_role="dedupe")) == {}


async def publish_filler(stack, partitions: int) -> None:
    """Two messages on each raw partition, so that offset 1 exists everywhere."""
    producer = AIOKafkaProducer(**client_options(stack.settings))
    await producer.start()
    try:
        for partition in range(partitions):
            for n in range(2):
                await producer.send_and_wait(
                    stack.topic("raw"), b"{}", key=f"{partition}-{n}".encode(), partition=partition
                )
    finally:
        await producer.stop()
