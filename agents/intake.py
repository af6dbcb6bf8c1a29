"""The intake agent: decode, validate, clean, fingerprint and tag each raw item, in parallel by partition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from agents.deadline import ItemTimeout, deadline
from agents.replay import REPLAY_HEADER
from pipeline.deadletter import dead_letter
from pipeline.records import DeadLetter, Origin

if TYPE_CHECKING:
    from agents.worker import Wiring

log = structlog.get_logger(__name__)


def _is_replay(headers: Any) -> bool:
    if not headers:
        return False
    items = headers.items() if isinstance(headers, dict) else headers
    return any(name == REPLAY_HEADER and value not in (b"0", b"", None) for name, value in items)


def register(wiring: Wiring) -> Any:
    """Add the intake agent to the app."""
    pipeline, settings, metrics = wiring.pipeline, wiring.settings, wiring.metrics
    prepared_topic = wiring.topics.prepared.get_topic_name()

    @wiring.app.agent(wiring.topics.raw, name="intake")
    async def intake(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            origin = Origin(message.topic, message.partition, message.offset, _is_replay(message.headers))
            raw = event.value if isinstance(event.value, bytes) else b""
            with wiring.taking(message, "intake"):
                now = datetime.now(UTC)
                try:
                    with deadline(settings.item_timeout_seconds):
                        result = pipeline.prepare(raw, origin, now)
                except ItemTimeout as timeout:
                    result = dead_letter(
                        raw, origin, reason="item_timeout", detail=f"intake {timeout}", stage="intake",
                        item_id=None, now=now,
                    )  # fmt: skip
                if isinstance(result, DeadLetter):
                    await wiring.send_dead_letter(result, stage="intake")
                    continue
                await wiring.send(prepared_topic, result.item.language.encode(), result.to_bytes())
                metrics.items_out.labels("intake", prepared_topic).inc()

    return intake
