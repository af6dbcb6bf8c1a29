"""``newsfeed subscribe``: print what arrives on a topic, as JSON lines or one readable line per article."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaConsumer

from agents.broker import start_client
from agents.clients import client_options
from pipeline.settings import Settings


def render(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, *, fmt: str) -> str:
    """One output line for one message."""
    decoded: Any
    try:
        decoded = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        decoded = value.decode("utf-8", "replace") if value is not None else None
    key_text = key.decode("utf-8", "replace") if key is not None else None
    if fmt == "pretty" and isinstance(decoded, dict):
        return _pretty(topic, decoded)
    return orjson.dumps(
        {"topic": topic, "partition": partition, "offset": offset, "key": key_text, "value": decoded}
    ).decode()


def _pretty(topic: str, value: dict[str, Any]) -> str:
    kind = topic.rsplit(".", 1)[-1]
    if "reason" in value and "original" in value:
        return f"{value.get('failed_at', ''):<20}  {kind:<10}  {value.get('reason')}: {value.get('detail')}"
    if "rule" in value:
        severity, rule = value.get("severity"), value.get("rule")
        return f"{value.get('raised_at', ''):<20}  {kind:<10}  [{severity}] {rule}: {value.get('title')}"
    tags = ",".join(t.get("topic", "?") for t in value.get("tags") or [])
    dup = f" (copy of {value['duplicate_of']})" if value.get("duplicate_of") else ""
    when = value.get("published_at") or value.get("ingested_at") or ""
    title = value.get("title") or value.get("id")
    return f"{when:<20}  {kind:<10}  {value.get('source') or '-':<16}  [{tags}]  {title}{dup}"


async def subscribe(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = False,
    group: str | None = None,
    max_messages: int | None = None,
    idle_timeout: float | None = None,
    fmt: str = "json",
    out: IO[str] = sys.stdout,
) -> int:
    """Print messages of ``topic`` until ``max_messages`` arrived or nothing arrived for ``idle_timeout`` seconds.

    ``topic`` may be a short name (``search``) or a full one (``news.search``). Returns the count printed.
    """
    name = topic if "." in topic or topic.startswith(settings.topic_prefix) else settings.topic(topic)
    consumer = AIOKafkaConsumer(
        name,
        group_id=group,
        enable_auto_commit=group is not None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        **client_options(settings),
    )
    await start_client(consumer, settings)
    count = 0
    try:
        last = time.monotonic()
        while max_messages is None or count < max_messages:
            wait = 1.0 if idle_timeout is None else max(0.0, min(1.0, idle_timeout - (time.monotonic() - last)))
            batch = await consumer.getmany(timeout_ms=int(wait * 1000), max_records=500)
            got = False
            for records in batch.values():
                for record in records:
                    out.write(
                        render(record.topic, record.partition, record.offset, record.key, record.value, fmt=fmt) + "\n"
                    )
                    count += 1
                    got = True
                    if max_messages is not None and count >= max_messages:
                        break
            out.flush()
            if got:
                last = time.monotonic()
            elif idle_timeout is not None and time.monotonic() - last >= idle_timeout:
                break
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return count
