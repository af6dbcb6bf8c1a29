"""``newsfeed index``: a sink from ``<prefix>.search`` and ``<prefix>.duplicates`` into the local search index.

A plain aiokafka consumer, not a Faust agent: it keeps no state but the index. It reads every partition of both
topics (each index holds everything), upserts articles by id, and commits the index with the offsets it reflects
(``pipeline/search_index.py``); only then are the consumer group's offsets committed, which tells operators the
lag. On start it resumes from the offsets in the index itself, so a crash between the two commits repeats
nothing, and an index directory that was removed is rebuilt from the topics' beginning.

When to commit: every ``index_commit_items`` articles, and every ``index_commit_seconds`` once the indexer has
read what the topics held (so a search sees a new article within that time). While it works through a backlog,
the time bound is :data:`BACKLOG_COMMIT_SECONDS`: each commit writes a segment, and small segments cost their
writing and then their merging again (indexing 40,000 articles in commits of 2,000 took 410-480 us of CPU per
article, in commits of 20,000 350-380 us), CPU a backlog is better spent indexing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from agents.clients import bootstrap_servers, client_options
from pipeline.search import Kind, NotAnArticleError, index_entry
from pipeline.search_index import SearchIndex
from pipeline.settings import Settings

log = structlog.get_logger(__name__)

_FETCH_WAIT_MS = 200
_FETCH_MAX_RECORDS = 2000
BACKLOG_COMMIT_SECONDS = 30.0
"""Longest time between two commits while the indexer is behind the topics (their high watermarks)."""


class IndexStartError(RuntimeError):
    """The indexer cannot start: the message says why and what to check (one line, no traceback)."""


@dataclass(slots=True)
class _Pending:
    """What was written to the index since its last commit."""

    offsets: dict[TopicPartition, int]
    articles: int = 0
    skipped: int = 0
    since: float = 0.0


async def run_index(settings: Settings, *, stop: asyncio.Event | None = None, once: bool = False) -> dict[str, int]:
    """Index the search and duplicates topics until ``stop`` is set (or SIGTERM / SIGINT arrive).

    With ``once``, stop as well when everything the topics held at the start is indexed and committed.

    Returns:
        Counts of this run: articles indexed, messages skipped, commits.

    Raises:
        IndexStartError: the index is locked by another indexer, the broker cannot be reached, or a topic is
            missing.
    """
    stop = stop or asyncio.Event()
    try:
        index = SearchIndex.open(settings.search_index_dir, writable=True)
    except ValueError as error:  # tantivy: LockBusy when another writer holds the directory
        raise IndexStartError(f"cannot open the index in {settings.search_index_dir} for writing: {error}") from None
    consumer = AIOKafkaConsumer(
        group_id=settings.search_index_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=max(settings.max_item_bytes * 2, 1_048_576),
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        **client_options(settings),
    )
    totals = {"indexed": 0, "skipped": 0, "commits": 0}
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await _start(consumer, settings)
        held = index.offsets()
        partitions = await _assign(consumer, held, settings)
        log.info(
            "index_started", directory=str(settings.search_index_dir), group=settings.search_index_group,
            partitions=len(partitions), created=index.created, stories=index.count("story"),
        )  # fmt: skip
        ends = await consumer.end_offsets(partitions) if once else {}
        pending = _Pending(offsets={})
        while not stop.is_set():
            batch = await _fetch(consumer, stop)
            for tp, records in batch.items():
                for record in records:
                    _apply(index, record, pending)
                    pending.offsets[tp] = record.offset + 1
                    if pending.articles >= settings.index_commit_items:
                        await _commit(index, consumer, pending, held, totals)
                        pending = _Pending(offsets={})
            if pending.offsets and await _commit_due(consumer, partitions, pending, settings):
                await _commit(index, consumer, pending, held, totals)
                pending = _Pending(offsets={})
            if once and all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                stop.set()
        if pending.offsets:
            await _commit(index, consumer, pending, held, totals)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await consumer.stop()
        index.close()
    log.info("index_stopped", **totals)
    return totals


async def _start(consumer: AIOKafkaConsumer, settings: Settings) -> None:
    # aiokafka logs each failed connection at error level before it gives up: the one line below says it all.
    library = logging.getLogger("aiokafka")
    level = library.level
    library.setLevel(logging.CRITICAL)
    try:
        await consumer.start()
    except KafkaConnectionError:
        raise IndexStartError(
            f"cannot reach the Kafka broker at {', '.join(bootstrap_servers(settings))} (NEWSFEED_BROKER): check "
            "that it runs and that the address and security settings are right"
        ) from None
    finally:
        library.setLevel(level)


async def _assign(consumer: AIOKafkaConsumer, held: dict[str, int], settings: Settings) -> list[TopicPartition]:
    """Take every partition of both topics and place each at the offset the index holds (else the beginning)."""
    names = [settings.topic("search"), settings.topic("duplicates")]
    # The consumer's metadata holds no topic before it is assigned one: ask the broker how many partitions.
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        described = {topic["topic"]: topic for topic in await admin.describe_topics(names)}
    finally:
        await admin.close()
    partitions: list[TopicPartition] = []
    for name in names:
        topic = described.get(name)
        if topic is None or topic.get("error_code") or not topic.get("partitions"):
            raise IndexStartError(f"topic {name} does not exist: run `newsfeed topics create` (NEWSFEED_TOPIC_PREFIX)")
        partitions.extend(sorted(TopicPartition(name, p["partition"]) for p in topic["partitions"]))
    consumer.assign(partitions)
    unheld = [tp for tp in partitions if _key(tp) not in held]
    if unheld:  # the index holds nothing of these: whatever the group committed, read them from the start
        await consumer.seek_to_beginning(*unheld)
    for tp in partitions:
        if _key(tp) in held:
            consumer.seek(tp, held[_key(tp)])
    return partitions


async def _fetch(consumer: AIOKafkaConsumer, stop: asyncio.Event) -> dict[TopicPartition, list[ConsumerRecord]]:
    fetch = asyncio.ensure_future(consumer.getmany(timeout_ms=_FETCH_WAIT_MS, max_records=_FETCH_MAX_RECORDS))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not fetch.done():  # stopping: records not yet handed over are fetched again on the next start
        fetch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await fetch
        return {}
    records: dict[TopicPartition, list[ConsumerRecord]] = fetch.result()
    return records


async def _commit_due(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], pending: _Pending, settings: Settings
) -> bool:
    """Whether the articles written since the last commit have waited long enough (see the module's docstring)."""
    waited = time.monotonic() - pending.since
    if waited >= max(settings.index_commit_seconds, BACKLOG_COMMIT_SECONDS):
        return True
    if waited < settings.index_commit_seconds:
        return False
    return not await _behind(consumer, partitions)


async def _behind(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> bool:
    """Whether a partition holds records the consumer has not handed over yet, as far as the last fetch tells."""
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is not None and await consumer.position(tp) < highwater:
            return True
    return False


def _apply(index: SearchIndex, record: ConsumerRecord, pending: _Pending) -> None:
    if not pending.offsets:
        pending.since = time.monotonic()
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    if record.value is None:  # a tombstone removes the article
        if key:
            index.delete(key)
        return
    kind: Kind = "copy" if record.topic.endswith(".duplicates") else "story"
    try:
        index.upsert(index_entry(orjson.loads(record.value), kind=kind))
    except (orjson.JSONDecodeError, NotAnArticleError, TypeError, AttributeError) as error:
        pending.skipped += 1
        log.warning(
            "index_message_skipped", topic=record.topic, partition=record.partition, offset=record.offset, key=key,
            error=str(error),
        )  # fmt: skip
        return
    pending.articles += 1


async def _commit(
    index: SearchIndex, consumer: AIOKafkaConsumer, pending: _Pending, held: dict[str, int], totals: dict[str, int]
) -> None:
    started = time.monotonic()
    # The index first, with the offsets it reflects; the group's offsets only after, and only as information:
    # a failure to commit them loses nothing (the next commit carries later ones).
    held.update({_key(tp): offset for tp, offset in pending.offsets.items()})
    await asyncio.to_thread(index.commit, held)
    try:
        await consumer.commit(dict(pending.offsets))
    except KafkaError as error:
        log.warning("index_group_commit_failed", error=repr(error))
    totals["indexed"] += pending.articles
    totals["skipped"] += pending.skipped
    totals["commits"] += 1
    log.info(
        "index_committed", articles=pending.articles, skipped=pending.skipped,
        ms=round((time.monotonic() - started) * 1000, 1),
    )  # fmt: skip


def _key(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"
