"""The dedupe agent's outbox against the broker: batched messages land where ``send()`` puts them, once each,
and a refused batch fails only its own messages' futures (and is counted as a send error once)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from agents.delivery import is_own_failure
from agents.metrics import Metrics
from agents.outbox import Outbox
from tests.integration.conftest import read_topic_to_end, set_topic_config

pytestmark = pytest.mark.integration


async def test_batched_messages_land_on_the_partitions_send_would_choose_once_each(make_stack: Any,
                                                                                   producer: AIOKafkaProducer) -> None:  # fmt: skip
    stack = make_stack()
    batched, plain = stack.topic("search"), stack.topic("duplicates")  # the same number of partitions
    outbox = Outbox(lambda: producer)
    await outbox.learn(batched)
    keys = [f"item-{n}".encode() for n in range(120)]
    futures = [outbox.add(batched, key, orjson.dumps({"n": n})) for n, key in enumerate(keys)]
    assert not any(future.done() for future in futures)  # nothing leaves before the flush
    await outbox.flush()
    await asyncio.gather(*futures)
    await asyncio.gather(*[await producer.send(plain, orjson.dumps({"n": n}), key=key) for n, key in enumerate(keys)])

    got = await read_topic_to_end(stack, "search")
    expected = await read_topic_to_end(stack, "duplicates")
    assert sorted(m["value"]["n"] for m in got) == list(range(120))
    assert {m["key"]: m["partition"] for m in got} == {m["key"]: m["partition"] for m in expected}
    assert len({m["partition"] for m in got}) > 1


async def test_a_refused_batch_fails_its_own_messages_only(make_stack: Any, producer: AIOKafkaProducer) -> None:
    stack = make_stack()
    await set_topic_config(stack, "alerts", {"max.message.bytes": "1000"})
    big = b"x" * 5000
    deadline = time.monotonic() + 30
    while True:  # the broker applies a topic's new configuration shortly after it is accepted
        try:
            await producer.send_and_wait(stack.topic("alerts"), big, key=b"probe")
        except KafkaError:
            break
        assert time.monotonic() < deadline, "the topic kept taking messages over its max.message.bytes"
    metrics = Metrics.create()
    outbox = Outbox(lambda: producer, metrics.on_sent)
    await outbox.learn(stack.topic("alerts"))
    await outbox.learn(stack.topic("deadletter"))
    refused = [outbox.add(stack.topic("alerts"), b"big", big)]
    taken = [outbox.add(stack.topic("deadletter"), f"k{n}".encode(), orjson.dumps("small")) for n in range(3)]
    await outbox.flush()

    results = await asyncio.gather(*refused, *taken, return_exceptions=True)
    # One refused batch, counted once; the batch the broker took is not an error.
    assert metrics.registry.get_sample_value("newsfeed_send_errors_total") == 1.0
    assert isinstance(results[0], BaseException)
    assert is_own_failure(results[0])  # so that delivery dead-letters the item, not halts
    assert not any(isinstance(result, BaseException) for result in results[1:])
    assert results[1].topic == stack.topic("deadletter")
    assert sorted(m["key"] for m in await read_topic_to_end(stack, "deadletter")) == ["k0", "k1", "k2"]
