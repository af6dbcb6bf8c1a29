"""The dedupe agent: one shard per language decides unique or copy, raises alerts and routes the outputs."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from pipeline.process import Prepared
from pipeline.route import dead_letter_message

if TYPE_CHECKING:
    from agents.worker import Wiring

log = structlog.get_logger(__name__)


def register(wiring: Wiring) -> Any:
    """Add the dedupe agent to the app."""
    app, topics, pipeline, metrics, settings = wiring.app, wiring.topics, wiring.pipeline, wiring.metrics, wiring.settings
    by_name = {
        settings.topic("search"): topics.search,
        settings.topic("duplicates"): topics.duplicates,
        settings.topic("alerts"): topics.alerts,
    }

    @app.agent(topics.prepared, name="dedupe")
    async def dedupe(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            prepared = Prepared.from_bytes(event.value)
            with structlog.contextvars.bound_contextvars(
                topic=message.topic, partition=message.partition, offset=message.offset, item_id=prepared.item.id
            ):
                started = time.perf_counter()
                metrics.items_in.labels("dedupe").inc()
                now = datetime.now(UTC)
                try:
                    messages = pipeline.settle(prepared, now)
                except Exception as error:  # noqa: BLE001 - a poison item is dead-lettered, the stream goes on
                    letter = pipeline.fail(prepared, error, now)
                    out = dead_letter_message(letter, settings)
                    await topics.deadletter.send(key=out.key.encode(), value=wiring.encode(out.value))
                    metrics.dead_letters.labels(letter.reason).inc()
                    log.exception("item_dead_lettered", reason=letter.reason, stage=letter.stage)
                    continue
                for out in messages:
                    await by_name[out.topic].send(key=out.key.encode(), value=wiring.encode(out.value))
                    metrics.items_out.labels("dedupe", out.topic).inc()
                    if out.topic == settings.topic("alerts"):
                        metrics.alerts.labels(out.value.rule).inc()
                        log.info("alert_raised", alert_id=out.key, rule=out.value.rule)
                record = messages[0].value
                if record.duplicate_of:
                    metrics.duplicates.labels(record.duplicate_kind).inc()
                for tag in record.tags:
                    metrics.tags.labels(tag.topic).inc()
                metrics.latency.labels("dedupe").observe(time.perf_counter() - started)
                metrics.latency.labels("end_to_end").observe(
                    max(0.0, now.timestamp() - datetime.fromisoformat(prepared.ingested_at).timestamp())
                )
                log.debug("item_routed", to=messages[0].topic, cluster_id=record.cluster_id)

    return dedupe
