"""Reading topics back to their end offsets: what the checks of a run (``make run``'s once mode, the chaos
run, the integration tests) see, so that a later second copy or a second decision is seen too."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.clients import client_options
from pipeline.settings import Settings


async def read_to_end(settings: Settings, names: list[str]) -> list[Any]:
    """Every record of the topics ``names`` (full names) from their beginning to their end offsets now."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **client_options(settings))
    await consumer.start()
    records: list[Any] = []
    try:
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public call lists partitions
        partitions = [TopicPartition(name, p) for name in names for p in cluster.partitions_for_topic(name) or ()]
        if not partitions:
            return records
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        left = {tp for tp, end in ends.items() if end > 0}
        while left:
            for tp, batch in (await consumer.getmany(*left, timeout_ms=1000, max_records=5000)).items():
                records.extend(batch)
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
    finally:
        await consumer.stop()
    return records


async def read_outputs(settings: Settings, topics: tuple[str, ...]) -> list[tuple[str, str | None, Any]]:
    """The messages of the topics (short names) to their end offsets: ``(short topic, key, value as JSON)``."""
    records = await read_to_end(settings, [settings.topic(name) for name in topics])
    return [
        (record.topic.rsplit(".", 1)[-1], record.key.decode() if record.key is not None else None,
         orjson.loads(record.value))
        for record in records
    ]  # fmt: skip
