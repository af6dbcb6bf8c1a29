"""The worker's consumer (agents/transport.py): the offset it commits never passes a record that was not
processed, and its seeks run on the consumer's own thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from aiokafka.errors import IllegalStateError

from agents.transport import call_on_loop, next_commit_offset


def test_the_record_at_the_committed_offset_must_be_acknowledged_first() -> None:
    # faust-streaming 0.15.3 committed 6 here: the record at 3 was lost and never read again.
    assert next_commit_offset([4, 5], [], committed=3) is None
    assert next_commit_offset([3, 4, 5], [], committed=3) == 6


def test_a_committed_offset_of_zero_is_a_known_offset() -> None:
    # Faust skipped its check when the committed offset was 0 (falsy): [1, 2] committed 3.
    assert next_commit_offset([1, 2], [], committed=0) is None
    assert next_commit_offset([0, 1, 2], [], committed=0) == 3


def test_commits_stop_at_the_first_offset_not_acknowledged() -> None:
    assert next_commit_offset([3, 5, 6], [], committed=3) == 4
    assert next_commit_offset([5, 6], [], committed=4) is None


def test_without_a_committed_offset_the_lowest_acknowledged_one_starts() -> None:
    assert next_commit_offset([5, 6, 8], [], committed=None) == 7
    assert next_commit_offset([], [], committed=None) is None


def test_holes_count_as_done_from_the_committed_offset_on() -> None:
    # Records expired before the group read them: the partition starts at 500.
    assert next_commit_offset([500, 501], [(100, 500)], committed=100) == 502
    # A transaction marker at the committed offset, another between two records.
    assert next_commit_offset([11, 13], [(10, 11), (12, 13)], committed=10) == 14
    # A hole after the last acknowledged record is passed: 6 is the next record to process.
    assert next_commit_offset([3], [(4, 6)], committed=3) == 6


def test_a_hole_does_not_cover_a_record_that_is_not_acknowledged() -> None:
    assert next_commit_offset([13], [(10, 11)], committed=10) == 11  # past the hole, up to 11, not past it
    assert next_commit_offset([13], [(11, 12)], committed=10) is None


def test_offsets_read_again_below_the_committed_offset_are_ignored() -> None:
    assert next_commit_offset([3, 4], [], committed=5) is None
    assert next_commit_offset([4, 5, 6], [], committed=5) == 7


@pytest.mark.parametrize("acked", [[6, 5, 5], [5, 6, 6, 5]])
def test_order_and_repeats_of_acknowledgements_do_not_matter(acked: list[int]) -> None:
    assert next_commit_offset(acked, [], committed=5) == 7


def test_nothing_new_to_commit_is_none() -> None:
    assert next_commit_offset([], [(5, 9)], committed=5) is None


@pytest.fixture
def other_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread of its own, as the consumer thread's is."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    started = threading.Event()
    loop.call_soon_threadsafe(started.set)
    assert started.wait(5)
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_a_call_runs_on_the_other_loops_thread_and_is_waited_for(other_loop: asyncio.AbstractEventLoop) -> None:
    ran_on: list[int] = []
    assert call_on_loop(other_loop, lambda: ran_on.append(threading.get_ident()), timeout=5)
    assert len(ran_on) == 1
    assert ran_on[0] != threading.get_ident()


def test_an_error_in_the_call_is_raised_to_the_caller(other_loop: asyncio.AbstractEventLoop) -> None:
    def fail() -> None:
        raise IllegalStateError("not assigned")

    with pytest.raises(IllegalStateError):
        call_on_loop(other_loop, fail, timeout=5)


def test_a_busy_loop_times_out_and_runs_the_call_later(other_loop: asyncio.AbstractEventLoop) -> None:
    release, ran = threading.Event(), threading.Event()
    other_loop.call_soon_threadsafe(release.wait, 5)  # the loop's thread is blocked until released
    assert not call_on_loop(other_loop, ran.set, timeout=0.05)
    release.set()
    assert ran.wait(5)


def test_a_loop_that_is_not_running_is_called_directly() -> None:
    loop = asyncio.new_event_loop()
    try:
        ran_on: list[int] = []
        assert call_on_loop(loop, lambda: ran_on.append(threading.get_ident()), timeout=5)
        assert ran_on == [threading.get_ident()]
    finally:
        loop.close()
