"""What every agent of a worker shares: the app, topics, tables, stages, metrics and delivery (``Wiring``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from agents.app import NewsfeedApp, Tables, Topics
from agents.delivery import Delivery, Item, Send
from agents.logs import ITEM_CONTEXT
from agents.metrics import Metrics
from agents.outbox import Outbox
from pipeline.prepared import Prepared
from pipeline.process import Pipeline
from pipeline.records import DeadLetter, Message
from pipeline.route import dead_letter_message
from pipeline.settings import Settings

log = structlog.get_logger(__name__)


class _Taking:
    """The context of one message's handling (``Wiring.taking``): a class, as it runs for every message."""

    __slots__ = ("_counted", "_message", "_started", "_timed", "_token")

    def __init__(self, message: Any, counted: Any, timed: Any) -> None:
        self._message, self._counted, self._timed = message, counted, timed

    def __enter__(self) -> None:
        message = self._message
        self._token = ITEM_CONTEXT.set({"topic": message.topic, "partition": message.partition,
                                        "offset": message.offset})  # fmt: skip
        self._counted.inc()
        self._started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._timed.observe(time.perf_counter() - self._started)
        ITEM_CONTEXT.reset(self._token)


@dataclass(frozen=True, slots=True)
class Wiring:
    """Everything an agent needs, built once per worker."""

    settings: Settings
    app: NewsfeedApp
    topics: Topics
    tables: Tables | None
    """The dedupe tables; None in an ``intake`` worker."""
    pipeline: Pipeline
    metrics: Metrics
    delivery: Delivery
    started: threading.Event = field(default_factory=threading.Event)
    """Set once the worker has recovered its tables and runs its agents."""

    def taking(self, message: Any, stage: str) -> _Taking:
        """One message's handling by ``stage``: log context bound (and unbound after), counted and timed."""
        metrics = self.metrics
        return _Taking(message, metrics.child(metrics.items_in, stage), metrics.child(metrics.latency, stage))

    async def send_item(self, messages: list[Message], item: Item, *, stage: str) -> Item:
        """Send an item's output messages; their futures go to ``item``, which is returned."""
        for message in messages:
            send = encode(message)
            item.sends.append(send)
            item.futures.append(await self.delivery.send(*send))
            self.metrics.child(self.metrics.items_out, stage, message.topic).inc()
        return item

    def queue_item(self, messages: list[Message], item: Item, outbox: Outbox, *, stage: str) -> Item:
        """Add an item's output messages to ``outbox``'s batches; their futures go to ``item``, returned."""
        for message in messages:
            send = encode(message)
            item.sends.append(send)
            item.futures.append(outbox.add(*send))
            self.metrics.child(self.metrics.items_out, stage, message.topic).inc()
        return item

    async def send_dead_letter(self, letter: DeadLetter, *, stage: str) -> Item:
        """Send a dead letter, counted by reason and logged with the item id when known."""
        self.metrics.dead_letters.labels(letter.reason).inc()
        log.warning(
            "item_dead_lettered", item_id=letter.item_id, reason=letter.reason, stage=letter.stage,
            detail=letter.detail,
        )  # fmt: skip
        message = dead_letter_message(letter, self.settings)
        return await self.send_item([message], Item([], None, letter.item_id), stage=stage)

    def rejecter(self, prepared: Prepared, *, stage: str) -> Callable[[str, BaseException], Send | None]:
        """Builds ``prepared``'s ``output_rejected`` dead letter; a refused alert is given up (logged)."""
        alerts = self.settings.topic("alerts")

        def reject(topic: str, error: BaseException) -> Send | None:
            if topic == alerts:
                return None
            letter = self.pipeline.rejected(prepared, topic, error, datetime.now(UTC), stage=stage)
            return encode(dead_letter_message(letter, self.settings))

        return reject


def encode(message: Message) -> Send:
    """An output message as the producer sends it."""
    return message.topic, message.key.encode(), orjson.dumps(message.value)
