"""Benchmark the feed and crawl readers: parse + map + decode, the path ``newsfeed replay`` takes; with
``--broker``, ``newsfeed replay`` itself through a Kafka broker.

Usage: ``python bench/feeds_bench.py [--items N] [--records N] [--keep DIR] [--broker kafka://127.0.0.1:PORT]``;
with ``--keep`` the generated files stay in DIR.
Builds, in a temporary directory (never in the repository), an RSS 2.0 file and an Atom 1.0 file from the
dev items (``../shared/data/dev/dedupe-stream.jsonl``) and a CC-NEWS-like ``.warc.gz`` (one gzip member per
record, a request and a response per page) from the whole pages of ``article-extraction.jsonl``; then times
``agents.feeds.read_records`` and the validation replay does, for each. Prints one JSON object: wall-clock and
CPU rates (the machine is shared: CPU time is the steadier figure).

With ``--broker``, each file is also replayed by ``newsfeed replay --no-progress FILE`` (a subprocess, as an
operator runs it) to topics of a fresh prefix, deleted afterwards. ``per_second`` is replay's own rate (items
over the seconds its summary reports: from the first file opened to the last batch acknowledged);
``command_seconds`` is the whole command with its start-up; ``cpu_seconds`` is the command's CPU (user and
system, start-up included; the broker's own CPU is not counted); ``load`` is the 1-minute load average before
and after. The raw topic's end offsets are
checked against the items the summary reports sent.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from agents.admin import create_topics
from agents.app import client_options
from agents.feeds import read_records, resolve
from agents.logs import configure_logging
from pipeline.decode import decode, validate_flat
from pipeline.settings import Settings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"
NEWSFEED = Path(sys.executable).with_name("newsfeed")
TARGETS = {"rss": 5000, "atom": 5000, "warc": 2000}


def _items(count: int) -> list[dict[str, str]]:
    items = []
    with (DATA / "dedupe-stream.jsonl").open(encoding="utf-8") as stream:
        for line in stream:
            items.append(json.loads(line))
    out = []
    while len(out) < count:
        for item in items:
            out.append(item)
            if len(out) == count:
                break
    return out


def _rss(items: list[dict[str, str]], path: Path) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
                  'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Bench</title>'
                  "<language>en</language>\n")  # fmt: skip
        for n, item in enumerate(items):
            out.write(
                f"<item><guid>{n}-{escape(item['id'])}</guid><link>{escape(item.get('url') or '')}</link>"
                f"<title>{escape(item.get('title') or '')}</title>"
                f"<pubDate>{format_datetime(start + timedelta(minutes=n))}</pubDate>"
                f"<content:encoded><![CDATA[{item['body'].replace(']]>', ']] >')}]]></content:encoded></item>\n"
            )
        out.write("</channel></rss>\n")


def _atom(items: list[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
                  'xml:lang="en"><title>Bench</title>\n')  # fmt: skip
        for n, item in enumerate(items):
            out.write(
                f'<entry><id>urn:bench:{n}</id><link href="{escape(item.get("url") or "")}"/>'
                f"<title>{escape(item.get('title') or '')}</title><updated>2024-01-01T00:00:00Z</updated>"
                f'<content type="html">{escape(item["body"])}</content></entry>\n'
            )
        out.write("</feed>\n")


def _warc(records: int, path: Path) -> int:
    pages = []
    with (DATA / "article-extraction.jsonl").open(encoding="utf-8") as stream:
        for line in stream:
            item = json.loads(line)
            pages.append((item["url"], item["body"].encode("utf-8")))
    written = 0
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        while written < records:
            for url, page in pages:
                request = StatusAndHeaders("GET / HTTP/1.1", [("Host", "bench")], is_http_request=True)
                writer.write_record(writer.create_warc_record(url, "request", http_headers=request))
                headers = StatusAndHeaders(
                    "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
                )
                record = writer.create_warc_record(url, "response", payload=io.BytesIO(page), http_headers=headers)
                writer.write_record(record)
                written += 1
                if written == records:
                    break
    return written


def _time(path: Path, settings: Settings) -> dict[str, float]:
    files = resolve([str(path)])
    started, cpu = time.perf_counter(), time.process_time()
    entries = skipped = 0
    for record in read_records(files, max_bytes=settings.max_item_bytes):
        if record.data is None:
            skipped += 1
            continue
        if record.item is not None:
            validate_flat(record.item, record.data, settings)
        else:
            decode(record.data, settings)
        entries += 1
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "entries": entries,
        "skipped": skipped,
        "seconds": round(seconds, 3),
        "per_second": round(entries / seconds),
        "cpu_seconds": round(cpu, 3),
        "per_cpu_second": round(entries / cpu),
        "mib_per_cpu_second": round(path.stat().st_size / 2**20 / cpu, 1),
        "mib_on_disk": round(path.stat().st_size / 2**20, 1),
    }


def _replay(path: Path, broker: str) -> dict[str, float]:
    """Time ``newsfeed replay`` on one file through ``broker``, to topics of their own (deleted after)."""
    prefix = f"feedbench{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "NEWSFEED_BROKER": broker, "NEWSFEED_TOPIC_PREFIX": prefix}
    settings = Settings.from_env({"NEWSFEED_BROKER": broker, "NEWSFEED_TOPIC_PREFIX": prefix})
    asyncio.run(create_topics(settings))
    try:
        load_before = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [str(NEWSFEED), "replay", "--no-progress", str(path)], env=env, capture_output=True, check=True
        )
        command = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_after = os.getloadavg()[0]
        summary = json.loads(done.stdout.splitlines()[-1])
        on_topic = asyncio.run(_raw_messages(settings))
    finally:
        asyncio.run(_delete_topics(settings))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sent = summary["sent"]
    return {
        "sent": sent,
        "on_topic": on_topic,
        "seconds": round(summary["seconds"], 3),
        "per_second": round(sent / summary["seconds"]),
        "command_seconds": round(command, 3),
        "per_command_second": round(sent / command),
        "cpu_seconds": round(cpu, 3),
        "per_cpu_second": round(sent / cpu),
        "load": [round(load_before, 2), round(load_after, 2)],
    }


async def _raw_messages(settings: Settings) -> int:
    topic = settings.topic("raw")
    consumer = AIOKafkaConsumer(topic, **client_options(settings))
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.raw_partitions)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def _delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(f"{settings.topic_prefix}.")]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--records", type=int, default=3_000)
    parser.add_argument(
        "--keep", metavar="DIR", default=None, help="write the files there (outside the repo) and keep them"
    )
    parser.add_argument("--broker", default=None, help="also time `newsfeed replay` of each file through this broker")
    args = parser.parse_args()
    configure_logging("WARNING")  # the topics' creation is not this bench's output (stdout is one JSON object)
    settings = Settings.from_env({})
    items = _items(args.items)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        rss, atom, warc = Path(tmp) / "bench.rss", Path(tmp) / "bench.atom", Path(tmp) / "bench.warc.gz"
        _rss(items, rss)
        _atom(items, atom)
        _warc(args.records, warc)
        files = {"rss": rss, "atom": atom, "warc": warc}
        result: dict[str, object] = {name: _time(path, settings) for name, path in files.items()}
        if args.broker:
            replayed = {name: _replay(path, args.broker) for name, path in files.items()}
            result["replay"] = replayed
            for name, figures in replayed.items():
                verdict = "met" if figures["per_second"] >= TARGETS[name] else "NOT met"
                print(f"feeds: newsfeed replay {name}: {figures['per_second']:,}/s (target {TARGETS[name]:,}: "
                      f"{verdict}), {figures['per_cpu_second']:,} per CPU-s, load {figures['load']}",
                      file=sys.stderr)  # fmt: skip
    result["targets"] = {"rss_atom_per_second": 5000, "warc_per_second": 2000}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
