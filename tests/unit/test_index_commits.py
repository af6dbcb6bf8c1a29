"""When ``newsfeed index`` commits: by time once caught up with the topics, by count or the backlog bound while
behind them (``agents/index.py``). The consumer is a stand-in holding positions and high watermarks."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiokafka import TopicPartition

from agents.index import BACKLOG_COMMIT_SECONDS, _commit_due, _Pending
from pipeline.settings import Settings

SEARCH = TopicPartition("news.search", 0)
DUPLICATES = TopicPartition("news.duplicates", 0)


class _Consumer:
    """What the rule reads of an aiokafka consumer: the next offset to hand over, the last fetched high watermark."""

    def __init__(self, positions: dict[TopicPartition, int], highwaters: dict[TopicPartition, int]) -> None:
        self._positions = positions
        self._highwaters = highwaters

    def highwater(self, tp: TopicPartition) -> int | None:
        return self._highwaters.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        return self._positions[tp]


def _pending(waited: float) -> _Pending:
    return _Pending(offsets={SEARCH: 1}, articles=1, since=time.monotonic() - waited)


async def _due(consumer: Any, waited: float) -> bool:
    settings = Settings.from_env({"NEWSFEED_INDEX_COMMIT_SECONDS": "1"})
    return await _commit_due(consumer, [SEARCH, DUPLICATES], _pending(waited), settings)


@pytest.mark.parametrize(
    ("positions", "highwaters", "waited", "due"),
    [
        ({SEARCH: 10, DUPLICATES: 5}, {SEARCH: 10, DUPLICATES: 5}, 1.5, True),  # caught up: the time rule
        ({SEARCH: 10, DUPLICATES: 5}, {SEARCH: 10, DUPLICATES: 5}, 0.5, False),  # caught up, not yet a second
        ({SEARCH: 10, DUPLICATES: 5}, {SEARCH: 10, DUPLICATES: 9}, 1.5, False),  # behind on one partition
        ({SEARCH: 10, DUPLICATES: 5}, {SEARCH: 10, DUPLICATES: 9}, BACKLOG_COMMIT_SECONDS + 0.5, True),  # bound
        ({SEARCH: 10, DUPLICATES: 0}, {SEARCH: 10}, 1.5, True),  # a partition not fetched yet holds nothing known
    ],
)
async def test_commits_by_time_once_caught_up_and_by_the_backlog_bound_while_behind(
    positions: dict[TopicPartition, int], highwaters: dict[TopicPartition, int], waited: float, due: bool
) -> None:
    assert await _due(_Consumer(positions, highwaters), waited) is due
