"""Fail-closed delivery against the real broker: an output topic that refuses messages loses nothing.

The refusal is the one a shared cluster's admin can cause: an output topic's ``max.message.bytes`` lowered
below an article's size. Every check reads the topics to their end offsets.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from agents.app import prepared_topic
from tests.chaos import unrelated_stories
from tests.integration.conftest import (
    _run_sync,
    collect,
    committed_offsets,
    outcome,
    publish,
    read_to_end,
    set_topic_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUTED = ["search", "duplicates", "deadletter"]
SMALL = {"max.message.bytes": "1000"}
NORMAL = {"max.message.bytes": "8388608"}


def _stories(tag: str, n: int) -> list[dict[str, Any]]:
    """``n`` unrelated stories, each of them over 1,000 bytes as an article."""
    return unrelated_stories(tag, n, source="wire")


def _key(item: dict[str, Any]) -> str:
    """The item's id as it comes out: the feed's id scoped by its source."""
    return f"{item['source']}:{item['id']}"


def _until_ids(ids: set[str], topics: set[str] | None = None) -> Any:
    def arrived(messages: list[dict[str, Any]]) -> bool:
        found = {m["key"] for m in messages if topics is None or m["topic"] in topics}
        return ids <= found

    return arrived


def _wait_for(condition: Any, what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within}s")
        time.sleep(0.2)


async def test_refused_outputs_are_dead_lettered_with_the_cause_and_the_original(
    make_stack, start_worker, producer
) -> None:
    stack = make_stack()
    await set_topic_config(stack, "search", SMALL)
    worker = start_worker(stack)
    items = _stories("refused", 6)
    await publish(producer, stack, items)
    ids = {_key(item) for item in items}
    await collect(stack, ["deadletter"], until=_until_ids(ids))

    messages = await read_to_end(stack, ROUTED)
    result = outcome(messages)
    assert result.lost(ids) == set()
    assert result.on_two_topics() == set()
    letters = {m["key"]: m["value"] for m in messages if m["topic"] == "deadletter"}
    by_id = {_key(item): item for item in items}
    for item_id in ids:
        letter = letters[item_id]
        assert letter["reason"] == "output_rejected"
        assert stack.topic("search") in letter["detail"]
        assert "MessageSizeTooLarge" in letter["detail"]
        assert orjson.loads(letter["original"]) == by_id[item_id]
    assert worker.metric('newsfeed_dead_letters_total{reason="output_rejected"}') == len(ids)

    # Once the topic takes articles again, new items flow as before: nothing is stuck.
    await set_topic_config(stack, "search", NORMAL)
    later = _stories("after", 2)
    await publish(producer, stack, later)
    await collect(stack, ["search"], until=_until_ids({_key(item) for item in later}))


async def test_a_refused_dead_letter_halts_the_worker_until_the_cause_is_fixed(
    make_stack, start_worker, producer
) -> None:
    stack = make_stack()
    await set_topic_config(stack, "search", SMALL)
    await set_topic_config(stack, "deadletter", SMALL)
    worker = start_worker(stack, NEWSFEED_COMMIT_INTERVAL_SECONDS="0.5")
    items = _stories("halt", 4)
    ids = {_key(item) for item in items}
    await publish(producer, stack, items)

    _wait_for(lambda: "delivery_halted" in worker.health(), "the worker reports the halt on /health")
    health = worker.health()
    assert health["ready"] is False
    assert health["delivery_halted"]["topic"] == stack.topic("deadletter")
    assert worker.metric("newsfeed_delivery_halted") == 1
    halted = [line for line in worker.lines if '"delivery_halted"' in line]
    assert halted
    assert stack.topic("deadletter") in halted[0]
    assert "MessageSizeTooLarge" in halted[0]
    # Nothing reached an output, and the dedupe stage committed nothing past the items (intake's part was
    # delivered, so its raw offsets may be): a restart now would redo them.
    assert outcome(await read_to_end(stack, ROUTED)).places == {}
    assert await committed_offsets(stack, stack.settings.app_id, _prepared(stack)) == 0

    # The operator lifts the limit on the search topic: the retries deliver every item, no restart needed.
    await set_topic_config(stack, "search", NORMAL)
    await collect(stack, ["search"], until=_until_ids(ids), within=90.0)
    _wait_for(lambda: worker.health().get("ready") is True, "the worker is ready again")
    assert worker.metric("newsfeed_delivery_halted") == 0
    assert any('"delivery_resumed"' in line for line in worker.lines)

    result = outcome(await read_to_end(stack, ROUTED))
    assert result.lost(ids) == set()
    assert result.on_two_topics() == set()
    assert result.decided_twice() == set()
    _wait_for(
        lambda: _run_sync(committed_offsets(stack, stack.settings.app_id, _prepared(stack))) > 0,
        "the internal offsets are committed once the outputs are delivered",
    )


def _prepared(stack: Any) -> str:
    return prepared_topic(stack.settings)


async def test_a_halted_worker_stops_on_sigterm_and_its_items_are_redone(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    await set_topic_config(stack, "search", SMALL)
    await set_topic_config(stack, "deadletter", SMALL)
    worker = start_worker(stack)
    items = _stories("stop", 3)
    ids = {_key(item) for item in items}
    await publish(producer, stack, items)
    _wait_for(lambda: "delivery_halted" in worker.health(), "the worker reports the halt on /health")

    started = time.monotonic()
    assert worker.stop() == 0
    assert time.monotonic() - started < 45, "a halted worker must still stop on SIGTERM"
    assert any('"deliveries_abandoned"' in line for line in worker.lines)
    assert await committed_offsets(stack, stack.settings.app_id, _prepared(stack)) == 0

    # The next worker redoes them; with the causes fixed, each is delivered once: to search, or (an item whose
    # dead letter was already decided before the stop) to the dead letter, never to both.
    await set_topic_config(stack, "search", NORMAL)
    await set_topic_config(stack, "deadletter", NORMAL)
    start_worker(stack, "w2")
    await collect(stack, ROUTED, until=_until_ids(ids), within=90.0)
    result = outcome(await read_to_end(stack, ROUTED))
    assert result.lost(ids) == set()
    assert result.on_two_topics() == set()
