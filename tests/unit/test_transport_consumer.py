"""The four ways faust-streaming loses stream records (agents/transport.py), each shown and shown fixed.

Each failure mode has two tests. One, marked ``upstream_bug``, runs Faust's stock consumer class
(``faust.transport.drivers.aiokafka.Consumer``) and passes by asserting the loss: the records are never handed to
an agent, or a commit passes a record that was not processed. The other runs the same steps with our consumer
(``agents.transport._Consumer`` and ``FlowControl``) and fails if the override that fixes that mode is removed.
When a faust-streaming release fixes a mode, its stock test fails: the override can then go.

No broker: the consumer's thread is replaced by ``_FakeKafka``, aiokafka as that thread presents it. Records go
through Faust's own fetch loop (``Consumer._drain_messages``) to a callback that stands for the agents.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from agents.app import build_app
from agents.transport import _Consumer
from pipeline.settings import Settings

# faust's app and consumer services make event loops of their own that they never close; collect them here,
# where the warning is expected (as tests/unit/test_app.py does).
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

RAW = TP("news.raw", 0)  # a stream partition: its topic is read by an agent, with acks
CHANGELOG = TP("newsfeed-dedupe-items-changelog", 0)  # a table's changelog partition, read by recovery
_BATCH = 3  # records per partition per fetch


@pytest.fixture(autouse=True)
def _collect_faust_loops() -> Iterator[None]:
    yield
    gc.collect()


class _FakeKafka:
    """aiokafka's consumer as Faust's consumer thread presents it: a log, a fetch position and a committed offset
    per assigned partition.

    As in aiokafka, a fetch moves the position past the records it returns, whether Faust hands them on or not,
    an empty set of partitions to fetch means every partition, and ``seek_to_committed`` moves only the
    partitions whose committed offset is > 0.
    """

    def __init__(self, ends: Mapping[TP, int], committed: Mapping[TP, int]) -> None:
        self.ends = dict(ends)  # records at offsets 0 .. end - 1
        self.committed = dict(committed)
        self.position = {tp: self.committed.get(tp, 0) for tp in ends}
        self.during_fetch: Callable[[], None] | None = None  # runs once, while the next fetch is in flight
        self.fetches_left = 0
        self.fetcher_stopped = asyncio.Event()

    async def getmany(
        self,
        active_partitions: set[TP] | None,
        timeout: float,  # noqa: ASYNC109 - the signature of Faust's consumer thread
    ) -> dict[TP, list[ConsumerRecord[Any, Any]]]:
        hook, self.during_fetch = self.during_fetch, None
        if hook is not None:
            hook()
        self.fetches_left -= 1
        if self.fetches_left <= 0:
            self.fetcher_stopped.set()
        records = {}
        for tp, end in self.ends.items():
            if active_partitions and tp not in active_partitions:
                continue
            start = self.position[tp]
            stop = min(start + _BATCH, end)
            if start < stop:
                records[tp] = [_record(tp, offset) for offset in range(start, stop)]
                self.position[tp] = stop
        await asyncio.sleep(0)
        return records

    def seek(self, tp: TP, offset: int) -> None:
        self.position[tp] = offset

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int:
        return self.ends[tp]

    async def seek_to_committed(self) -> dict[TP, int]:
        for tp, offset in self.committed.items():
            if offset > 0:  # aiokafka's seek_to_committed: `if offset and offset > 0`
                self.position[tp] = offset
        return dict(self.committed)

    async def commit(self, offsets: Mapping[TP, int]) -> bool:
        self.committed.update(offsets)
        return True


def _record(tp: TP, offset: int) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=1_700_000_000_000,
        timestamp_type=0,
        key=None,
        value=b"{}",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=2,
        headers=(),
    )


@dataclass
class _Worker:
    """A consumer on a fake Kafka, and what it handed to the agents."""

    consumer: Any
    kafka: _FakeKafka
    flow_control: FlowControlEvent
    agent_queue: FlowControlQueue[Any]
    delivered: list[Message] = field(default_factory=list)

    async def fetch(self, times: int = 1) -> list[int]:
        """Run Faust's fetch loop for ``times`` fetches; the offsets of ``RAW`` it handed to the agents."""
        start = len(self.delivered)
        self.kafka.fetches_left = times
        self.kafka.fetcher_stopped = asyncio.Event()
        fetcher = SimpleNamespace(_stopped=self.kafka.fetcher_stopped)
        await asyncio.wait_for(self.consumer._drain_messages(fetcher), timeout=5)
        return [message.offset for message in self.delivered[start:] if message.tp == RAW]


_MakeWorker = Callable[..., Awaitable[_Worker]]


@pytest.fixture
def make_worker() -> _MakeWorker:
    """A factory of workers: Faust's stock consumer (``stock=True``) or ours, on a fake Kafka."""

    async def make(*, stock: bool, ends: Mapping[TP, int], committed: Mapping[TP, int]) -> _Worker:
        app = build_app(Settings.from_env({}))
        app.topics.add(app.topic(RAW.topic))  # an agent's topic: acks enabled
        await app.topics._update_indices()  # type: ignore[attr-defined]  # the Conductor's, not in ConductorT
        loop = asyncio.get_running_loop()
        flow_control = FlowControlEvent(initially_suspended=False, loop=loop) if stock else app.flow_control
        agent_queue: FlowControlQueue[Any] = FlowControlQueue(flow_control=flow_control, clear_on_resume=True)
        delivered: list[Message] = []

        async def to_agents(message: Message) -> None:
            delivered.append(message)
            agent_queue.put_nowait(app.create_event(message.key, message.value, message.headers, message))

        async def on_rebalance(*args: Any) -> None:
            return None

        consumer_class = faust_aiokafka.Consumer if stock else _Consumer
        consumer = consumer_class(
            app.transport,
            callback=to_agents,
            on_partitions_revoked=on_rebalance,
            on_partitions_assigned=on_rebalance,
            loop=loop,
        )
        kafka = _FakeKafka(ends, committed)
        consumer._thread = kafka  # type: ignore[assignment]  # the fake stands for the consumer thread
        app._consumer = consumer
        consumer._set_active_tps(set(ends))
        await consumer.perform_seek()  # as recovery does before it resumes the streams
        return _Worker(consumer, kafka, flow_control, agent_queue, delivered)

    return make


# 1. getmany skips records of a partition missing from the live active set; aiokafka reads an empty set as "all".


async def _pause_the_last_changelog_partition_during_a_fetch(worker: _Worker) -> tuple[list[int], list[int]]:
    """Recovery reads the changelog, the stream partition paused; the fetch in flight when recovery pauses the
    changelog partition too returns the stream's records. Recovery then resumes the stream partition."""
    worker.consumer.pause_partitions({RAW})
    worker.kafka.during_fetch = lambda: worker.consumer.pause_partitions({CHANGELOG})
    during = await worker.fetch()
    worker.consumer.resume_partitions({RAW})
    return during, await worker.fetch()


@pytest.mark.upstream_bug
async def test_stock_getmany_skips_records_fetched_while_no_partition_is_active(make_worker: _MakeWorker) -> None:
    worker = await make_worker(stock=True, ends={RAW: 6, CHANGELOG: 0}, committed={RAW: 0, CHANGELOG: 0})
    during, after = await _pause_the_last_changelog_partition_during_a_fetch(worker)
    assert during == []  # fetched (aiokafka's position moved past them) and skipped
    assert after == [3, 4, 5]  # 0, 1 and 2 are never handed to the agent


async def test_getmany_fetches_again_the_records_it_skips(make_worker: _MakeWorker) -> None:
    """Guards ``_Consumer.getmany``: a partition's records not yielded are sought back to."""
    worker = await make_worker(stock=False, ends={RAW: 6, CHANGELOG: 0}, committed={RAW: 0, CHANGELOG: 0})
    during, after = await _pause_the_last_changelog_partition_during_a_fetch(worker)
    assert during == []
    assert after == [0, 1, 2]


# 2. Flow control clears the agents' queues after records were delivered to them.


async def _deliver_then_resume_the_flow(worker: _Worker) -> tuple[list[int], list[int]]:
    """Recovery resumes the stream partitions and awaits perform_seek, meanwhile the fetcher delivers records to
    the agents' queues; then ``flow_control.resume()`` clears those queues."""
    before = await worker.fetch()
    worker.flow_control.resume()
    assert worker.agent_queue.empty()
    return before, await worker.fetch()


@pytest.mark.upstream_bug
async def test_stock_flow_control_drops_records_already_in_the_agents_queues(make_worker: _MakeWorker) -> None:
    worker = await make_worker(stock=True, ends={RAW: 6}, committed={RAW: 0})
    before, after = await _deliver_then_resume_the_flow(worker)
    assert before == [0, 1, 2]
    assert after == [3, 4, 5]  # 0, 1 and 2 were cleared from the queue and are not fetched again


async def test_flow_control_has_the_records_it_clears_fetched_again(make_worker: _MakeWorker) -> None:
    """Guards ``FlowControl.clear``: the first offset cleared per partition is sought back to."""
    worker = await make_worker(stock=False, ends={RAW: 6}, committed={RAW: 0})
    before, after = await _deliver_then_resume_the_flow(worker)
    assert before == [0, 1, 2]
    assert after == [0, 1, 2]


# 3. perform_seek does not move a partition committed at 0.


async def _fetch_while_the_flow_stops(worker: _Worker) -> tuple[list[int], list[int]]:
    """A rebalance stops the flow while a fetch is in flight: Faust's getmany hands nothing on and calls
    perform_seek, so that everything is read again from the committed offsets once the flow resumes."""
    worker.kafka.during_fetch = worker.consumer.stop_flow
    during = await worker.fetch()
    worker.consumer.resume_flow()
    return during, await worker.fetch()


@pytest.mark.upstream_bug
async def test_stock_perform_seek_leaves_a_partition_committed_at_zero_where_it_is(make_worker: _MakeWorker) -> None:
    worker = await make_worker(stock=True, ends={RAW: 9}, committed={RAW: 0})
    during, after = await _fetch_while_the_flow_stops(worker)
    assert during == []
    assert after == [3, 4, 5]  # not read again from 0: 0, 1 and 2 are lost
    # Committed at 3, the same steps do read again from the committed offset.
    worker = await make_worker(stock=True, ends={RAW: 9}, committed={RAW: 3})
    assert await _fetch_while_the_flow_stops(worker) == ([], [3, 4, 5])


@pytest.mark.parametrize("committed", [0, 3])
async def test_perform_seek_moves_every_partition_to_its_committed_offset(
    make_worker: _MakeWorker, committed: int
) -> None:
    """Guards ``_Consumer.perform_seek``: it seeks itself, 0 included."""
    worker = await make_worker(stock=False, ends={RAW: 9}, committed={RAW: committed})
    during, after = await _fetch_while_the_flow_stops(worker)
    assert during == []
    assert after == [committed, committed + 1, committed + 2]


# 4. _new_offset commits past a record that is not acknowledged (faust-streaming #606): its test
#    ``min(acked) - committed > 1`` reads the committed offset as the last one processed, though it is the next
#    one to read, and is skipped when the committed offset is 0.


async def _ack_all_but_the_first_and_commit(worker: _Worker) -> int:
    """The agent finished every record of a fetch but the first (still processing, or lost); the commit timer
    fires. Returns the partition's committed offset afterwards."""
    delivered = await worker.fetch()
    assert len(delivered) == _BATCH
    for message in worker.delivered[1:]:
        _acknowledge(worker, message)
    await worker.consumer.commit()
    return worker.kafka.committed[RAW]


@pytest.mark.upstream_bug
@pytest.mark.parametrize("committed", [0, 3])
async def test_stock_commit_passes_a_record_not_acknowledged(make_worker: _MakeWorker, committed: int) -> None:
    worker = await make_worker(stock=True, ends={RAW: 9}, committed={RAW: committed})
    assert await _ack_all_but_the_first_and_commit(worker) == committed + _BATCH  # past the unfinished record


@pytest.mark.parametrize("committed", [0, 3])
async def test_commit_stops_at_the_first_record_not_acknowledged(make_worker: _MakeWorker, committed: int) -> None:
    """Guards ``_Consumer._new_offset``: nothing is committed past an offset neither acknowledged nor a hole."""
    worker = await make_worker(stock=False, ends={RAW: 9}, committed={RAW: committed})
    assert await _ack_all_but_the_first_and_commit(worker) == committed
    _acknowledge(worker, worker.delivered[0])
    await worker.consumer.commit()
    assert worker.kafka.committed[RAW] == committed + _BATCH


def _acknowledge(worker: _Worker, message: Any) -> None:
    """How a delivered record is acknowledged: by Faust's ``ack`` on the stock consumer, by ``release`` on ours."""
    consumer: Any = worker.consumer
    if hasattr(consumer, "release"):
        consumer.release(message)
    else:
        assert consumer.ack(message)


# 5. Faust acknowledges stream events itself: when an agent's loop moves on or raises, and for events its streams
#    skip after a rebalance. Ours counts only ``release`` (called once every output was acknowledged).


async def test_faust_acks_of_stream_events_are_not_committed(make_worker: _MakeWorker) -> None:
    """Guards ``_Consumer.ack``: an event Faust acks (skipped, or its agent raised) is read again, not committed."""
    worker = await make_worker(stock=False, ends={RAW: 9}, committed={RAW: 0})
    await worker.fetch()
    for message in worker.delivered:
        assert not worker.consumer.ack(message)
    await worker.consumer.commit()
    assert worker.kafka.committed[RAW] == 0
    for message in worker.delivered:
        worker.consumer.release(message)  # type: ignore[attr-defined]
    await worker.consumer.commit()
    assert worker.kafka.committed[RAW] == _BATCH


@pytest.mark.upstream_bug
async def test_stock_consumer_commits_what_faust_acks(make_worker: _MakeWorker) -> None:
    worker = await make_worker(stock=True, ends={RAW: 9}, committed={RAW: 0})
    await worker.fetch()
    for message in worker.delivered:
        assert worker.consumer.ack(message)
    await worker.consumer.commit()
    assert worker.kafka.committed[RAW] == _BATCH
