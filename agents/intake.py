"""The intake agent: decode, validate, clean, fingerprint and tag each raw item, in parallel by partition."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from pipeline.process import Prepared
from pipeline.records import DeadLetter, Origin
from pipeline.route import dead_letter_message

if TYPE_CHECKING:
    from agents.worker import Wiring

log = structlog.get_logger(__name__)

from agents.replay import REPLAY_HEADER


def _is_replay(headers: Any) -> bool:
    if not headers:
        return False
    items = headers.items() if isinstance(headers, dict) else headers
    return any(name == REPLAY_HEADER and value not in (b"0", b"", None) for name, value in items)


def register(wiring: Wiring) -> Any:
    """Add the intake agent to the app."""
    app, topics, pipeline, metrics, settings = wiring.app, wiring.topics, wiring.pipeline, wiring.metrics, wiring.settings

    @app.agent(topics.raw, name="intake")
    async def intake(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            origin = Origin(message.topic, message.partition, message.offset, _is_replay(message.headers))
            raw = event.value if isinstance(event.value, bytes) else b""
            with structlog.contextvars.bound_contextvars(
                topic=message.topic, partition=message.partition, offset=message.offset
            ):
                started = time.perf_counter()
                metrics.items_in.labels("intake").inc()
                result = pipeline.prepare(raw, origin, datetime.now(UTC))
                metrics.latency.labels("intake").observe(time.perf_counter() - started)
                if isinstance(result, DeadLetter):
                    out = dead_letter_message(result, settings)
                    await topics.deadletter.send(key=out.key.encode(), value=wiring.encode(out.value))
                    metrics.dead_letters.labels(result.reason).inc()
                    metrics.items_out.labels("intake", out.topic).inc()
                    log.warning("item_dead_lettered", item_id=result.item_id, reason=result.reason, stage=result.stage)
                    continue
                assert isinstance(result, Prepared)
                await topics.prepared.send(key=result.item.language.encode(), value=result.to_bytes())
                metrics.items_out.labels("intake", topics.prepared.get_topic_name()).inc()
                log.debug("item_prepared", item_id=result.item.id)

    return intake
