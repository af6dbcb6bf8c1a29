"""``newsfeed poll FEEDS.txt``: poll feeds over HTTP and publish each new entry once to ``<prefix>.raw``.

Items go out live (no replay header: they may alert), keyed by item id. What was published is remembered per
feed in the compacted topic ``<prefix>.poll-state`` (key: the feed URL), written after the feed's new entries
were acknowledged: a poller on any machine resumes from it, and a crash between the two writes re-sends those
entries once under the same keys (idempotent downstream), never loses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from agents.broker import start_client, started, unreachable_errors
from agents.clients import client_options
from agents.feeds import PathError
from agents.fetch import Fetcher, FetchError, FetchLimits
from agents.poll_web import PollMetrics, serve
from pipeline.decode import Rejected, validate_flat
from pipeline.feeds import Broken, Entry, NotAFeedError, parse_document
from pipeline.polling import FeedListError, FeedSpec, FeedState, backoff_delay, parse_feed_list
from pipeline.settings import Settings

log = structlog.get_logger(__name__)

STATE_TOPIC = "poll-state"
"""``<prefix>.poll-state``: the poller's memory, one compacted record per feed."""


@dataclass(frozen=True, slots=True)
class PollOptions:
    """How ``newsfeed poll`` runs (its command-line options)."""

    interval: float = 300.0
    """Seconds between polls of a feed whose line gives no interval."""
    max_backoff: float = 3600.0
    """Longest wait after repeated errors."""
    limits: FetchLimits = field(default_factory=FetchLimits)
    port: int = 6067
    """Port of ``/health`` and ``/metrics`` (on ``NEWSFEED_WEB_HOST``); not served with ``--once``."""


class PollStateMissingError(RuntimeError):
    """The state topic does not exist: ``newsfeed topics create`` makes it."""


def read_feed_list(path: str) -> list[FeedSpec]:
    """Read and check the feed list before anything connects.

    Raises:
        PathError: the file is missing, unreadable, or has a bad line (named with its number).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PathError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PathError(f"{path}: cannot be read ({error})") from None
    try:
        return parse_feed_list(text)
    except FeedListError as error:
        raise PathError(f"{path}: {error}") from None


async def load_states(settings: Settings) -> dict[str, FeedState]:
    """Read ``<prefix>.poll-state`` from its beginning to its end offsets: the latest state of each feed."""
    topic = settings.topic(STATE_TOPIC)
    admin = AIOKafkaAdminClient(**client_options(settings))
    await start_client(admin, settings)
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if not described or described[0].get("error_code") or not described[0]["partitions"]:
        raise PollStateMissingError(f"the topic {topic} does not exist: run `newsfeed topics create` first")
    partitions = [TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]]
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **client_options(settings))
    await start_client(consumer, settings)
    states: dict[str, FeedState] = {}
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    if record.key is None:
                        continue
                    url = record.key.decode("utf-8", "replace")
                    if record.value is None:
                        states.pop(url, None)  # a tombstone: the feed was forgotten
                    else:
                        states[url] = FeedState.from_bytes(record.value)
    finally:
        await consumer.stop()
    log.info("poll_state_loaded", topic=topic, feeds=len(states))
    return states


@dataclass(slots=True)
class _Poller:
    settings: Settings
    options: PollOptions
    producer: AIOKafkaProducer
    fetcher: Fetcher
    states: dict[str, FeedState]
    metrics: PollMetrics

    async def poll_feed(self, spec: FeedSpec) -> bool:
        """Fetch one feed and publish its new entries; True when the feed was fetched (200 or 304)."""
        state = self.states.setdefault(spec.url, FeedState())
        try:
            fetched = await self.fetcher.fetch(spec.url, state.etag, state.last_modified)
        except FetchError as error:
            return self._failed(spec, error.kind, error.detail)
        if fetched.status == 304 or fetched.body is None:
            state.last_success = time.time()
            self.metrics.succeeded(spec.url, "not_modified", 0)
            log.info("poll_not_modified", feed=spec.url)
            return True
        try:
            document = parse_document(fetched.body)
        except NotAFeedError as error:
            return self._failed(spec, error.reason, error.detail)
        items = []
        for parsed in document.entries:
            if isinstance(parsed, Entry):
                items.append({**parsed.item, "source": spec.source} if spec.source else parsed.item)
            elif isinstance(parsed, Broken):
                log.warning("poll_entry_broken", feed=spec.url, position=parsed.where, reason=parsed.reason)
        new = state.new_entries(items)
        topic = self.settings.topic("raw")
        pending = []
        try:
            for item in reversed(new):  # feeds list the newest first: publish in the order they were written
                data = orjson.dumps(item)
                checked = validate_flat(item, data, self.settings)
                if isinstance(checked, Rejected):  # remembered all the same: it would be refused every time
                    log.warning("poll_entry_rejected", feed=spec.url, reason=checked.reason, detail=checked.detail)
                    continue
                pending.append(await self.producer.send(topic, value=data, key=checked.id.encode()))
            await asyncio.gather(*pending)
            state.etag, state.last_modified = fetched.etag, fetched.last_modified
            state.last_success = time.time()
            state.remember(new, len(items))
            await self.producer.send_and_wait(
                self.settings.topic(STATE_TOPIC), value=state.to_bytes(), key=spec.url.encode()
            )
        except unreachable_errors() as error:
            # Not remembered: the next poll publishes these entries again (same keys), none is lost.
            return self._failed(spec, "publish", repr(error))
        self.metrics.succeeded(spec.url, "ok", len(pending))
        log.info("poll_fetched", feed=spec.url, entries=len(items), new=len(pending), url=fetched.url)
        return True

    def _failed(self, spec: FeedSpec, kind: str, detail: str) -> bool:
        self.metrics.failed(spec.url, kind, detail)
        log.warning("poll_failed", feed=spec.url, kind=kind, detail=detail)
        return False

    async def run_feed(self, spec: FeedSpec, stop: asyncio.Event) -> None:
        """Poll one feed until ``stop``: at its interval, backing off exponentially (with jitter) on errors."""
        interval = spec.interval or self.options.interval
        failures = 0
        while not stop.is_set():
            try:
                ok = await self.poll_feed(spec)
            except Exception as error:  # one feed's surprise (a bug) must not stop the others
                log.exception("poll_feed_crashed", feed=spec.url)
                ok = self._failed(spec, "internal", repr(error))
            failures = 0 if ok else failures + 1
            delay = backoff_delay(failures, interval, max(interval, self.options.max_backoff))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def poll(
    settings: Settings,
    feed_list: str,
    *,
    once: bool = False,
    options: PollOptions | None = None,
    metrics: PollMetrics | None = None,
) -> int:
    """Run the poller; with ``once``, poll every feed one time and return.

    Returns:
        The exit status: 0, or 1 when ``once`` and a feed could not be polled.

    Raises:
        PathError: the feed list is missing or has a bad line (checked before connecting).
        PollStateMissingError: ``<prefix>.poll-state`` does not exist.
    """
    options = options or PollOptions()
    specs = read_feed_list(feed_list)
    metrics = metrics or PollMetrics()
    producer = AIOKafkaProducer(
        **client_options(settings), acks="all", enable_idempotence=True, linger_ms=5,
        max_request_size=settings.max_item_bytes * 4,
    )  # fmt: skip
    async with started(producer, settings), Fetcher(options.limits) as fetcher:
        poller = _Poller(settings, options, producer, fetcher, await load_states(settings), metrics)
        if once:
            results = await asyncio.gather(*(poller.poll_feed(spec) for spec in specs))
            log.info("poll_once_done", feeds=len(specs), failed=results.count(False))
            return 0 if all(results) else 1
        runner = await serve(metrics, settings.web_host, options.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        metrics.ready = True
        log.info("poll_started", feeds=len(specs), port=options.port)
        try:
            await asyncio.gather(*(poller.run_feed(spec, stop) for spec in specs))
        finally:
            await runner.cleanup()
        log.info("poll_stopped")
        return 0
