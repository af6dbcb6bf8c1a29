"""``newsfeed replay``: publish archived items to ``<prefix>.raw``, marked as replay, rate-limited."""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from agents.app import client_options
from agents.feeds import count_lines, read_lines
from pipeline.decode import Rejected, decode
from pipeline.settings import Settings

log = structlog.get_logger(__name__)

REPLAY_HEADER = "newsfeed-replay"
"""The Kafka header that marks an item as a backfill: alerts are not raised for it."""


@dataclass(slots=True)
class ReplaySummary:
    """What a replay did."""

    sent: int = 0
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        """The summary as plain data, for the final log line."""
        return {
            "sent": self.sent,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(self.rejected),
            "seconds": round(self.seconds, 3),
            "dry_run": self.dry_run,
        }


async def replay(
    settings: Settings,
    paths: list[str],
    *,
    rate: float | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    progress: bool | None = None,
    live: bool = False,
) -> ReplaySummary:
    """Publish each valid line of ``paths`` to the raw topic, keyed by its item id.

    Lines that cannot become items are counted by reason and not sent. Bytes are sent as they were read,
    so a replayed item is the archived item. With ``live`` the items are not marked as replay (they may
    raise alerts): for feeding a test or demo stream.
    """
    summary = ReplaySummary(dry_run=dry_run)
    headers = [] if live else [(REPLAY_HEADER, b"1")]
    topic = settings.topic("raw")
    producer = None
    if not dry_run:
        producer = AIOKafkaProducer(
            **client_options(settings),
            linger_ms=20,
            acks="all",
            enable_idempotence=True,
            max_request_size=settings.max_item_bytes * 4,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()  # a start that failed (broker refused us, unreachable) leaves its client open
            raise
    show = sys.stderr.isatty() if progress is None else progress
    total = count_lines(paths) if show else None
    if total is not None and limit is not None:
        total = min(total, limit)
    started = time.monotonic()
    pending: list[asyncio.Future[object]] = []
    bar = Progress(
        TextColumn("[bold]replay"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]:>8.0f}/s"), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not show,
    )  # fmt: skip
    task = bar.add_task("replay", total=total, rate=0.0)
    last_report = started
    try:
        with bar:
            for path, number, data in read_lines(paths):
                if limit is not None and summary.sent + sum(summary.rejected.values()) >= limit:
                    break
                item = decode(data, settings)
                if isinstance(item, Rejected):
                    summary.rejected[item.reason] += 1
                    log.warning("replay_line_rejected", path=path, line=number, reason=item.reason, detail=item.detail)
                    continue
                if producer is not None:
                    pending.append(await producer.send(topic, value=data, key=item.id.encode(), headers=headers))
                    if len(pending) >= 1000:
                        await asyncio.gather(*pending)
                        pending.clear()
                summary.sent += 1
                elapsed = time.monotonic() - started
                if rate:
                    ahead = summary.sent / rate - elapsed
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                bar.update(task, advance=1, rate=summary.sent / max(elapsed, 1e-9))
                if not show and time.monotonic() - last_report >= 5:
                    last_report = time.monotonic()
                    log.info("replay_progress", sent=summary.sent, rate=round(summary.sent / max(elapsed, 1e-9), 1))
            if pending:
                await asyncio.gather(*pending)
    finally:
        if producer is not None:
            await producer.stop()
    summary.seconds = time.monotonic() - started
    log.info("replay_done", **summary.as_dict())
    return summary
