"""``newsfeed process``: the same stages as the worker, over files, with in-memory state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import IO

import orjson
import structlog

from agents.feeds import FeedFile, read_records, resolve
from pipeline.feeds import Broken, NotAFeedError
from pipeline.process import Pipeline, StageTimer
from pipeline.records import DeadLetter, Message, Origin
from pipeline.route import dead_letter_message
from pipeline.settings import Settings

log = structlog.get_logger(__name__)


def offline_pipeline(settings: Settings, timer: StageTimer | None = None) -> Pipeline:
    """A pipeline over dicts: the worker's stages without Kafka."""
    return Pipeline.from_settings(settings, items={}, bands={}, fired={}, timer=timer)


def process_lines(
    pipeline: Pipeline, lines: Iterator[tuple[str, int, bytes]], *, replay: bool = False
) -> Iterator[Message]:
    """Run each raw line through both steps; yields the output messages in input order."""
    settings = pipeline.settings
    for path, number, data in lines:
        now = datetime.now(UTC)
        prepared = pipeline.prepare(data, Origin(path, None, number, replay), now)
        if isinstance(prepared, DeadLetter):
            yield dead_letter_message(prepared, settings)
            continue
        try:
            yield from pipeline.settle(prepared, now)
        except Exception as error:  # noqa: BLE001 - as in the worker: dead-letter and go on
            yield dead_letter_message(pipeline.fail(prepared, error, now), settings)


ARCHIVE_WINDOW_DAYS = 36_500.0
"""Offline runs dedupe across their whole input by default: an archive mixes decades out of order, and its
size already bounds the in-memory index."""


def items_of(files: list[FeedFile], settings: Settings) -> Iterator[tuple[str, int, bytes]]:
    """``(path, position, raw item bytes)`` for every item of ``files``; broken entries and refused files are
    logged with their position and left out, skipped crawl records are counted in one line per file."""
    for file in files:
        skipped = 0
        try:
            for record in read_records([file], max_bytes=settings.max_item_bytes):
                if record.data is not None:
                    yield file.path, record.number, record.data
                elif isinstance(record.problem, Broken):
                    log.warning("process_entry_broken", path=file.path, position=record.where,
                                reason=record.problem.reason, detail=record.problem.detail)  # fmt: skip
                else:
                    skipped += 1
        except NotAFeedError as error:
            log.error("process_file_refused", path=file.path, reason=error.reason, detail=error.detail)
        if skipped:
            log.info("process_records_skipped", path=file.path, format=file.format, skipped=skipped)


def process(
    settings: Settings, paths: list[str], out: IO[bytes], *, replay: bool = False, window_days: float | None = None
) -> int:
    """Write one ``{"topic", "key", "value"}`` JSON line per output message; returns the count.

    ``window_days`` is the dedupe window (by event time); None means the whole input. Every path is checked
    first (``agents.feeds.PathError``).
    """
    files = resolve(paths)
    settings = replace(settings, dedupe_window_days=window_days or ARCHIVE_WINDOW_DAYS)
    pipeline = offline_pipeline(settings)
    count = 0
    for message in process_lines(pipeline, items_of(files, settings), replay=replay):
        out.write(orjson.dumps({"topic": message.topic, "key": message.key, "value": message.value}))
        out.write(b"\n")
        count += 1
    out.flush()
    return count
