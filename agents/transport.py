"""Faust's aiokafka transport, with a configurable fetch wait and without the ways it loses stream records.

Fetch wait. faust-streaming builds its worker consumer with ``fetch_max_wait_ms=1500`` written into the call,
with no setting to change it. When a partition has no new data the broker then holds each fetch open for 1.5 s,
and the other partitions' records wait behind it: a worker goes idle in 1.5 s stalls. ``_ConsumerThread``
applies ``NEWSFEED_FETCH_MAX_WAIT_MS`` to the consumer that Faust builds.

Lost records (faust-streaming 0.15.3, aiokafka 0.14.0). A worker that starts on a backlog sometimes never
handed a record of a stream topic (raw, prepared) to its agent, and then committed past it. Traced in the
worker (see CHANGELOG), the records were fetched, so aiokafka's position was past them, and then thrown away:

1. ``Consumer.getmany`` skips fetched records of a partition that is not in the live ``active_partitions`` set,
   or stops on a generation change or a stopped flow. When recovery pauses its last changelog partitions,
   that set is empty while a fetch is running, and aiokafka's ``fetched_records`` reads an empty set as "every
   partition": the stream partitions' records come back and are skipped.
2. Table recovery resumes the stream partitions and awaits ``perform_seek`` *before* ``flow_control.resume()``,
   and ``resume()`` clears every agent's queue: records delivered in between are dropped from the queues.
3. ``perform_seek`` does not move a partition whose committed offset is 0 (aiokafka's ``seek_to_committed``
   seeks only when the offset is > 0): after ``newsfeed reprocess`` to the start, nothing re-reads them.
4. ``Consumer._new_offset`` commits ``[N+1, ...]`` when ``N`` is committed (it tests ``min(acked) - committed >
   1``, but ``committed`` is the next offset to read) and tests nothing when ``committed`` is 0: a lost record
   is committed past, so even a restart does not read it again.

So here: (1) per partition, ``getmany`` yields a prefix of each batch and seeks back to the first record it
did not yield; (2) the app's flow control (``FlowControl``) tells the consumer the first offset it cleared per
partition, and the consumer seeks back there; (3) ``perform_seek`` seeks a partition to its committed offset
itself, 0 included; (4) ``_new_offset`` never commits past an offset that is neither acknowledged nor a hole
(``next_commit_offset``). A seek back is made only for a partition still assigned and never below the
committed offset; the rest of a batch fetched before it is skipped (it is fetched again), and the read offset
is reset so that the records fetched again are not dropped as already read. Holes in the offsets (transaction
markers, expired or compacted records) are recorded where they are seen, in ``getmany``, instead of by Faust's
``_add_gap``, which counts the record after the hole as done too and after a seek starts one offset late.
Changelog partitions are left to Faust's table recovery: none of this applies to them.

Acknowledgement. A stream message is acknowledged for commit only by ``release``, which ``agents.delivery``
calls once the broker acknowledged every output of its item; Faust's own acks of stream events are dropped
(``_Consumer.ack``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Final

import aiokafka
from aiokafka.errors import IllegalStateError
from faust.exceptions import ConsumerNotStarted
from faust.transport.consumer import ensure_TP
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from faust.types.tuples import ack_lock
from mode.utils.queues import FlowControlEvent

_SEEK_TIMEOUT: Final = 10.0
"""Longest the app's thread waits for the consumer thread to make a seek (it still happens after)."""


def next_commit_offset(acked: Iterable[int], holes: Iterable[tuple[int, int]], committed: int | None) -> int | None:
    """The offset to commit for a partition, or None when nothing new can be committed.

    ``acked`` are the offsets processed since the last commit, ``holes`` the ``[start, end)`` ranges where
    the partition has no record to process, ``committed`` the committed offset (the next offset to read), None
    when the group has none. From ``committed`` on, every offset must be acknowledged or in a hole: the result
    is the first offset that is neither. With no committed offset, it starts at the lowest acknowledged one.
    """
    done = sorted(set(acked))
    if committed is not None:
        done = [offset for offset in done if offset >= committed]
    if not done:
        return None
    position = done[0] if committed is None else committed
    ranges = sorted((start, end) for start, end in holes if end > start)
    index = 0
    moved = True
    while moved:
        moved = False
        while index < len(done) and done[index] < position:
            index += 1
        if index < len(done) and done[index] == position:
            position += 1
            index += 1
            moved = True
            continue
        for start, end in ranges:
            if start <= position < end:
                position = end
                moved = True
                break
    if committed is not None and position <= committed:
        return None
    return position


class FlowControl(FlowControlEvent):
    """The app's flow control: what it clears from the agents' queues is fetched again, not lost."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._app = app

    def clear(self) -> None:
        first: dict[TP, int] = {}
        for queue in self._queues:
            for item in list(getattr(queue, "_queue", ())):
                message = getattr(item, "message", None)
                tp, offset = getattr(message, "tp", None), getattr(message, "offset", None)
                if isinstance(tp, tuple) and isinstance(offset, int):
                    key = ensure_TP(tp)
                    first[key] = min(offset, first.get(key, offset))
        super().clear()
        consumer = getattr(self._app, "_consumer", None)
        if first and isinstance(consumer, _Consumer):
            consumer.rewind_cleared(first)


def call_on_loop(loop: asyncio.AbstractEventLoop, function: Callable[[], None], *, timeout: float) -> bool:
    """Run ``function`` on ``loop`` (another thread's running loop) and wait for it; False if it timed out.

    Run directly when ``loop`` is the caller's own or is not running. An exception from ``function`` is raised
    here. After a timeout the call still runs, later.
    """
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if current is loop or not loop.is_running():
        function()
        return True
    done: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run() -> None:
        try:
            function()
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            done.set_exception(error)
        else:
            done.set_result(None)

    loop.call_soon_threadsafe(run)
    try:
        done.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return False
    return True


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this attribute when it builds its fetcher, in start(); nothing has used it yet.
        consumer._fetch_max_wait_ms = self.app.conf.newsfeed_fetch_max_wait_ms  # noqa: SLF001
        return consumer

    def seek(self, partition: TP, offset: int) -> None:
        """Seek on the consumer's own thread.

        Faust calls aiokafka's ``seek`` from the app's thread, but aiokafka's fetcher is not thread-safe: a seek
        that drops a partition's fetched records while the consumer thread drains them raised ``KeyError`` in
        ``Fetcher.fetched_records`` and crashed the worker (seen on a worker starting on a backlog).
        """
        consumer = self._ensure_consumer()
        if not call_on_loop(self.thread_loop, lambda: consumer.seek(partition, offset), timeout=_SEEK_TIMEOUT):
            self.log.warning("Seek of %s to %s is late: the consumer thread is busy", partition, offset)


class _Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rewinds: Counter[TP] = Counter()  # seeks back per partition: a batch fetched before one is stale
        self._targets: dict[TP, int] = {}  # the offset of the last seek back per partition
        self._reread: set[TP] = set()  # partitions whose read offset is reset before the next record
        self._expected: dict[TP, int] = {}  # the next offset fetched per partition, when known: holes start here
        self._releasing = False  # set while ``release`` acknowledges a stream message

    def ack(self, message: Message) -> bool:
        """Acknowledge a message of a stream topic only through ``release``.

        Faust acknowledges stream events itself: when an agent's loop moves on, in a ``finally`` when it
        raises, and for events its streams skip after a rebalance (a stale generation, a stopped flow) without
        handing them to an agent. Any of these could commit an offset whose item was never delivered. A skipped
        event's partition is read again from its committed offset after the rebalance.
        """
        if self._releasing or not self._is_stream_tp(message.tp):
            return bool(super().ack(message))
        with ack_lock:
            self._unacked_messages.discard(message)
        return False

    def release(self, message: Message) -> None:
        """Every output of ``message`` was acknowledged by the broker: its offset may be committed."""
        with ack_lock:
            self._releasing = True
            try:
                super().ack(message)
            finally:
                self._releasing = False

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _is_stream_tp(self, tp: TP) -> bool:
        return bool(self.app.topics.acks_enabled_for(tp.topic)) and not self._is_changelog_tp(tp)

    def _rewind(self, tp: TP, offset: int, why: str) -> None:
        """Seek ``tp`` back to ``offset`` (not below its committed offset) so its records are fetched again."""
        committed = self._committed_offset[tp]
        if committed is not None:
            offset = max(offset, committed)
        try:
            if tp not in self.assignment():
                return  # revoked: whoever gets it reads from the committed offset
            self._thread.seek(tp, offset)  # made on the consumer's own thread (_ConsumerThread.seek)
        except (IllegalStateError, ConsumerNotStarted):
            return  # revoked meanwhile, or the consumer is stopping
        self._rewinds[tp] += 1
        self._targets[tp] = offset
        self._reread.add(tp)
        self._expected[tp] = offset
        log = self.log.debug if why == "seek to committed" else self.log.info
        log("Fetching %s[%s] again from offset %s: %s", tp.topic, tp.partition, offset, why)

    def rewind_cleared(self, first: Mapping[TP, int]) -> None:
        """Records from these offsets were cleared from the agents' queues: fetch them again."""
        for tp, offset in first.items():
            if self._is_stream_tp(tp):
                self._rewind(tp, offset, "cleared from the agents' queues")

    async def perform_seek(self) -> None:
        """Seek every partition to its committed offset, 0 included (aiokafka skips 0), and re-read from there."""
        committed = await self.seek_to_committed()
        for key, offset in committed.items():
            tp = ensure_TP(key)
            if offset is None or offset < 0:
                self._read_offset[tp] = None
                self._expected.pop(tp, None)
                continue
            self._read_offset[tp] = offset
            self._committed_offset[tp] = offset
            if self._is_stream_tp(tp):
                self._rewind(tp, offset, "seek to committed")

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        tp = ensure_TP(partition)
        self._rewinds[tp] += 1
        self._targets[tp] = offset
        self._reread.discard(tp)
        self._expected.pop(tp, None)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._reread.discard(tp)
            self._expected.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109 - Faust's API
        """Faust's getmany, yielding per partition a prefix of the batch and fetching the rest again."""
        rewinds = dict(self._rewinds)
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            await self.perform_seek()  # as Faust does: everything is read again from the committed offsets
            return
        left = {tp: list(batch) for tp, batch in records.items()}  # not yielded yet, in order
        cut: set[TP] = set()
        try:
            for tp, record in self.scheduler.iterate(records):
                if not self.flow_active or self.app.consumer_generation_id != generation_id:
                    break
                if tp in cut or self._rewinds[tp] != rewinds.get(tp, 0):
                    continue
                if not (active_partitions is None or tp in active_partitions or tp in self._buffered_partitions):
                    cut.add(tp)
                    continue
                try:
                    highwater = self.highwater(tp)
                except IllegalStateError:  # revoked while this batch was drained: its new owner reads it
                    cut.add(tp)
                    continue
                left[tp].pop(0)
                self._before_yield(tp, record.offset)
                self.app.monitor.track_tp_end_offset(tp, highwater)
                yield tp, self._to_message(tp, record)
        finally:
            if not self.should_stop:
                for tp, rest in left.items():
                    if not rest:
                        continue
                    offset = rest[0].offset
                    if self._rewinds[tp] != rewinds.get(tp, 0):
                        # Sought back while this batch was fetched: it may hold records from before or after
                        # that seek, so seek to the lower of the two again (the next fetch starts after it).
                        offset = min(offset, self._targets.get(tp, offset))
                    self._rewind(tp, offset, "fetched, not delivered")

    def _before_yield(self, tp: TP, offset: int) -> None:
        if tp in self._reread:
            # After a seek back the drain loop must not drop the records fetched again as already read.
            self._reread.discard(tp)
            self._read_offset[tp] = None
        expected = self._expected.get(tp)
        if expected is not None and offset > expected and self._is_stream_tp(tp):
            self._add_hole(tp, expected, offset)
        self._expected[tp] = offset + 1

    def _add_hole(self, tp: TP, start: int, end: int) -> None:
        committed = self._committed_offset[tp]
        if committed is not None:
            start = max(start, committed)
        if start < end:
            gaps = self._gap[tp]
            gaps.addi(start, end)
            gaps.merge_overlaps()

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Not used: ``getmany`` records the holes, exactly (see the module docstring)."""

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        if not acked:
            return None
        gaps = self._gap[tp]
        committed = self._committed_offset[tp]
        offset = next_commit_offset(acked, ((gap.begin, gap.end) for gap in gaps), committed)
        if offset is None:
            if committed is not None:  # offsets read again below the committed one are done already
                acked[:] = [acked_offset for acked_offset in acked if acked_offset >= committed]
            return None
        done = [acked_offset for acked_offset in acked if acked_offset < offset]
        acked[:] = sorted(acked_offset for acked_offset in acked if acked_offset >= offset)
        self._acked_index[tp].difference_update(done)
        gaps.chop(0, offset)
        return offset


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport, with a configurable consumer fetch wait and no lost stream records."""

    Consumer = _Consumer
