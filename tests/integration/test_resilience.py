"""Crashes, outages and poison: every item leaves through exactly one of search, duplicates or dead letter."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections import defaultdict
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.app import client_options
from agents.offline import offline_pipeline
from pipeline.prepared import Prepared, pack_batch
from pipeline.records import Origin
from tests.conftest import WIRE_STORY
from tests.integration.conftest import ROOT, by_topic, collect, publish, read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUTED = ["search", "duplicates", "deadletter"]


def _stream(n: int, tag: str) -> list[bytes | dict]:
    """``n`` items: unique stories, copies of them, and some bad input, every one with an id."""
    items: list[bytes | dict] = []
    for i in range(n):
        story = i // 3
        if i % 50 == 49:
            items.append({"id": f"{tag}-{i}", "body": "[ad_1]\nshare now\n[ad_2]"})
        elif i % 3 == 0:
            body = f"Story {story} of {tag}. " + WIRE_STORY.replace("Trade officials", f"Officials in round {story}")
            items.append({"id": f"{tag}-{i}", "title": f"Story {story}", "body": body})
        else:
            body = f"Story {story} of {tag}. " + WIRE_STORY.replace("Trade officials", f"Officials in round {story}")
            items.append(
                {"id": f"{tag}-{i}", "title": f"STORY {story}", "body": body.replace("[ad_1]", "Read also | x")}
            )
    return items


def _by_id(messages: list[dict]) -> dict[str, set[str]]:
    topics: dict[str, set[str]] = defaultdict(set)
    for m in messages:
        if m["topic"] in ROUTED:
            topics[m["key"]].add(m["topic"])
    return topics


def _assert_each_id_once(messages: list[dict], ids: set[str]) -> None:
    seen = _by_id(messages)
    assert set(seen) == ids
    assert not {i: t for i, t in seen.items() if len(t) != 1}, "an id reached two different topics"
    # At-least-once: a redelivered item may be sent again, but always with the same decision.
    decisions: dict[str, set[tuple]] = defaultdict(set)
    for m in messages:
        if m["topic"] in {"search", "duplicates"}:
            decisions[m["key"]].add((m["value"]["duplicate_of"], m["value"]["cluster_id"]))
    assert not {i: d for i, d in decisions.items() if len(d) != 1}, "a redelivered item got another decision"


async def test_sigkill_mid_stream_loses_nothing(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    worker = start_worker(stack, "first")
    items = _stream(2000, "k")
    ids = {str(i["id"]) for i in items if isinstance(i, dict)}
    await publish(producer, stack, items)
    await collect(stack, ROUTED, until=lambda ms: len(_by_id(ms)) >= 300, within=120)
    worker.kill()

    start_worker(stack, "second")
    await collect(stack, [*ROUTED, "alerts"], until=lambda ms: set(_by_id(ms)) >= ids, within=180)
    messages = await read_to_end(stack, [*ROUTED, "alerts"])  # a later second copy would be read too
    _assert_each_id_once(messages, ids)
    assert {m["key"] for m in by_topic(messages, "deadletter")} == {f"k-{i}" for i in range(2000) if i % 50 == 49}
    alerts = by_topic(messages, "alerts")
    per_rule_cluster = defaultdict(set)
    for alert in alerts:
        per_rule_cluster[(alert["value"]["rule"], alert["value"]["cluster_id"])].add(alert["key"])
    assert all(len(keys) == 1 for keys in per_rule_cluster.values()), "one alert id per rule and story"


async def test_worker_rides_out_a_broker_outage(make_stack, start_worker, producer, broker) -> None:
    stack = make_stack()
    worker = start_worker(stack)
    items = _stream(600, "o")
    ids = {str(i["id"]) for i in items if isinstance(i, dict)}
    await publish(producer, stack, items[:300])
    await collect(stack, ROUTED, until=lambda ms: len(_by_id(ms)) >= 100, within=120)

    port = broker.rsplit(":", 1)[1]
    env = {**os.environ, "KAFKA_PORT": port}
    subprocess.run([ROOT / "scripts" / "kafka.sh", "down"], check=True, env=env)
    await asyncio.sleep(15)  # the outage itself, not a wait for a result
    assert worker.proc.poll() is None, "the worker must not exit while the broker is away"
    subprocess.run([ROOT / "scripts" / "kafka.sh", "up"], check=True, env=env)

    await publish(producer, stack, items[300:])
    await collect(stack, ROUTED, until=lambda ms: set(_by_id(ms)) >= ids, within=240)
    _assert_each_id_once(await read_to_end(stack, ROUTED), ids)
    assert worker.proc.poll() is None


async def test_a_poison_message_is_dead_lettered_and_the_stream_moves_on(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    start_worker(stack)
    # Garbage on the internal prepared stream: the dedupe stage cannot read it.
    await producer.send_and_wait(f"{stack.settings.app_id}-prepared", value=b"\xff\x00not a prepared item", key=b"en")
    await publish(producer, stack, [{"id": "after-poison", "body": "A story that arrives after the poison message."}])
    messages = await collect(
        stack, ROUTED, until=lambda ms: "after-poison" in _by_id(ms) and len(by_topic(ms, "deadletter")) >= 1
    )
    [letter] = by_topic(messages, "deadletter")
    assert letter["value"]["reason"] == "invalid_prepared"
    assert letter["value"]["stage"] == "dedupe"
    assert letter["value"]["original_encoding"] == "base64"
    assert "after-poison" in {m["key"] for m in by_topic(messages, "search")}


async def test_sigterm_commits_what_was_processed(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    worker = start_worker(stack)
    items = _stream(200, "t")
    await publish(producer, stack, items)
    ids = {str(i["id"]) for i in items if isinstance(i, dict)}
    await collect(stack, ROUTED, until=lambda ms: set(_by_id(ms)) >= ids)
    assert worker.stop() == 0

    consumer = AIOKafkaConsumer(group_id=stack.settings.app_id, **client_options(stack.settings))
    await consumer.start()
    try:
        partitions = [TopicPartition(stack.topic("raw"), p) for p in range(4)]
        ends = await consumer.end_offsets(partitions)
        committed = {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()
    assert committed == ends, "every processed raw offset was committed on the way out"


async def test_internal_messages_of_one_record_or_a_batch_with_a_broken_record_are_decided(
    make_stack, start_worker, producer
) -> None:
    stack = make_stack()
    start_worker(stack)
    pipeline = offline_pipeline(stack.settings)

    def record(item_id: str, body: str) -> bytes:
        prepared = pipeline.prepare(orjson.dumps({"id": item_id, "body": body}), Origin("raw", 0, 0), datetime.now(UTC))
        assert isinstance(prepared, Prepared)
        return prepared.to_bytes()

    internal = f"{stack.settings.app_id}-prepared"
    # As a worker from before batching wrote it: one record per message.
    await producer.send_and_wait(
        internal, value=record("single", "A story handed on alone, one per message."), key=b"en"
    )
    batch = pack_batch([record("batched", "A story handed on in a batch of records."), b"\xffbroken record"])
    await producer.send_and_wait(internal, value=batch, key=b"en")
    messages = await collect(
        stack, ROUTED, until=lambda ms: {"single", "batched"} <= set(_by_id(ms)) and by_topic(ms, "deadletter")
    )
    assert {m["key"] for m in by_topic(messages, "search")} == {"single", "batched"}
    [letter] = by_topic(messages, "deadletter")
    assert (letter["value"]["reason"], letter["value"]["stage"]) == ("invalid_prepared", "dedupe")
