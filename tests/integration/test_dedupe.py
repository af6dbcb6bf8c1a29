"""Dedupe against the real broker: across partitions and workers, across a crash, across replays, by event time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import WIRE_STORY
from tests.integration.conftest import by_topic, collect, publish, publish_in_order

pytestmark = pytest.mark.integration

OTHER_STORY = """SYDNEY, May 2 (Reuters) - Australia's central bank left its cash rate unchanged on Tuesday and said
inflation was easing faster than it had expected, sending the local dollar lower against the yen and the euro.
The bank's board said wage growth had slowed in the first quarter and that retail spending remained weak in
most states, while rents in the largest cities were still rising at the fastest pace in a decade.
Economists had been split on the decision, with four of the big banks forecasting a pause and two a rise."""


def _copy(item_id: str, *, junk: str = "", title: str = "TRADE TALKS END WITHOUT DEAL", **fields: object) -> dict:
    body = WIRE_STORY.replace("[ad_1]\n", junk)
    return {"id": item_id, "title": title, "body": body, **fields}  # no source: ids come out as they went in


def _keys(messages: list[dict], topic: str) -> set[str]:
    return {m["key"] for m in by_topic(messages, topic)}


def _routed(messages: list[dict]) -> set[str]:
    return {m["key"] for m in messages if m["topic"] in {"search", "duplicates", "deadletter"}}


async def test_copies_on_other_partitions_and_workers_point_at_the_first_copy(
    make_stack, start_worker, producer
) -> None:
    stack = make_stack()
    first = start_worker(stack, "w1")
    second = start_worker(stack, "w2")
    original = _copy("orig-1", title="Trade talks end without deal")
    await publish(producer, stack, [original])
    await collect(stack, ["search"], until=lambda ms: "orig-1" in _keys(ms, "search"))

    # Keyed by id, copy-0 .. copy-11 fall on all four raw partitions (murmur2: 3, 0, 3, 0, 1, 2, 0, 1, 3, 2, 2, 2),
    # so each worker takes some of them, whichever raw partitions it holds.
    copies = [_copy(f"copy-{n}", junk=f"Read also | Unrelated headline number {n}.\n") for n in range(12)]
    await publish(producer, stack, copies)
    ids = {c["id"] for c in copies} | {"orig-1"}
    messages = await collect(stack, ["search", "duplicates"], until=lambda ms: _routed(ms) >= ids)

    assert _keys(messages, "search") == {"orig-1"}
    duplicates = by_topic(messages, "duplicates")
    assert {m["key"] for m in duplicates} == ids - {"orig-1"}
    assert {m["value"]["duplicate_of"] for m in duplicates} == {"orig-1"}
    assert {m["value"]["cluster_id"] for m in duplicates} == {"orig-1"}
    # Both workers took raw partitions and did intake work: the decision did not depend on which one did.
    for worker in (first, second):
        assert worker.metric('newsfeed_items_in_total{stage="intake"}') > 0, worker.name


async def test_index_survives_sigkill_and_a_fresh_state_directory(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    worker = start_worker(stack, "before")
    await publish(producer, stack, [_copy("crash-orig", title="Trade talks end without deal")])
    await collect(stack, ["search"], until=lambda ms: "crash-orig" in _keys(ms, "search"))
    worker.kill()

    # A new state directory: the index can only come back from the changelog topics.
    start_worker(stack, "after")
    await publish(producer, stack, [_copy("crash-copy", junk="share now\n")])
    messages = await collect(stack, ["search", "duplicates"], until=lambda ms: "crash-copy" in _routed(ms))
    [copy] = [m for m in by_topic(messages, "duplicates") if m["key"] == "crash-copy"]
    assert copy["value"]["duplicate_of"] == "crash-orig"
    assert _keys(messages, "search") == {"crash-orig"}


async def test_the_same_id_again_gets_the_same_decision(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    start_worker(stack)
    items = [_copy("rep-orig", title="Trade talks end without deal"), _copy("rep-copy", junk="share now\n")]
    await publish(producer, stack, items[:1])
    await collect(stack, ["search"], until=lambda ms: "rep-orig" in _routed(ms))
    await publish(producer, stack, items[1:])
    first = await collect(stack, ["search", "duplicates"], until=lambda ms: _routed(ms) >= {"rep-orig", "rep-copy"})
    await publish(producer, stack, items, headers=[("newsfeed-replay", b"1")])
    both = await collect(stack, ["search", "duplicates"], until=lambda ms: len(ms) >= len(first) + 2)

    for key in ("rep-orig", "rep-copy"):
        decisions = {
            (m["topic"], m["value"]["duplicate_of"], m["value"]["cluster_id"]) for m in both if m["key"] == key
        }
        assert len(decisions) == 1, f"{key} got one decision however often it came: {decisions}"
    assert _keys(both, "search") == {"rep-orig"}


async def test_window_is_judged_by_event_time(make_stack, start_worker, producer) -> None:
    stack = make_stack(NEWSFEED_DEDUPE_WINDOW_DAYS="7")
    start_worker(stack)
    t0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
    at = lambda days: (t0 + timedelta(days=days)).isoformat()  # noqa: E731
    items = [
        _copy("old-orig", title="Trade talks end", published_at=at(0)),
        # A backfill of an earlier copy after it (out of order, within the window) is still a copy.
        _copy("early-copy", junk="share now\n", published_at=at(-2)),
        # Another story ten days later moves event time past the window: the first story expires.
        {"id": "later", "title": "Rates on hold", "body": OTHER_STORY, "published_at": at(10)},
        _copy("late-copy", junk="Source link\n", published_at=at(10)),
    ]
    await publish_in_order(producer, stack, items)
    ids = {"old-orig", "early-copy", "later", "late-copy"}
    messages = await collect(stack, ["search", "duplicates"], until=lambda ms: _routed(ms) >= ids)

    routes = [(m["topic"], m["key"], m["value"].get("duplicate_of")) for m in messages]
    assert _keys(messages, "duplicates") == {"early-copy"}, routes
    assert _keys(messages, "search") == {"old-orig", "later", "late-copy"}, routes


async def test_shards_decided_together_keep_their_own_partitions(make_stack, start_worker, producer) -> None:
    # Two dedupe partitions: "en" falls on 1 and "es" on 0 (murmur2). A wait of 300 ms per batch makes the dedupe
    # stage take both shards' internal messages together, so each decision must still reach its own partition's
    # store and changelog: read back into a fresh state directory, both copies find their originals.
    stack = make_stack(NEWSFEED_DEDUPE_PARTITIONS="2", NEWSFEED_INTAKE_BATCH_MS="300")
    worker = start_worker(stack, "before")
    originals = [
        _copy("orig-en", title="Trade talks end without deal", language="en"),
        {"id": "orig-es", "title": "Bank holds rates", "body": OTHER_STORY, "language": "es"},
    ]
    await publish(producer, stack, originals)
    await collect(stack, ["search"], until=lambda ms: _keys(ms, "search") >= {"orig-en", "orig-es"})
    worker.kill()

    start_worker(stack, "after")
    copies = [
        _copy("copy-en", junk="share now\n", language="en-GB"),
        {"id": "copy-es", "title": "Bank holds rates", "body": OTHER_STORY + "\nSource link", "language": "es"},
    ]
    await publish(producer, stack, copies)
    messages = await collect(stack, ["search", "duplicates"], until=lambda ms: _routed(ms) >= {"copy-en", "copy-es"})
    assert {m["key"]: m["value"]["duplicate_of"] for m in by_topic(messages, "duplicates")} == {
        "copy-en": "orig-en",
        "copy-es": "orig-es",
    }
    assert _keys(messages, "search") == {"orig-en", "orig-es"}
