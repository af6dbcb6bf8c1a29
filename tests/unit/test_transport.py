"""The offset the worker commits never passes a record that was not processed (agents/transport.py)."""

from __future__ import annotations

import pytest

from agents.transport import next_commit_offset


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
