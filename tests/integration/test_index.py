"""``newsfeed index`` and ``newsfeed search`` against the real broker: articles and copies in, ranked results
out, copies counted; a killed indexer neither loses nor repeats anything."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from agents.app import client_options
from pipeline.search_index import IndexMissingError, SearchIndex
from tests.conftest import WIRE_STORY
from tests.integration.conftest import NEWSFEED, Stack, collect, publish

pytestmark = pytest.mark.integration

WAIT = 120.0


class Indexer:
    """A ``newsfeed index`` subprocess of ``stack``; its log lines are kept for assertions."""

    def __init__(self, stack: Stack, name: str = "indexer", **extra_env: str) -> None:
        self.directory = stack.workdir / "index"
        env = {**stack.env, "NEWSFEED_INDEX_DIR": str(self.directory), **extra_env}
        self.log_path = stack.workdir / f"{name}.log"
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [str(NEWSFEED), "index"], env=env, cwd=stack.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.log_path.open("ab") as log:
            for raw in self.proc.stdout:
                log.write(raw)
                self.lines.append(raw.decode("utf-8", "replace"))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines if f'"event":"{name}"' in line]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(60)
        self._pump.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def wait_for_index(indexer: Indexer, until: Callable[[SearchIndex], bool], within: float = WAIT) -> SearchIndex:
    """Poll the committed index (a reader, as ``newsfeed search`` opens it) until ``until`` holds."""
    deadline = time.monotonic() + within
    while True:
        if indexer.proc.poll() is not None:
            raise AssertionError(f"the indexer exited with {indexer.proc.returncode}:\n{''.join(indexer.lines[-30:])}")
        try:
            index = SearchIndex.open(indexer.directory)
            if until(index):
                return index
        except IndexMissingError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"index condition not met within {within}s:\n{''.join(indexer.lines[-30:])}")
        time.sleep(0.2)


@pytest.fixture
def indexers() -> Any:
    started: list[Indexer] = []

    def start(stack: Stack, name: str = "indexer", **extra_env: str) -> Indexer:
        indexer = Indexer(stack, name, **extra_env)
        started.append(indexer)
        return indexer

    yield start
    for indexer in started:
        indexer.stop(signal.SIGKILL)


def article(article_id: str, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": article_id,
        "id_source": "feed",
        "source": "Test Wire",
        "url": f"https://news.example.com/{article_id}",
        "title": f"Story {article_id}",
        "body": "Officials met on Friday to discuss the harvest.",
        "published_at": "2026-11-29T10:00:00+00:00",
        "language": "en",
        "tags": [],
        "duplicate_of": None,
        "cluster_id": article_id,
    }
    value.update(fields)
    return value


async def send(producer: AIOKafkaProducer, stack: Stack, topic: str, values: list[dict[str, Any] | bytes]) -> None:
    """Publish articles to the stack's search or duplicates topic, keyed by id; bytes go as they are."""
    for value in values:
        key = value["id"].encode() if isinstance(value, dict) else b"junk"
        data = orjson.dumps(value) if isinstance(value, dict) else value
        await producer.send(stack.topic(topic), data, key=key)
    await producer.flush()


def search(stack: Stack, indexer: Indexer, *args: str) -> list[dict[str, Any]]:
    """Run ``newsfeed search --format json`` with no broker in its environment: it reads the directory only."""
    env = {**stack.env, "NEWSFEED_INDEX_DIR": str(indexer.directory), "NEWSFEED_BROKER": "kafka://127.0.0.1:1"}
    done = subprocess.run(
        [str(NEWSFEED), "search", *args, "--format", "json"], env=env, capture_output=True, text=True, check=True,
        timeout=60,
    )  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines()]


async def test_indexed_articles_are_found_with_their_copies(make_stack, producer, indexers) -> None:
    stack = make_stack()
    indexer = indexers(stack)
    chips = article("chips", title="Chip tariffs talks end", tags=[{"topic": "trade", "score": 3.0, "evidence": []}])
    early_copy = article("copy-early", title="Chip tariff talks end", source="Reuters", duplicate_of="chips")
    # A copy before its original: committed to the index before the original is even published.
    await send(producer, stack, "duplicates", [early_copy])
    wait_for_index(indexer, lambda index: index.count("copy") == 1)
    storm = article("storm", title="Storm closes schools", body="Heavy rain and wind.", source="AP")
    late_copy = article("copy-late", source="AP", url="https://ap.example/chips", duplicate_of="chips")
    await send(producer, stack, "search", [chips, storm, b"not json"])
    await send(producer, stack, "duplicates", [late_copy])
    # Replaying the same messages (a backfill run twice) changes nothing: upserts by id.
    await send(producer, stack, "search", [chips, storm])
    await send(producer, stack, "duplicates", [early_copy, late_copy])
    index = wait_for_index(indexer, lambda index: sum(index.offsets().values()) == 9)
    assert (index.count("story"), index.count("copy")) == (2, 2)

    [hit] = search(stack, indexer, "tariffs")
    assert hit["id"] == "chips"
    assert hit["title"] == "Chip tariffs talks end"
    assert hit["tags"] == ["trade"]
    assert hit["copies"] == 2
    assert {(c["source"], c["url"]) for c in hit["also_published_by"]} == {
        ("Reuters", "https://news.example.com/copy-early"),
        ("AP", "https://ap.example/chips"),
    }
    assert [h["id"] for h in search(stack, indexer, "--tag", "trade")] == ["chips"]
    assert [h["id"] for h in search(stack, indexer, "--source", "reuters")] == ["chips"]  # through its copy
    assert sorted(h["id"] for h in search(stack, indexer, "--source", "ap")) == ["chips", "storm"]
    assert search(stack, indexer, "tariffs", "--since", "2026-11-30") == []
    assert [h["id"] for h in search(stack, indexer, "--limit", "1")] in (["chips"], ["storm"])

    assert indexer.stop() == 0
    skipped = indexer.events("index_message_skipped")
    assert [(e["topic"], e["key"]) for e in skipped] == [(stack.topic("search"), "junk")]
    assert indexer.events("index_stopped")


async def test_a_killed_indexer_loses_nothing_and_repeats_nothing(make_stack, producer, indexers) -> None:
    stack = make_stack()
    stories = [
        article(f"s{i:04}", title=f"{'Copied' if i < 50 else 'Plain'} story {i}", body="About the harvest.")
        for i in range(1500)
    ]
    copies = [article(f"c{i:03}", source="Copycat", duplicate_of=f"s{i % 50:04}") for i in range(200)]
    await send(producer, stack, "search", stories[:1200])
    await send(producer, stack, "duplicates", copies[:120])
    # Commits of 10 articles, so the kill is likely to land between two of them, with indexed but uncommitted
    # articles behind it (whether it does or not, what follows must hold).
    first = indexers(stack, "first", NEWSFEED_INDEX_COMMIT_ITEMS="10")
    wait_for_index(first, lambda index: index.count("story") + index.count("copy") > 0)
    first.stop(signal.SIGKILL)
    at_crash = SearchIndex.open(first.directory)
    held_at_crash = sum(at_crash.offsets().values())
    assert held_at_crash == at_crash.count("story") + at_crash.count("copy")  # offsets agree with the contents

    await send(producer, stack, "search", stories[1200:])
    await send(producer, stack, "duplicates", copies[120:])
    second = indexers(stack, "second", NEWSFEED_INDEX_COMMIT_ITEMS="10")
    index = wait_for_index(second, lambda index: sum(index.offsets().values()) == 1700)
    assert second.stop() == 0

    assert sorted(index.ids("story")) == [s["id"] for s in stories]
    assert sorted(index.ids("copy")) == [c["id"] for c in copies]
    [stopped] = second.events("index_stopped")
    assert stopped["indexed"] == 1700 - held_at_crash  # the second run indexed exactly what the first had not
    copied = search(stack, second, "copied", "--limit", "100")
    assert sorted(h["id"] for h in copied) == [f"s{i:04}" for i in range(50)]
    assert {h["copies"] for h in copied} == {4}
    assert {h["copies"] for h in search(stack, second, "plain", "--limit", "1000")} == {0}


async def test_a_backlog_is_committed_in_large_commits_and_new_articles_within_the_commit_time(
    make_stack, producer, indexers
) -> None:
    stack = make_stack()
    backlog = [article(f"b{i:04}", body="About the harvest.") for i in range(3000)]
    await send(producer, stack, "search", backlog)
    # 10 ms between commits, but 3,000 articles already waiting: reading them takes several fetches of at most
    # 2,000 records, and the indexer commits once, when it has read them all (the old rule committed per fetch).
    indexer = indexers(stack, NEWSFEED_INDEX_COMMIT_SECONDS="0.01", NEWSFEED_INDEX_COMMIT_ITEMS="5000")
    wait_for_index(indexer, lambda index: sum(index.offsets().values()) == 3000)
    # Caught up, a new article is committed by the time rule: neither the item count nor the 30 s backlog bound
    # is reached within this wait.
    await send(producer, stack, "search", [article("late", title="Late harvest")])
    wait_for_index(indexer, lambda index: sum(index.offsets().values()) == 3001, within=20.0)
    assert indexer.stop() == 0
    assert [event["articles"] for event in indexer.events("index_committed")] == [3000, 1]


async def test_index_once_stops_when_caught_up_and_a_second_run_has_nothing_to_do(make_stack, producer) -> None:
    stack = make_stack()
    await send(producer, stack, "search", [article("a", title="Harvest record"), article("b")])
    await send(producer, stack, "duplicates", [article("c", duplicate_of="a", source="Copycat")])
    env = {**stack.env, "NEWSFEED_INDEX_DIR": str(stack.workdir / "index")}
    command = [str(NEWSFEED), "index", "--once"]
    runs = [subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False) for _ in "12"]
    assert [run.returncode for run in runs] == [0, 0]
    stopped = [json.loads(line) for run in runs for line in run.stderr.splitlines() if '"index_stopped"' in line]
    assert [event["indexed"] for event in stopped] == [3, 0]
    index = SearchIndex.open(stack.workdir / "index")
    assert sorted(index.ids("story")) == ["a", "b"]
    # The group's offsets follow the index's: operators see the indexer's lag with the usual Kafka tools.
    admin = AIOKafkaAdminClient(**client_options(stack.settings))
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(stack.settings.search_index_group)
    finally:
        await admin.close()
    assert {f"{tp.topic}:{tp.partition}": meta.offset for tp, meta in committed.items()} == index.offsets()
    # A lost index directory is rebuilt from the topics, whatever the group committed.
    shutil.rmtree(stack.workdir / "index")
    rebuilt = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert [json.loads(line)["indexed"] for line in rebuilt.stderr.splitlines() if '"index_stopped"' in line] == [3]
    assert sorted(SearchIndex.open(stack.workdir / "index").ids("story")) == ["a", "b"]
    env["NEWSFEED_BROKER"] = "kafka://127.0.0.1:1"
    done = subprocess.run([str(NEWSFEED), "search", "harvest"], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[:2] == [
        "  1. Harvest record",
        "     Test Wire · 2026-11-29 10:00 · no tags · 1 copy",
    ]


async def test_an_index_commit_whose_group_commit_was_lost_is_not_repeated(make_stack, producer) -> None:
    stack = make_stack()
    await send(producer, stack, "search", [article("a"), article("b")])
    env = {**stack.env, "NEWSFEED_INDEX_DIR": str(stack.workdir / "index")}
    command = [str(NEWSFEED), "index", "--once"]
    subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    # The state a crash between the two commits leaves: the index committed, the group not (a group that never
    # committed stands for it). The index's own offsets decide, so nothing is indexed twice.
    await send(producer, stack, "search", [article("c")])
    env["NEWSFEED_INDEX_GROUP"] = f"{stack.settings.search_index_group}-lost"
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert [json.loads(line)["indexed"] for line in again.stderr.splitlines() if '"index_stopped"' in line] == [1]
    assert sorted(SearchIndex.open(stack.workdir / "index").ids("story")) == ["a", "b", "c"]


async def test_the_worker_s_output_is_searchable(make_stack, start_worker, producer, indexers) -> None:
    stack = make_stack()
    start_worker(stack)
    indexer = indexers(stack)
    original = {"id": "wire-1", "source": "Test Wire", "title": "Trade talks end without deal", "body": WIRE_STORY}
    copy = {**original, "id": "wire-2", "source": "Copy Desk", "url": "https://copies.example.com/wire-2"}
    await publish(producer, stack, [original])
    await collect(stack, ["search"], until=lambda ms: any(m["key"] == "test wire:wire-1" for m in ms))
    await publish(producer, stack, [copy])
    wait_for_index(indexer, lambda index: index.count("story") == 1 and index.count("copy") == 1)
    [hit] = search(stack, indexer, "semiconductor tariffs", "--tag", "trade", "--source", "test wire")
    assert hit["id"] == "test wire:wire-1"
    assert hit["copies"] == 1
    assert hit["also_published_by"][0]["source"] == "Copy Desk"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_broker_is_one_line_and_a_failure(tmp_path: Path) -> None:
    port = _free_port()
    done = subprocess.run(
        [str(NEWSFEED), "index"],
        env={"NEWSFEED_BROKER": f"kafka://127.0.0.1:{port}", "NEWSFEED_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"newsfeed: cannot reach the Kafka broker at 127.0.0.1:{port}")
    assert "NEWSFEED_BROKER" in line


def test_search_without_an_index_says_what_to_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(NEWSFEED), "search", "anything"], env={"NEWSFEED_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"newsfeed: no search index in {tmp_path / 'index'} yet: run `newsfeed index` "
        "(NEWSFEED_INDEX_DIR, else NEWSFEED_DATA_DIR/index)"
    )
