"""The per-item time bound of the intake stage."""

from __future__ import annotations

import time

import pytest

from agents.deadline import Deadline, ItemTimeout


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_a_block_that_overruns_is_interrupted_and_the_next_one_runs_in_full() -> None:
    bound = Deadline(0.05)
    started = time.monotonic()
    with pytest.raises(ItemTimeout, match=r"longer than 0\.05 s"), bound:
        _spin(5.0)
    assert time.monotonic() - started < 2.0
    with bound:
        _spin(0.01)  # reused after a timeout: armed again, and within its bound


def test_no_alarm_outlives_its_block() -> None:
    bound = Deadline(0.05)
    for _ in range(3):
        with bound:
            pass
    _spin(0.15)  # three times the bound after the blocks: nothing may fire here


def test_zero_disables_the_bound() -> None:
    with Deadline(0):
        _spin(0.05)
