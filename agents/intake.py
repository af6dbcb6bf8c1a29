"""The intake agent: decode, validate, clean, fingerprint and tag each raw item, in parallel by partition.

Prepared items go to the dedupe stage in batches: one internal message holds the items of one dedupe shard
(the language's primary subtag) taken together (up to ``intake_batch_items``, waiting at most
``intake_batch_ms`` to fill, and no larger than a producer batch), so the internal hop costs one produce and
one consume per batch instead of per item. A raw message is released for commit only once the broker has
acknowledged the internal message holding its item, or its dead letter (``agents.delivery``). The internal
messages go out through an ``agents.outbox.Outbox``: a batch's messages are complete when it is handed on, so
they are sent at once rather than after the producer's linger.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from agents.batches import take_events
from agents.deadline import Deadline, ItemTimeout
from agents.delivery import Item
from agents.outbox import Outbox
from agents.replay import REPLAY_HEADER
from agents.wiring import Wiring
from pipeline.deadletter import dead_letter
from pipeline.prepared import Prepared, pack_batch, shard_key
from pipeline.records import DeadLetter, Origin

log = structlog.get_logger(__name__)


def _is_replay(headers: Any) -> bool:
    if not headers:
        return False
    items = headers.items() if isinstance(headers, dict) else headers
    return any(name == REPLAY_HEADER and value not in (b"0", b"", None) for name, value in items)


class _Batches:
    """Prepared items grouped by dedupe shard, each group within a byte budget."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._open: dict[str, tuple[list[tuple[bytes, Item]], int]] = {}
        self.full: list[tuple[str, list[tuple[bytes, Item]]]] = []
        """Groups closed because the next record would not fit, in the order they filled."""

    def add(self, shard: str, record: bytes, item: Item) -> None:
        records, size = self._open.get(shard, ([], 0))
        if records and size + len(record) > self._max_bytes:
            self.full.append((shard, records))
            records, size = [], 0
        records.append((record, item))
        self._open[shard] = (records, size + len(record))

    def drain(self) -> list[tuple[str, list[tuple[bytes, Item]]]]:
        """Every group, full ones first; the batcher is empty after."""
        out = self.full + [(shard, records) for shard, (records, _) in self._open.items()]
        self.full, self._open = [], {}
        return out


def register(wiring: Wiring) -> Any:
    """Add the intake agent to the app."""
    pipeline, settings, metrics, delivery = wiring.pipeline, wiring.settings, wiring.metrics, wiring.delivery
    prepared_topic = wiring.topics.prepared.get_topic_name()
    bounded = Deadline(settings.item_timeout_seconds)
    # A refused batch is counted in newsfeed_send_errors_total (on_sent), as a refused send is.
    outbox = Outbox(wiring.app.producer._ensure_producer, metrics.on_sent)  # type: ignore[attr-defined] # noqa: SLF001

    def prepare(event: Any) -> Prepared | DeadLetter:
        """One raw message through the stateless stages."""
        message = event.message
        origin = Origin(message.topic, message.partition, message.offset, _is_replay(message.headers))
        raw = event.value if isinstance(event.value, bytes) else b""
        with wiring.taking(message, "intake"):
            now = datetime.now(UTC)
            try:
                with bounded:
                    return pipeline.prepare(raw, origin, now)
            except ItemTimeout as timeout:
                return dead_letter(
                    raw, origin, reason="item_timeout", detail=f"intake {timeout}", stage="intake", item_id=None,
                    now=now,
                )  # fmt: skip

    async def handle(events: list[Any]) -> None:
        """Prepare a batch of raw events and send it on; the events are released once dedupe has them."""
        items: list[Item] = []
        batches = _Batches(settings.producer_batch_bytes)
        for event in events:
            result = prepare(event)
            if isinstance(result, DeadLetter):
                items.append(await wiring.send_dead_letter(result, stage="intake"))
                continue
            shard = shard_key(result.item.language)
            record = result.to_bytes()
            # Sent alone on a retry: dedupe reads a message without the batch mark as one record (no copy).
            alone = (prepared_topic, shard.encode(), record)
            item = Item([alone], wiring.rejecter(result, stage="intake"), result.item.id)
            batches.add(shard, record, item)
            items.append(item)
        await outbox.learn(prepared_topic)
        for shard, group in batches.drain():
            future = outbox.add(prepared_topic, shard.encode(), pack_batch([record for record, _ in group]))
            for _, item in group:
                item.futures.append(future)
            metrics.child(metrics.items_out, "intake", prepared_topic).inc(len(group))
            metrics.batch_items.observe(len(group))
        # Sent at once: the batch is complete, and a producer linger would only add to every item's latency.
        await outbox.flush()
        await delivery.settle(events, items)

    @wiring.app.agent(wiring.topics.raw, name="intake")
    async def intake(stream: Any) -> None:
        within = settings.intake_batch_ms / 1000
        async for events in take_events(stream, settings.intake_batch_items, within):
            try:
                await handle(events)
            except Exception as error:  # noqa: BLE001 - never released: read again after the restart
                await delivery.fail(events, error)
                return
            if not await delivery.ready():
                return  # stopping

    return intake
