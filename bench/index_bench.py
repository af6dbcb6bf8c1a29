"""Benchmark the search index: indexing rate and query time over 100,000 articles.

Usage: ``python bench/index_bench.py [--articles N] [--queries N] [--broker kafka://127.0.0.1:PORT]``

The articles are the dev data (``../shared/data/dev/*.jsonl``) run through the pipeline offline (so they are
real cleaned, tagged articles with real copies), then repeated with fresh ids and publication times spread over
30 days until there are ``--articles`` of them. Nothing of the data is written anywhere but a temporary
directory. Prints one JSON object:

- ``index_articles_per_s``: messages (article JSON bytes) decoded, mapped and upserted per second, with the
  commits the indexer makes (every ``NEWSFEED_INDEX_COMMIT_ITEMS``) counted in; ``index_cpu_us_per_article``
  is the CPU that took (tantivy's indexing thread included), the steadier figure on a shared machine;
- ``query_ms_median`` / ``query_ms_p95``: ``SearchIndex.search`` (ranked, copies joined, results loaded) over
  the full index, for queries made of title words, some with a tag, source or --since filter;
- ``cli_search_ms_median``: the whole ``newsfeed search`` command, process start included;
- with ``--broker``: ``kafka_articles_per_s``, the ``newsfeed index`` consumer loop (in this process) draining
  ``--kafka-articles`` articles from a fresh topic pair (``newsfeed index --once``), from its start to its last
  commit, with ``kafka_cpu_us_per_article`` (this process, tantivy's threads included) and the 1-minute load
  average at its end;
- ``targets``: each figure that has a target, with the target and whether it is met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.admin import create_topics  # noqa: E402
from agents.app import client_options  # noqa: E402
from agents.index import run_index  # noqa: E402
from agents.offline import ARCHIVE_WINDOW_DAYS, offline_pipeline, process_lines  # noqa: E402
from pipeline.search import index_entry, search_request  # noqa: E402
from pipeline.search_index import SearchIndex  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

DEV = ROOT.parent / "shared" / "data" / "dev"
NOW = datetime.now(UTC)
TARGETS = {  # figure: (target, "min" when the figure must reach it, "max" when it must stay under it)
    "index_articles_per_s": (2000, "min"),
    "kafka_articles_per_s": (2000, "min"),
    "query_ms_median": (20.0, "max"),
}


def dev_articles() -> list[tuple[str, dict[str, Any]]]:
    """(topic kind, article) for every dev item the pipeline turns into an article."""
    settings = replace(Settings.from_env({}), dedupe_window_days=ARCHIVE_WINDOW_DAYS)
    pipeline = offline_pipeline(settings)
    files = sorted(p for p in DEV.glob("*.jsonl") if not p.name.endswith(".labels.jsonl"))

    def lines():
        for path in files:
            with path.open("rb") as handle:
                for number, line in enumerate(handle, 1):
                    if line.strip():
                        yield str(path), number, line.rstrip(b"\n")

    out = {}
    for message in process_lines(pipeline, lines(), replay=True):
        kind = message.topic.rsplit(".", 1)[-1]
        if kind in {"search", "duplicates"} and message.key not in out:  # dedupe-stream repeats other files' ids
            out[message.key] = (kind, orjson.loads(orjson.dumps(message.value)))
    return list(out.values())


def articles(base: list[tuple[str, dict[str, Any]]], count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """``count`` articles as topic messages: ``base`` repeated with fresh ids and spread publication times."""
    out: list[tuple[str, bytes]] = []
    cycle = 0
    while len(out) < count:
        for kind, article in base:
            if len(out) >= count:
                break
            value = dict(article)
            value["id"] = f"{cycle}-{article['id']}"
            value["key"] = f"{cycle}-{article.get('key') or article['id']}"
            if article.get("duplicate_of"):
                value["duplicate_of"] = f"{cycle}-{article['duplicate_of']}"
                value["duplicate_of_key"] = f"{cycle}-{article.get('duplicate_of_key') or article['duplicate_of']}"
            value["published_at"] = (NOW - timedelta(seconds=rng.uniform(0, 30 * 86_400))).isoformat()
            out.append((kind, orjson.dumps(value)))
        cycle += 1
    return out


def bench_indexing(messages: list[tuple[str, bytes]], directory: Path, commit_items: int) -> dict[str, Any]:
    index = SearchIndex.open(directory, writable=True)
    started = time.perf_counter()
    cpu_started = time.process_time()  # this process's CPU, tantivy's indexing thread included
    since_commit = 0
    for number, (kind, data) in enumerate(messages):
        index.upsert(index_entry(orjson.loads(data), kind="copy" if kind == "duplicates" else "story"))
        since_commit += 1
        if since_commit >= commit_items:
            index.commit({"bench:0": number + 1})
            since_commit = 0
    index.commit({"bench:0": len(messages)})
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    index.close()
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    return {
        "indexed_articles": len(messages),
        "index_seconds": round(elapsed, 2),
        "index_articles_per_s": round(len(messages) / elapsed),
        "index_cpu_us_per_article": round(cpu / len(messages) * 1e6, 1),
        "index_bytes_per_article": round(size / len(messages)),
    }


def queries(base: list[tuple[str, dict[str, Any]]], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Query arguments: one or two title words, a quarter with a filter."""
    titles = [a["title"] for _, a in base if a.get("title")]
    words = [w.strip(".,:;!?\"'()").lower() for t in titles for w in t.split()]
    words = [w for w in words if len(w) > 3 and w.isalpha()]
    tags = sorted({t["topic"] for _, a in base for t in a.get("tags") or []}) or ["trade"]
    sources = sorted({a["source"] for _, a in base if a.get("source")})
    out = []
    for i in range(count):
        text = " ".join(rng.sample(words, rng.choice([1, 1, 2])))
        args: dict[str, Any] = {"text": text}
        if i % 8 == 1:
            args["tags"] = [rng.choice(tags)]
        elif i % 8 == 3:
            args["since"] = "2d"
        elif i % 8 == 5:
            args["sources"] = [rng.choice(sources)]
        elif i % 8 == 7:
            args = {"text": "", "tags": [rng.choice(tags)]}
        out.append(args)
    return out


def bench_queries(directory: Path, asked: list[dict[str, Any]]) -> dict[str, Any]:
    index = SearchIndex.open(directory)
    for args in asked[:10]:  # warm the page cache and the reader
        index.search(_request(args))
    times = []
    hits = []
    for args in asked:
        request = _request(args)
        started = time.perf_counter()
        found = index.search(request)
        times.append((time.perf_counter() - started) * 1000)
        hits.append(len(found))
    ordered = sorted(times)
    return {
        "queries": len(asked),
        "query_ms_median": round(statistics.median(ordered), 2),
        "query_ms_p95": round(ordered[int(len(ordered) * 0.95)], 2),
        "query_hits_median": statistics.median(hits),
    }


def _request(args: dict[str, Any]):
    return search_request(
        args.get("text", ""), tags=args.get("tags", ()), sources=args.get("sources", ()), since=args.get("since"),
        now=NOW,
    )  # fmt: skip


def bench_cli(directory: Path, runs: int = 5) -> dict[str, Any]:
    newsfeed = Path(sys.executable).with_name("newsfeed")
    env = {"NEWSFEED_INDEX_DIR": str(directory), "PATH": "/usr/bin:/bin"}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(newsfeed), "search", "trade tariffs", "--format", "json"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        times.append((time.perf_counter() - started) * 1000)
    return {"cli_search_ms_median": round(statistics.median(times), 1)}


def bench_kafka(broker: str, messages: list[tuple[str, bytes]], workdir: Path) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {"NEWSFEED_BROKER": broker, "NEWSFEED_TOPIC_PREFIX": prefix, "NEWSFEED_INDEX_DIR": str(workdir / "kafka")}
    )

    async def run() -> dict[str, Any]:
        await create_topics(settings)
        producer = AIOKafkaProducer(**client_options(settings), linger_ms=20, max_batch_size=1_048_576,
                                    max_request_size=16_000_000)  # fmt: skip
        await producer.start()
        try:
            for kind, data in messages:
                key = orjson.loads(data)["key"].encode()
                await producer.send(settings.topic(kind), data, key=key)
            await producer.flush()
        finally:
            await producer.stop()
        started = time.perf_counter()
        cpu_started = time.process_time()
        totals = await run_index(settings, once=True)  # returns after its last commit, index and group offsets
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        assert totals["indexed"] == len(messages), totals
        return {
            "kafka_articles": len(messages),
            "kafka_articles_per_s": round(len(messages) / elapsed),
            "kafka_cpu_us_per_article": round(cpu / len(messages) * 1e6, 1),
            "kafka_commits": totals["commits"],
            "kafka_load_average": round(os.getloadavg()[0], 1),
        }

    return asyncio.run(run())


def run(
    articles_count: int = 100_000, query_count: int = 400, broker: str | None = None, kafka_articles: int = 20_000
) -> dict[str, Any]:
    """Every figure of this bench as one dict (``bench/report.py`` can call this as a phase)."""
    rng = random.Random(15)
    started = time.perf_counter()
    base = dev_articles()
    prepared_s = time.perf_counter() - started
    messages = articles(base, articles_count, rng)
    result: dict[str, Any] = {
        "dev_articles": len(base),
        "dev_copies": sum(1 for kind, _ in base if kind == "duplicates"),
        "prepare_seconds": round(prepared_s, 1),
        "mean_body_chars": round(statistics.mean(len(a.get("body") or "") for _, a in base)),
    }
    workdir = Path(tempfile.mkdtemp(prefix="index-bench-"))
    try:
        directory = workdir / "index"
        result |= bench_indexing(messages, directory, Settings.from_env({}).index_commit_items)
        result |= bench_queries(directory, queries(base, query_count, rng))
        result |= bench_cli(directory)
        if broker:
            result |= bench_kafka(broker, messages[:kafka_articles], workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["load_average"] = [round(load, 1) for load in os.getloadavg()]
    result["targets"] = against_targets(result)
    return result


def against_targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each measured figure that has a target: the figure, the target, and whether it is met."""
    out = {}
    for name, (target, kind) in TARGETS.items():
        if name in result:
            figure = result[name]
            out[name] = {
                "figure": figure,
                "target": target,
                "met": figure >= target if kind == "min" else figure <= target,
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--broker", default=None, help="also measure the Kafka consumer loop against this broker")
    parser.add_argument("--kafka-articles", type=int, default=20_000)
    args = parser.parse_args()
    print(json.dumps(run(args.articles, args.queries, args.broker, args.kafka_articles)))


if __name__ == "__main__":
    main()
