"""Feeds and crawls replayed through the broker: every entry reaches exactly one output, marked as replay."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from agents.replay import REPLAY_HEADER
from tests.conftest import key_of
from tests.integration.conftest import NEWSFEED, Stack, collect, read_topic_to_end

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
ROUTED = ["search", "duplicates", "deadletter"]


async def test_feed_files_and_an_arc_crawl_flow_through_replay_and_the_worker(
    make_stack, start_worker, tmp_path: Path
) -> None:
    stack: Stack = make_stack()
    start_worker(stack)
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in ["rss2.xml", "rss1.rdf", "atom.xml", "feed.json", "example.arc", "recovered.xml.gz"]:
        shutil.copy(FIXTURES / name, folder / name)
    done = subprocess.run(
        [str(NEWSFEED), "replay", "--no-progress", str(folder)], env=stack.env, cwd=stack.workdir,
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    summary = json.loads(done.stdout)
    assert summary["sent"] == 10
    assert summary["formats"]["arc"] == {"files": 1, "sent": 1, "skipped": 1}
    assert summary["broken_by_reason"] == {"no_body": 2, "not_an_object": 1}

    raw = await read_topic_to_end(stack, "raw")
    assert len(raw) == 10
    assert all(m["headers"].get(REPLAY_HEADER) == b"1" for m in raw)
    feed_ids = {m["value"]["id"] for m in raw}  # the raw key is the id as the pipeline scopes it
    assert {"wire-2024-0001", "tag:blog.example.co.uk,2024:1", "j-1", "http://arc.example.com/page"} <= feed_ids
    ids = {key_of(m["value"]) for m in raw}  # they come out scoped by their feed's source
    out = await collect(stack, ROUTED, until=lambda ms: {m["key"] for m in ms} >= ids)
    articles = {m["value"]["id"]: m["value"] for m in out if m["topic"] in {"search", "duplicates"}}
    assert set(articles) == feed_ids  # nothing dead-lettered: every mapped entry is a valid raw item
    wire = articles["wire-2024-0001"]
    assert wire["published_at"] == "2024-01-01T10:00:00Z"  # RFC 2822 pubDate, in UTC
    assert wire["url"] == "https://wire.example.com/world/taiwan-talks"  # tracking parameter removed
    assert wire["replay"] is True
    assert "Talks resumed on Monday." in wire["body"]
    assert articles["http://arc.example.com/page"]["body"].strip() == "Archived text."


async def test_every_entry_of_a_large_feed_lands_on_the_partition_send_would_pick_in_file_order(
    make_stack, tmp_path: Path
) -> None:
    stack: Stack = make_stack()
    feed = tmp_path / "large.rss"
    body = "<p>" + "Harbour talks went on through the night. " * 40 + "</p>"
    entries = "".join(
        f"<item><guid>big-{n:05d}</guid><link>https://news.example.com/{n}</link><title>Story {n}</title>"
        f"<description><![CDATA[{body}]]></description></item>\n"
        for n in range(2500)
    )
    feed.write_text(f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{entries}</channel></rss>')
    done = subprocess.run(
        [str(NEWSFEED), "replay", "--no-progress", str(feed)], env=stack.env, cwd=stack.workdir,
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout)["sent"] == 2500

    raw = await read_topic_to_end(stack, "raw")
    assert len(raw) == 2500
    partitions = sorted({m["partition"] for m in raw})
    for message in raw:
        key = message["key"].encode()
        assert message["partition"] == DefaultPartitioner()(key, partitions, partitions)
        assert message["headers"].get(REPLAY_HEADER) == b"1"
    for partition in partitions:
        ids = [m["value"]["id"] for m in sorted(raw, key=lambda m: m["offset"]) if m["partition"] == partition]
        assert ids == sorted(ids)  # each partition holds its entries in file order
