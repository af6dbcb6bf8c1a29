"""Each message's handling: its log lines carry where it came from and its id, and it is counted and timed."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import orjson
import structlog

from agents.logs import bind_item, configure_logging
from agents.metrics import Metrics
from agents.wiring import _Taking


@dataclass
class _Message:
    topic: str = "news.raw"
    partition: int = 3
    offset: int = 41


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_log_lines_inside_a_message_carry_its_origin_and_id_and_none_after() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json")
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    log = structlog.get_logger("test")
    metrics = Metrics.create()
    with _Taking(_Message(), metrics.items_in.labels("dedupe"), metrics.latency.labels("dedupe")):
        bind_item(item_id="story-7")
        log.info("inside")
        logging.getLogger("faust").warning("from a library")
        log.info("explicit", item_id="other")
    log.info("after")
    bind_item(item_id="nowhere")  # outside a message: ignored

    inside, library, explicit, after = _lines(stream)
    for line in (inside, library):
        assert (line["topic"], line["partition"], line["offset"], line["item_id"]) == ("news.raw", 3, 41, "story-7")
    assert explicit["item_id"] == "other"  # what a call passes wins over the context
    assert not {"topic", "partition", "offset", "item_id"} & set(after)
    assert metrics.registry.get_sample_value("newsfeed_items_in_total", {"stage": "dedupe"}) == 1
    assert metrics.registry.get_sample_value("newsfeed_processing_seconds_count", {"stage": "dedupe"}) == 1
