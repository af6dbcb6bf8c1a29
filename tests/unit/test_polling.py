"""The poller's rules: the feed list, backoff with jitter, which entries are new, the state record."""

from __future__ import annotations

import random
import re

import pytest

from pipeline.polling import (
    SEEN_MINIMUM,
    FeedListError,
    FeedSpec,
    FeedState,
    backoff_delay,
    entry_key,
    parse_duration,
    parse_feed_list,
)


def test_feed_list_reads_url_source_name_and_interval() -> None:
    text = """# world desks
https://a.example/rss.xml   Reuters World   5m
https://b.example/atom.xml
http://c.example/feed 90   # trailing comment

https://d.example/f?x=1#frag Name
"""
    assert parse_feed_list(text) == [
        FeedSpec("https://a.example/rss.xml", "Reuters World", 300.0),
        FeedSpec("https://b.example/atom.xml", None, None),
        FeedSpec("http://c.example/feed", None, 90.0),
        FeedSpec("https://d.example/f?x=1#frag", "Name", None),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file:///etc/passwd\n", "line 1: 'file:///etc/passwd' is not an http(s) URL"),
        ("https://a/x\nhttps://a/x\n", "line 2: https://a/x is already listed on line 1"),
        ("https://a/x name 0s\n", "line 1: the interval must be more than 0"),
        ("# nothing\n\n", "the feed list names no feed"),
    ],
)
def test_feed_list_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(FeedListError, match=re.escape(message)):
        parse_feed_list(text)


def test_durations() -> None:
    assert [parse_duration(t) for t in ["300", "90s", "5m", "1h", "1d", "1.5m", "soon"]] == [
        300.0, 90.0, 300.0, 3600.0, 86400.0, 90.0, None,
    ]  # fmt: skip


def test_backoff_doubles_per_failure_within_jitter_and_stops_at_the_cap() -> None:
    rng = random.Random(7)
    assert backoff_delay(0, 60.0, 3600.0, rng) == 60.0
    for failures, base in [(1, 120.0), (2, 240.0), (3, 480.0), (10, 3600.0), (500, 3600.0)]:
        delays = {backoff_delay(failures, 60.0, 3600.0, rng) for _ in range(50)}
        assert all(0.8 * base <= d <= 1.2 * base for d in delays)
        assert len(delays) > 1  # jittered: feeds that failed together do not retry together


def test_new_entries_are_those_not_remembered_keyed_by_id_then_link_then_content() -> None:
    state = FeedState()
    first = [{"id": "1", "body": "a"}, {"url": "https://x/2", "body": "b"}, {"title": "t", "body": "c"}]
    assert state.new_entries(first) == first
    state.remember(first, len(first))
    edited = [{"id": "1", "body": "a, edited"}, {"url": "https://x/2", "body": "b"}, {"title": "t", "body": "c"}]
    assert state.new_entries(edited) == []  # same id: the same entry, even edited
    assert state.new_entries([{"id": "3", "body": "d"}, {"id": "3", "body": "d"}]) == [{"id": "3", "body": "d"}]


def test_memory_is_bounded_and_keeps_the_newest() -> None:
    state = FeedState()
    items = [{"id": str(n), "body": "x"} for n in range(SEEN_MINIMUM + 10)]
    state.remember(items, feed_length=20)
    assert len(state.seen) == SEEN_MINIMUM
    assert state.seen[-1] == entry_key(items[-1])
    assert entry_key(items[0]) not in state.seen
    state.remember(items, feed_length=SEEN_MINIMUM)  # a long feed: twice its length is kept
    assert len(state.seen) == SEEN_MINIMUM + 10


def test_state_round_trips_and_an_unreadable_record_starts_over() -> None:
    state = FeedState(etag='"abc"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT", seen=["k1", "k2"], last_success=1.5)
    assert FeedState.from_bytes(state.to_bytes()) == state
    assert FeedState.from_bytes(b"not json") == FeedState()
    assert FeedState.from_bytes(b'{"seen": [1, "k"], "etag": 5}') == FeedState(seen=["k"])
