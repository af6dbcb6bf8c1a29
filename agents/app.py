"""The one place that builds the Faust app and the Kafka clients, from the settings object."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP
from mode.utils.objects import cached_property

from agents.assignor import BalancedAssignor, shard_load
from agents.clients import bootstrap_servers, client_options, group_id, prepared_topic, ssl_context
from agents.outbox import Outbox
from agents.transport import FlowControl, Transport
from pipeline.settings import Settings

_DAY_SECONDS = 86_400.0


class NewsfeedApp(faust.App):
    """A Faust app with the transport and flow control of ``agents.transport`` (fetch wait, no lost records)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_stop: list[Callable[[], Awaitable[None]]] = []
        """Run first when the app stops, before Faust waits for every event in flight to be acknowledged."""

    async def on_stop(self) -> None:
        for hook in self.before_stop:
            await hook()
        await super().on_stop()

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)

    @cached_property
    def flow_control(self) -> FlowControl:
        """Faust's flow control, except that what it clears from the agents' queues is fetched again."""
        return FlowControl(self, loop=self.loop)


class _Stream(faust.Stream):  # type: ignore[type-arg]
    """Faust's stream, always on its Python iterator.

    The Cython iterator (``faust._cython.streams``) acknowledges events by writing the consumer's acked
    offsets itself, past ``Consumer.ack``: ``agents.transport`` could not keep it from committing an event
    whose outputs were not delivered yet.
    """

    def __aiter__(self) -> Any:
        iterator = self._py_aiter()
        self._active_agens.add(iterator)  # type: ignore[arg-type] # an async generator, typed as an iterator
        return iterator


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics the worker reads and writes."""

    raw: faust.TopicT
    prepared: faust.TopicT
    search: faust.TopicT
    duplicates: faust.TopicT
    alerts: faust.TopicT
    deadletter: faust.TopicT


class ChangelogRefusedError(RuntimeError):
    """The broker refused a table's changelog record: nothing may be sent for the decision it holds."""


class _Table(faust.Table):  # type: ignore[type-arg]
    """A Faust table that keeps the futures of the changelog records it sends until they are awaited.

    With an ``outbox`` (the dedupe agent's), a changelog record is appended to a producer batch instead of
    going through Faust's per-message buffer; ``changelog_errors`` sends the batches.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unsent: list[asyncio.Future[Any]] = []
        self.outbox: Outbox | None = None

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        future = super().send_changelog(*args, **kwargs)
        self.unsent.append(future)
        return future

    def on_key_set(self, key: Any, value: Any) -> None:
        partition = self.partition_for_key(key)
        if self.outbox is None or partition is None:
            super().on_key_set(key, value)
            return
        self._batched(partition, key, value, self.value_serializer)
        self._maybe_set_key_ttl(key, partition)
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        partition = self.partition_for_key(key)
        if self.outbox is None or partition is None:
            super().on_key_del(key)
            return
        self._batched(partition, key, None, "raw")
        self._maybe_del_key_ttl(key, partition)
        self._sensor_on_del(self, key)

    def _batched(self, partition: int, key: Any, value: Any, value_serializer: Any) -> None:
        """The changelog record into the outbox's batch of the changelog partition (what ``send_changelog``
        would send, serialised the same way)."""
        assert self.outbox is not None
        topic = self.changelog_topic
        key_bytes, _ = topic.prepare_key(key, self.key_serializer)
        value_bytes, _ = topic.prepare_value(value, value_serializer)
        future = self.outbox.add(topic.get_topic_name(), key_bytes, value_bytes, partition)
        if not self.unsent or self.unsent[-1] is not future:  # a batch's records share its future
            future.add_done_callback(self._persisted)
            self.unsent.append(future)

    def _persisted(self, future: asyncio.Future[Any]) -> None:
        # Faust's callback keeps the changelog offset the local store holds (read on recovery). A batch's
        # metadata names its first record: recovery may then apply a few records again, which changes nothing.
        if not future.cancelled() and future.exception() is None:
            self._on_changelog_sent(future)  # type: ignore[arg-type] # reads .result() as FutureMessage does


@dataclass(frozen=True, slots=True)
class Tables:
    """The dedupe and alert state: RocksDB stores backed by changelog topics."""

    items: Any
    fired: Any


async def changelog_errors(tables: Tables) -> list[BaseException]:
    """Wait for every changelog record the tables sent since the last call; the errors of those refused."""
    for outbox in {table.outbox for table in (tables.items, tables.fired) if table.outbox is not None}:
        await outbox.flush()  # the tables share the dedupe agent's outbox: flushed once
    futures = tables.items.unsent + tables.fired.unsent
    if not futures:
        return []
    # Left in the lists until done: another task waiting meanwhile (a remembered dead letter's) waits for them too.
    results = await asyncio.gather(*futures, return_exceptions=True)
    tables.items.unsent = [future for future in tables.items.unsent if not future.done()]
    tables.fired.unsent = [future for future in tables.fired.unsent if not future.done()]
    return [result for result in results if isinstance(result, BaseException)]


def _credentials(settings: Settings) -> Any:
    context = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get() if settings.sasl_password else None,
            mechanism=settings.sasl_mechanism or "PLAIN",
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def build_app(settings: Settings) -> NewsfeedApp:
    """Build the Faust app: no agents yet; ``agents.worker.build`` adds topics, tables and agents."""
    app = NewsfeedApp(
        group_id(settings),
        broker=settings.broker,
        broker_credentials=_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir),
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        # At-least-once with outputs idempotent by key (see README "Delivery"). Faust's exactly_once was tried
        # on faust-streaming 0.15.3 with Kafka 4.1: the dedupe agent received nothing from the prepared topic.
        processing_guarantee="at_least_once",
        topic_partitions=settings.dedupe_partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_seconds,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.heartbeat_interval_seconds,
        broker_request_timeout=max(40.0, settings.session_timeout_seconds + 5),
        broker_rebalance_timeout=max(20.0, settings.session_timeout_seconds * 2),
        producer_linger_ms=settings.producer_linger_ms,
        producer_max_batch_size=settings.producer_batch_bytes,
        producer_max_request_size=max(settings.max_item_bytes * 4, settings.producer_batch_bytes),
        consumer_max_fetch_size=settings.max_item_bytes * 2,
        web_enabled=settings.web_enabled,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        worker_redirect_stdouts=False,
        table_cleanup_interval=3600.0,
        PartitionAssignor=BalancedAssignor,
        Table=_Table,
        Stream=_Stream,
    )
    app.conf.newsfeed_fetch_max_wait_ms = settings.fetch_max_wait_ms
    app.conf.newsfeed_shard_load = shard_load(
        settings.topic("raw"), prepared_topic(settings), settings.raw_partitions, settings.dedupe_partitions
    )
    return app


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    """Declare the public topics and the internal prepared stream on ``app``."""

    def public(name: str, *, partitions: int | None = None, days: float, compacted: bool = False) -> faust.TopicT:
        return app.topic(
            settings.topic(name),
            partitions=partitions,
            retention=days * _DAY_SECONDS,
            compacting=compacted or None,
            deleting=True,
            replicas=settings.replication_factor,
            internal=True,
        )

    return Topics(
        raw=public("raw", partitions=settings.raw_partitions, days=settings.raw_retention_days),
        prepared=app.topic(
            prepared_topic(settings),
            partitions=settings.dedupe_partitions,
            retention=settings.raw_retention_days * _DAY_SECONDS,
            replicas=settings.replication_factor,
            internal=True,
        ),
        search=public("search", partitions=settings.raw_partitions, days=settings.output_retention_days),
        duplicates=public("duplicates", partitions=settings.raw_partitions, days=settings.output_retention_days),
        alerts=public("alerts", partitions=1, days=settings.output_retention_days),
        deadletter=public("deadletter", partitions=1, days=settings.deadletter_retention_days),
    )


def declare_tables(app: faust.App, settings: Settings) -> Tables:
    """Declare the dedupe index and the alert ledger: co-partitioned with the prepared stream."""

    def table(name: str) -> Any:
        return app.Table(
            name,
            partitions=settings.dedupe_partitions,
            key_type=str,
            value_type=bytes,
            help=f"newsfeed {name}",
        )

    # The LSH band buckets are derived from the items and kept locally (agents/bands.py), not in a table.
    return Tables(items=table("dedupe-items"), fired=table("alerts-fired"))


__all__ = [
    "TP",
    "ChangelogRefusedError",
    "NewsfeedApp",
    "Tables",
    "Topics",
    "bootstrap_servers",
    "build_app",
    "changelog_errors",
    "client_options",
    "declare_tables",
    "declare_topics",
    "group_id",
    "prepared_topic",
]
