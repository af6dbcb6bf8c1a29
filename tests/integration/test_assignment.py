"""Partition assignment of identical workers: the one holding the dedupe shard takes less of the intake."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

pytestmark = pytest.mark.integration


async def _settled_assignment(workers: list[Any], raw: str, prepared: str, within: float = 60.0) -> list[dict]:
    """Each worker's partitions, once every raw partition and the dedupe shard are held once and all are ready."""
    deadline = time.monotonic() + within
    while True:
        states = [await asyncio.to_thread(worker.health) for worker in workers]
        held = [p for state in states for p in state.get("partitions", {}).get(raw, [])]
        shards = [p for state in states for p in state.get("partitions", {}).get(prepared, [])]
        if all(state["ready"] for state in states) and sorted(held) == [0, 1, 2, 3] and shards == [0]:
            return [state["partitions"] for state in states]
        if time.monotonic() > deadline:
            raise AssertionError(f"no settled assignment within {within}s: {states}")
        await asyncio.sleep(0.2)


async def test_the_worker_holding_the_dedupe_shard_gets_fewer_raw_partitions(make_stack, start_worker) -> None:
    stack = make_stack()
    workers = [start_worker(stack, "w1"), start_worker(stack, "w2")]
    raw, prepared = stack.topic("raw"), f"{stack.settings.app_id}-prepared"

    partitions = await _settled_assignment(workers, raw, prepared)

    [holder] = [p for p in partitions if prepared in p]
    [other] = [p for p in partitions if prepared not in p]
    # Faust alone splits raw two and two; the shard weighs about 2.7 raw partitions (agents/assignor.py).
    assert (len(holder[raw]), len(other[raw])) == (1, 3), partitions
