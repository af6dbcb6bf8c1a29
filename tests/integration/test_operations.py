"""What operators and subscribers touch: topics, replay, reprocess, subscribe, health and metrics."""

from __future__ import annotations

import gzip
import json
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.app import client_options
from tests.conftest import SAMPLE_FEED, WIRE_STORY, key_of
from tests.integration.conftest import NEWSFEED, Stack, by_topic, collect, publish

pytestmark = pytest.mark.integration

ROUTED = ["search", "duplicates", "deadletter"]


def cli(stack: Stack, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the newsfeed command against the stack; stdout is the command's output, stderr its logs."""
    return subprocess.run(
        [str(NEWSFEED), *args], env=stack.env, cwd=stack.workdir, capture_output=True, text=True, check=check,
        timeout=120,
    )  # fmt: skip


def _routed(messages: list[dict]) -> set[str]:
    return {m["key"] for m in messages if m["topic"] in ROUTED}


def test_topics_create_is_idempotent_and_describe_shows_the_layout(make_stack) -> None:
    stack = make_stack()  # the fixture already created them once
    again = json.loads(cli(stack, "topics", "create").stdout)
    assert set(again.values()) == {"exists"}
    rows = {row["topic"]: row for row in map(json.loads, cli(stack, "topics", "describe").stdout.splitlines())}
    raw = rows[stack.topic("raw")]
    assert raw["exists"]
    assert raw["partitions"] == 4
    assert raw["replication_factor"] == 1
    assert int(raw["retention_ms"]) == 30 * 86_400_000
    assert rows[stack.topic("alerts")]["cleanup_policy"] == "compact,delete"
    assert rows[stack.topic("search")]["cleanup_policy"] == "delete"


async def test_replaying_a_file_twice_changes_nothing_downstream(make_stack, start_worker, tmp_path: Path) -> None:
    stack = make_stack()
    start_worker(stack)
    feed = tmp_path / "archive.jsonl.gz"
    with gzip.open(feed, "wb") as out:
        out.write(SAMPLE_FEED.read_bytes() + b"not json at all\n")
    ids = {key_of(json.loads(line)) for line in SAMPLE_FEED.read_text().splitlines()}

    summary = json.loads(cli(stack, "replay", "--no-progress", str(feed)).stdout)
    assert summary["sent"] == len(ids)
    assert summary["rejected_by_reason"] == {"invalid_json": 1}
    first = await collect(stack, [*ROUTED, "alerts"], until=lambda ms: _routed(ms) >= ids)

    cli(stack, "replay", "--no-progress", "--rate", "50", str(feed))
    both = await collect(stack, [*ROUTED, "alerts"], until=lambda ms: len(ms) >= 2 * len(first))

    def state(messages: list[dict]) -> dict[str, tuple]:
        return {
            m["key"]: (m["topic"], (m["value"] or {}).get("duplicate_of")) for m in messages if m["topic"] in ROUTED
        }

    assert state(both) == state(first)
    assert by_topic(both, "alerts") == [], "a backfill pages nobody"
    assert all(m["value"]["replay"] for m in both if m["topic"] in {"search", "duplicates"})


async def test_a_live_alert_is_not_raised_again_by_a_replay(make_stack, start_worker, producer, tmp_path) -> None:
    stack = make_stack()
    start_worker(stack)
    seed = json.loads(SAMPLE_FEED.read_text().splitlines()[0])
    copy = {**seed, "id": "seed-copy", "source": "Elsewhere"}
    await publish(producer, stack, [seed])
    await collect(stack, ["search"], until=lambda ms: key_of(seed) in _routed(ms))
    await publish(producer, stack, [copy])
    live = await collect(stack, [*ROUTED, "alerts"], until=lambda ms: _routed(ms) >= {key_of(seed), key_of(copy)})
    alerts = by_topic(live, "alerts")
    assert alerts
    assert len({a["value"]["rule"] for a in alerts}) == len(alerts), "one alert per rule for the story and its copy"

    archive = tmp_path / "again.jsonl"
    archive.write_bytes(orjson.dumps(seed) + b"\n")
    cli(stack, "replay", "--no-progress", str(archive))
    after = await collect(stack, [*ROUTED, "alerts"], until=lambda ms: len(by_topic(ms, "search")) >= 2)
    assert len(by_topic(after, "alerts")) == len(alerts)


async def _processed_then_stopped(stack: Stack, start_worker, producer) -> tuple[Any, list[dict], str]:
    worker = start_worker(stack)
    items = [{"id": f"re-{i}", "title": f"Item {i}", "body": f"Story number {i}. {WIRE_STORY}"} for i in range(3)]
    await publish(producer, stack, items)
    ids = {i["id"] for i in items}
    first = await collect(stack, ROUTED, until=lambda ms: _routed(ms) >= ids)
    return worker, first, (datetime.now(UTC) - timedelta(hours=1)).isoformat()


async def test_reprocess_moves_the_group_back_only_when_no_worker_runs(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    worker, first, since = await _processed_then_stopped(stack, start_worker, producer)
    refused = cli(stack, "reprocess", "--since", since, check=False)
    assert refused.returncode == 1
    assert "stop the workers" in refused.stderr

    worker.stop()
    moved_run = cli(stack, "reprocess", "--since", since, check=False)
    assert moved_run.returncode == 0, moved_run.stderr
    moved = json.loads(moved_run.stdout)
    assert sorted(moved["offsets"]) == ["0", "1", "2", "3"]
    raw_partitions = {m["partition"] for m in first}  # outputs are keyed and partitioned like raw
    assert all(moved["offsets"][str(p)] == 0 for p in raw_partitions), moved

    consumer = AIOKafkaConsumer(group_id=stack.settings.app_id, **client_options(stack.settings))
    await consumer.start()
    try:
        committed = {p: await consumer.committed(TopicPartition(stack.topic("raw"), p)) for p in range(4)}
    finally:
        await consumer.stop()
    for partition in raw_partitions:
        assert committed[partition] == 0, "the group will read these partitions again from the start"


async def test_reprocessed_items_flow_again_with_the_same_decisions(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    worker, first, since = await _processed_then_stopped(stack, start_worker, producer)
    worker.stop()
    cli(stack, "reprocess", "--since", since)
    start_worker(stack, "again")
    both = await collect(stack, ROUTED, until=lambda ms: len(ms) >= 2 * len(first))
    decisions = {(m["key"], m["topic"], m["value"]["duplicate_of"]) for m in both}
    assert decisions == {(m["key"], m["topic"], m["value"]["duplicate_of"]) for m in first}


async def test_subscribe_prints_json_lines_and_pretty_lines(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    start_worker(stack)
    await publish(producer, stack, [{"id": "sub-1", "title": "Trade talks end", "source": "Wire", "body": WIRE_STORY}])
    await collect(stack, ["search"], until=lambda ms: "wire:sub-1" in _routed(ms))

    out = cli(stack, "subscribe", "search", "--from-beginning", "--max-messages", "1", "--timeout", "30").stdout
    [line] = out.splitlines()
    message = json.loads(line)
    assert message["topic"] == stack.topic("search")
    assert message["key"] == "wire:sub-1"
    assert message["value"]["title"] == "Trade talks end"

    pretty = cli(stack, "subscribe", "search", "--from-beginning", "--timeout", "5", "--format", "pretty").stdout
    assert "Trade talks end" in pretty
    assert "Wire" in pretty
    assert "[trade" in pretty


async def test_health_and_metrics_count_what_was_processed(make_stack, start_worker, producer) -> None:
    stack = make_stack()
    worker = start_worker(stack)
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/health", timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read())["ready"] is True

    items: list[bytes | dict] = [{"id": f"m-{i}", "body": f"Story {i}. {WIRE_STORY}"} for i in range(5)]
    items += [b"{broken", {"id": "m-junk", "body": "[ad_1]\nshare now"}]
    await publish(producer, stack, items)
    ids = {f"m-{i}" for i in range(5)} | {"m-junk"}
    await collect(stack, ROUTED, until=lambda ms: _routed(ms) >= ids and len(by_topic(ms, "deadletter")) == 2)

    assert worker.metric('newsfeed_items_in_total{stage="intake"}') == 7
    assert worker.metric('newsfeed_items_in_total{stage="dedupe"}') == 5
    assert worker.metric('newsfeed_dead_letters_total{reason="invalid_json"}') == 1
    assert worker.metric('newsfeed_dead_letters_total{reason="empty_after_cleaning"}') == 1
    assert worker.metric('newsfeed_tags_total{topic="trade"}') >= 1
    assert worker.metric('newsfeed_processing_seconds_count{stage="intake"}') == 7
    assert worker.metric("newsfeed_intake_batch_items_sum") == 5  # every prepared item went in some batch
    assert worker.metric(f'newsfeed_items_out_total{{stage="dedupe",topic="{stack.topic("search")}"}}') >= 1
