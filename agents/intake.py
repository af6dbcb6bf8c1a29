"""The intake agent: decode, validate, clean, fingerprint and tag each raw item, in parallel by partition.

Prepared items go to the dedupe stage in batches: one internal message holds the items of one language taken
together (up to ``intake_batch_items``, waiting at most ``intake_batch_ms`` to fill, and no larger than a
producer batch), so the internal hop costs one produce and one consume per batch instead of per item. Faust
acknowledges a batch's raw messages only once the whole batch is handed to the producer, and flushes the
producer before it commits them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from agents.deadline import Deadline, ItemTimeout
from agents.replay import REPLAY_HEADER
from pipeline.deadletter import dead_letter
from pipeline.process import Prepared, pack_batch
from pipeline.records import DeadLetter, Origin

if TYPE_CHECKING:
    from agents.worker import Wiring

log = structlog.get_logger(__name__)


def _is_replay(headers: Any) -> bool:
    if not headers:
        return False
    items = headers.items() if isinstance(headers, dict) else headers
    return any(name == REPLAY_HEADER and value not in (b"0", b"", None) for name, value in items)


class _Batches:
    """Prepared records grouped by language (the dedupe shard key), each group within a byte budget."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._open: dict[str, tuple[list[bytes], int]] = {}
        self.full: list[tuple[str, list[bytes]]] = []
        """Groups closed because the next record would not fit, in the order they filled."""

    def add(self, language: str, record: bytes) -> None:
        records, size = self._open.get(language, ([], 0))
        if records and size + len(record) > self._max_bytes:
            self.full.append((language, records))
            records, size = [], 0
        records.append(record)
        self._open[language] = (records, size + len(record))

    def drain(self) -> list[tuple[str, list[bytes]]]:
        """Every group, full ones first; the batcher is empty after."""
        out = self.full + [(language, records) for language, (records, _) in self._open.items()]
        self.full, self._open = [], {}
        return out


def register(wiring: Wiring) -> Any:
    """Add the intake agent to the app."""
    pipeline, settings, metrics = wiring.pipeline, wiring.settings, wiring.metrics
    prepared_topic = wiring.topics.prepared.get_topic_name()
    bounded = Deadline(settings.item_timeout_seconds)

    async def prepare(event: Any) -> Prepared | None:
        """One raw message through the stateless stages; a dead letter is sent here and None returned."""
        message = event.message
        origin = Origin(message.topic, message.partition, message.offset, _is_replay(message.headers))
        raw = event.value if isinstance(event.value, bytes) else b""
        with wiring.taking(message, "intake"):
            now = datetime.now(UTC)
            try:
                with bounded:
                    result = pipeline.prepare(raw, origin, now)
            except ItemTimeout as timeout:
                result = dead_letter(
                    raw, origin, reason="item_timeout", detail=f"intake {timeout}", stage="intake", item_id=None,
                    now=now,
                )  # fmt: skip
            if isinstance(result, DeadLetter):
                await wiring.send_dead_letter(result, stage="intake")
                return None
            return result

    @wiring.app.agent(wiring.topics.raw, name="intake")
    async def intake(stream: Any) -> None:
        within = settings.intake_batch_ms / 1000
        async for events in stream.take_events(settings.intake_batch_items, within=within):
            batches = _Batches(settings.producer_batch_bytes)
            for event in events:
                prepared = await prepare(event)
                if prepared is not None:
                    batches.add(prepared.item.language, prepared.to_bytes())
            for language, records in batches.drain():
                await wiring.send(prepared_topic, language.encode(), pack_batch(records))
                metrics.items_out.labels("intake", prepared_topic).inc(len(records))
                metrics.batch_items.observe(len(records))

    return intake
