"""The dedupe agent: one shard per language decides unique or copy, raises alerts and routes the outputs.

Each internal message is a batch of prepared items from one intake worker (``pipeline.prepared.pack_batch``);
they are decided in order. Up to ``dedupe_batch_messages`` internal messages are taken together, so a trickle
of small messages shares one changelog wait and one flush of outputs. A batch redelivered after a crash gets
the same decisions: they are stored per id, and their changelog records are acknowledged by the broker before
any output is sent for them. An internal message is released for commit once every output of every item in it
was acknowledged (``agents.delivery``).
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import structlog
from faust.streams import _current_event

from agents.app import ChangelogRefusedError, changelog_errors
from agents.bands import LocalBands
from agents.batches import take_events
from agents.delivery import Item
from agents.logs import bind_item
from agents.outbox import Outbox
from agents.wiring import Wiring
from pipeline.dedupe import DedupeIndex
from pipeline.prepared import Prepared, unpack_batch
from pipeline.records import DeadLetter, Message, Origin

log = structlog.get_logger(__name__)


def register(wiring: Wiring) -> Any:
    """Add the dedupe agent to the app."""
    pipeline, settings, metrics, delivery = wiring.pipeline, wiring.settings, wiring.metrics, wiring.delivery
    tables = wiring.tables
    if tables is None:
        raise ValueError("the dedupe agent needs the dedupe tables")
    alerts_topic = settings.topic("alerts")
    outputs = [settings.topic(name) for name in ("search", "duplicates", "alerts", "deadletter")]
    # Refused batches (outputs and changelog records) are counted in newsfeed_send_errors_total, as refused sends are.
    outbox = Outbox(wiring.app.producer._ensure_producer, metrics.on_sent)  # type: ignore[attr-defined] # noqa: SLF001
    tables.items.outbox = tables.fired.outbox = outbox
    indexes: dict[int, DedupeIndex] = {}
    stores: dict[int, LocalBands] = {}
    unchecked: set[int] = set()

    def index_for(partition: int) -> DedupeIndex:
        """The partition's index; its local bands are checked against the entries after each recovery."""
        index = indexes.get(partition)
        if index is None:
            path = settings.data_dir / "bands" / f"{settings.app_id}-{partition}"
            stores[partition] = LocalBands(path)
            index = indexes[partition] = pipeline.new_index(stores[partition], derived=True)
            unchecked.add(partition)
        if partition in unchecked:
            started = time.perf_counter()
            rebuilt = index.sync_bands()
            unchecked.discard(partition)
            log.info("dedupe_bands_checked", partition=partition, rebuilt=rebuilt,
                     seconds=round(time.perf_counter() - started, 3))  # fmt: skip
        return index

    async def _after_recovery() -> None:
        # Entries may have come from another worker while this one did not hold the partition.
        unchecked.update(indexes)

    tables.items.on_recover(_after_recovery)

    @wiring.app.on_before_shutdown.connect
    async def _persist_bands(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # The local bands have no WAL: written out now, a clean restart finds them in step and rebuilds nothing.
        for partition, store in stores.items():
            store.persist()
            log.info("dedupe_bands_persisted", partition=partition)

    async def settle(event: Any, record: bytes) -> tuple[Item, list[Message]]:
        """Decide one prepared record: its outputs, unsent; what cannot be read or decided is dead-lettered."""
        message = event.message
        with wiring.taking(message, "dedupe"):
            now = datetime.now(UTC)
            try:
                prepared = Prepared.from_bytes(record)
            except Exception as error:  # noqa: BLE001 - not ours to read: dead-letter it and go on
                origin = Origin(message.topic, message.partition, message.offset)
                letter = pipeline.unreadable(record, origin, error, now)
                return await wiring.send_dead_letter(letter, stage="dedupe"), []
            bind_item(item_id=prepared.item.id)
            try:
                index = index_for(message.partition)
                again = index.knows(prepared.item.id)
                messages = pipeline.settle(prepared, now, index)
            except Exception as error:
                log.exception("settle_failed")
                return await wiring.send_dead_letter(pipeline.fail(prepared, error, now), stage="dedupe"), []
            article = messages[0].value
            if isinstance(article, DeadLetter):  # its outputs were refused before: dead-lettered again
                log.warning("item_dead_lettered", item_id=article.item_id, reason=article.reason, again=True)
                return Item([], None, prepared.item.id), messages
            if article.duplicate_of:
                metrics.child(metrics.duplicates, article.duplicate_kind).inc()
            for tag in article.tags:
                metrics.child(metrics.tags, tag.topic).inc()
            for out in messages[1:]:
                if out.topic == alerts_topic:
                    metrics.alerts.labels(out.value.rule).inc()
                    log.info("alert_raised", item_id=article.id, alert_id=out.key, rule=out.value.rule)
            ingested = datetime.fromisoformat(prepared.ingested_at).timestamp()
            metrics.child(metrics.latency, "end_to_end").observe(max(0.0, time.time() - ingested))
            if again:
                # Read again: its first outputs may be out already, so a refusal now must not send it to the
                # dead letter as well; it waits, halted, until the broker takes them (agents.delivery).
                return Item([], None, prepared.item.id), messages
            item = Item(
                [], wiring.rejecter(prepared, stage="dedupe"), prepared.item.id, remember=remember(prepared, event)
            )
            return item, messages

    def remember(prepared: Prepared, event: Any) -> Callable[[bytes], Awaitable[None]]:
        async def rejected(letter: bytes) -> None:
            # Runs in the settle task, which may hold other events too: the record goes to this event's partition.
            with current(event):
                pipeline.remember_rejected(prepared.item.id, letter)
            for error in await changelog_errors(tables):
                raise ChangelogRefusedError(error)

        return rejected

    async def handle(events: list[Any]) -> None:
        """Decide batches of prepared items, then send their outputs once the decisions are in the changelog.

        One changelog wait and one flush of outputs serve them all.
        """
        for topic in outputs:
            await outbox.learn(topic)
        decided: list[tuple[Item, list[Message]]] = []
        for partition, group in by_partition(events):
            # One partition's events, in order. The tables read and write the partition of Faust's current event,
            # which a batch's handler does not have: set to this group's. The index writes its watermark and
            # local bands once a group.
            with current(group[-1]), index_for(partition).batch():
                for event in group:
                    try:
                        records = unpack_batch(event.value)
                    except ValueError:
                        records = [event.value]  # a broken batch: dead-lettered whole, as any unreadable record
                    decided += [await settle(event, record) for record in records]
        # Every output must find its decision in the changelog after a crash or a failover: the changelog
        # records go first, and a refused one stops the worker before anything is sent for it.
        for error in await changelog_errors(tables):
            raise ChangelogRefusedError(error)
        for item, messages in decided:
            wiring.queue_item(messages, item, outbox, stage="dedupe")
        await outbox.flush()
        await delivery.settle(events, [item for item, _ in decided])

    @wiring.app.agent(wiring.topics.prepared, name="dedupe")
    async def dedupe(stream: Any) -> None:
        within = settings.intake_batch_ms / 1000
        async for events in take_events(stream, settings.dedupe_batch_messages, within):
            try:
                await handle(list(events))
            except Exception as error:  # noqa: BLE001 - never released: read again after the restart
                await delivery.fail(events, error)
                return
            if not await delivery.ready():
                return  # stopping

    return dedupe


def by_partition(events: list[Any]) -> list[tuple[int, list[Any]]]:
    """The events grouped by partition, each group in the order it was read."""
    groups: dict[int, list[Any]] = {}
    for event in events:
        groups.setdefault(event.message.partition, []).append(event)
    return list(groups.items())


@contextlib.contextmanager
def current(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event: the tables read and write its partition's store and changelog.

    Faust sets it per event in the task that iterates the stream; batches are filled in another task
    (``agents.batches``), so the handler of a batch has none of its own.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
