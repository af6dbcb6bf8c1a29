"""Split roles: intake workers and a dedupe worker of their own, against the real broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import WIRE_STORY
from tests.integration.conftest import by_topic, collect, publish, read_to_end
from tests.integration.test_operations import cli

pytestmark = pytest.mark.integration

ROUTED = ["search", "duplicates", "deadletter"]


def _routed(messages: list[dict]) -> set[str]:
    return {m["key"] for m in messages if m["topic"] in ROUTED}


async def test_intake_and_dedupe_workers_route_every_item_once_and_find_the_copies(
    make_stack, start_worker, producer
) -> None:
    stack = make_stack()
    intake = start_worker(stack, "intake", NEWSFEED_WORKER_ROLE="intake")
    dedupe = start_worker(stack, "dedupe", NEWSFEED_WORKER_ROLE="dedupe")
    await publish(producer, stack, [{"id": "orig", "title": "Trade talks end", "body": WIRE_STORY}])
    await collect(stack, ["search"], until=lambda ms: "orig" in _routed(ms))
    items = [{"id": f"copy-{n}", "body": f"Read also | Headline {n}.\n{WIRE_STORY}"} for n in range(8)]
    items += [{"id": "broken", "body": 12}, {"id": "other", "body": f"Story of its own {'word ' * 40}"}]
    await publish(producer, stack, items)
    ids = {"orig", "other", "broken"} | {f"copy-{n}" for n in range(8)}

    await collect(stack, ROUTED, until=lambda ms: _routed(ms) >= ids)
    messages = await read_to_end(stack, ROUTED)  # to the end offsets: a second copy of anything would show

    keys = [m["key"] for m in messages if m["topic"] in ROUTED]
    assert sorted(keys) == sorted(ids)  # each item on exactly one topic, once
    assert {m["key"] for m in by_topic(messages, "search")} == {"orig", "other"}
    assert {m["value"]["duplicate_of"] for m in by_topic(messages, "duplicates")} == {"orig"}
    assert {m["key"] for m in by_topic(messages, "deadletter")} == {"broken"}
    # Each worker did its own stage only.
    assert intake.metric('newsfeed_items_in_total{stage="intake"}') >= len(ids)
    assert intake.metric('newsfeed_items_in_total{stage="dedupe"}') == 0
    assert dedupe.metric('newsfeed_items_in_total{stage="dedupe"}') >= len(ids) - 1
    assert dedupe.metric('newsfeed_items_in_total{stage="intake"}') == 0

    # reprocess moves the group that reads raw: the intake workers' own.
    intake.stop()
    dedupe.stop()
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    moved = cli(stack, "reprocess", "--since", since, check=False)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["offsets"]
    events = [json.loads(line) for line in moved.stderr.splitlines() if line.startswith("{")]
    assert [e["group"] for e in events if e.get("event") == "group_moved"] == [f"{stack.settings.app_id}-intake"]


async def test_an_all_worker_refuses_to_start_beside_intake_workers_and_the_reverse(make_stack, start_worker) -> None:
    stack = make_stack()
    intake = start_worker(stack, "intake", NEWSFEED_WORKER_ROLE="intake")
    refused = cli(stack, "worker", check=False)
    assert refused.returncode == 2
    assert "process every item twice" in refused.stderr
    intake.stop()

    start_worker(stack, "all")
    assert cli(stack, "worker", "--role", "intake", check=False).returncode == 2
