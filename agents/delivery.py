"""Fail-closed delivery: a consumed event is acknowledged only once the broker acknowledged its every output.

Faust acknowledges a stream event when the agent's loop moves on (and in a ``finally``, so also when the loop
raises), and commits acknowledged offsets after flushing the producer, whether or not the flushed sends
succeeded. A refused send was then committed past and its item lost. Here Faust's acks of stream events are
dropped (``agents.transport``): an event is *released* for commit only when every output of every item it
carried was acknowledged by the broker, or the item was dead-lettered in their place:

- An output refused for a reason of the item's own (too large, an invalid record) is sent once more alone,
  then, refused again, replaced by a dead letter with reason ``output_rejected``, the topic and the broker's
  error, and the original bytes.
- Any other failure (authorisation, an unknown topic, retries exhausted), or a dead letter that is refused
  too, halts the worker's intake: ``/health`` answers 503, ``newsfeed_delivery_halted`` is 1, one
  ``delivery_halted`` line names the topic and the cause, and the item's outputs are sent again with
  exponential backoff until the broker takes them; then work resumes. Nothing is committed past the item.
- An event whose handling raised is never released: the worker stops with an error (``crash``) and the event
  is read again after the restart.

Events are released in any order; ``agents.transport`` commits only a gap-free run of acknowledged offsets.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from aiokafka.errors import (
    BrokerResponseError,
    CorruptRecordException,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from agents.metrics import Metrics

log = structlog.get_logger(__name__)

Send = tuple[str, bytes, bytes]
"""One output message: topic, key, value."""

_INVALID_RECORD: Final = 87
_OWN_ERRORS: Final = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, CorruptRecordException)
_MAX_IN_FLIGHT: Final = 256
"""Events (batches) whose outputs may be awaited at once; the agents wait for room beyond it."""


def is_own_failure(error: BaseException) -> bool:
    """True when the broker refused a message for what it is (its size, its content), not for where it went."""
    if isinstance(error, _OWN_ERRORS):
        return True
    return isinstance(error, BrokerResponseError) and getattr(error, "errno", None) == _INVALID_RECORD


@dataclass(slots=True)
class Item:
    """What one input item must deliver before its event may be released."""

    sends: list[Send]
    """The item's own outputs, each sent alone when a first attempt is retried."""
    reject: Callable[[str, BaseException], Send | None] | None
    """Builds the item's ``output_rejected`` dead letter from the refusing topic and error (None from it: that
    output is given up, logged as ``output_dropped``). None for a dead letter itself, and for an item read
    again (its first outputs may be out): a refusal then halts and retries, so no id reaches two topics."""
    item_id: str | None = None
    futures: list[asyncio.Future[Any]] = field(default_factory=list)
    """The first attempt's futures; an intake batch's one future is shared by all its items."""
    remember: Callable[[bytes], Awaitable[None]] | None = None
    """Records the item's ``output_rejected`` dead letter (its value) durably, so that the item read again
    after a crash goes to the dead letter again and not to a second topic; awaited before the item is done."""


class Delivery:
    """Sends outputs and releases the events they came from once the broker acknowledged them."""

    def __init__(
        self,
        send: Callable[[str, bytes, bytes], Awaitable[asyncio.Future[Any]]],
        release: Callable[[Any], None],
        metrics: Metrics,
        *,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self._send = send
        self._release = release
        self._metrics = metrics
        self._backoff = backoff
        self._room = asyncio.Semaphore(_MAX_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stuck: dict[int, tuple[str, str]] = {}
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._stopping = False
        self.crash: Callable[[BaseException], Awaitable[None]] | None = None
        """Stops the worker with an error; set by the worker once it runs."""

    @property
    def halted(self) -> tuple[str, str] | None:
        """The topic and cause of a delivery that is being retried, or None while all is delivered."""
        return next(iter(self._stuck.values()), None)

    async def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[Any]:
        """Hand one message to the producer; the future is failed, not raised, when the producer refuses it."""
        try:
            return await self._send(topic, key, value)
        except Exception as error:  # noqa: BLE001 - refused before sending (e.g. over the request size)
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_exception(error)
            return future

    async def ready(self) -> bool:
        """Wait while a delivery is halted: no new work is taken until the broker takes the stuck outputs.

        Returns False once the worker is stopping: the agent returns, and what it held is read again later.
        """
        if not self._resumed.is_set():
            await self._resumed.wait()
        return not self._stopping

    async def settle(self, events: Sequence[Any], items: list[Item]) -> None:
        """Release ``events`` for commit once every item's outputs are delivered or dead-lettered."""
        await self._room.acquire()
        task = asyncio.get_running_loop().create_task(self._settle(list(events), items))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def fail(self, events: Sequence[Any], error: BaseException) -> None:
        """Handling ``events`` raised: they are never released (nor committed); the worker stops, to read them again."""
        log.error("batch_failed", events=len(events), error=repr(error))
        if self.crash is not None:
            await self.crash(error)

    async def stop(self, *, within: float) -> None:
        """On shutdown: wait up to ``within`` seconds for the deliveries in flight, then give up the rest.

        What is given up is not released, so not committed: it is read again after the restart. Agents waiting
        in ``ready`` are woken to return, or Faust would wait for their events forever before it stops.
        """
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=within)
            if pending:
                log.warning("deliveries_abandoned", deliveries=len(pending))
            for task in pending:
                task.cancel()
        self._stopping = True
        self._resumed.set()

    async def _settle(self, events: list[Any], items: list[Item]) -> None:
        try:
            waiting = {future for item in items for future in item.futures if not future.done()}
            if waiting:  # items share batch futures: each is awaited once, then each item is checked as it is
                await asyncio.wait(waiting)
            for item in items:
                if not _delivered(item.futures):
                    await self._deliver(item)
            for event in events:
                self._release(event.message)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - held events stay unacknowledged; the worker restarts
            await self.fail(events, error)
        finally:
            self._room.release()

    async def _deliver(self, item: Item) -> None:
        errors = await _errors(item.futures)
        if not any(error is not None for error in errors):
            return
        if len(errors) == len(item.sends):  # one future per output: retry only the refused ones
            pending = [send for send, error in zip(item.sends, errors, strict=True) if error is not None]
        else:  # a shared first attempt (an intake batch): each item retries its own outputs
            pending = list(item.sends)
        failures = await self._resend(pending)  # at once, alone: the refusal may have been a whole batch's
        pause = self._backoff[0]
        while failures:
            (topic, _, _), error = failures[0]
            if item.reject is not None and all(is_own_failure(refusal) for _, refusal in failures):
                letter = item.reject(topic, error)
                if letter is None:
                    log.error("output_dropped", item_id=item.item_id, topic=topic, error=repr(error))
                    break
                if item.remember is not None:  # first, so that no crash can leave the letter sent but forgotten
                    await item.remember(letter[2])
                refused = await self._resend([letter])
                if not refused:
                    self._metrics.dead_letters.labels("output_rejected").inc()
                    log.warning("item_dead_lettered", item_id=item.item_id, reason="output_rejected", topic=topic,
                                error=repr(error))  # fmt: skip
                    break
                (topic, _, _), error = refused[0]
            self._halt(item, topic, error)
            await asyncio.sleep(pause * (0.5 + random.random()))  # noqa: S311 - jitter, not a secret
            pause = min(pause * 2, self._backoff[1])
            failures = await self._resend([send for send, _ in failures])
        self._resume(item)

    async def _resend(self, sends: list[Send]) -> list[tuple[Send, BaseException]]:
        futures = [await self.send(*send) for send in sends]
        return [(sends[i], error) for i, error in enumerate(await _errors(futures)) if error is not None]

    def _halt(self, item: Item, topic: str, error: BaseException) -> None:
        if id(item) not in self._stuck:
            self._metrics.halted.set(1)
            log.error("delivery_halted", topic=topic, cause=repr(error), item_id=item.item_id)
        self._stuck[id(item)] = (topic, repr(error))
        self._resumed.clear()

    def _resume(self, item: Item) -> None:
        if self._stuck.pop(id(item), None) is not None and not self._stuck:
            self._metrics.halted.set(0)
            self._resumed.set()
            log.info("delivery_resumed")


def _delivered(futures: list[asyncio.Future[Any]]) -> bool:
    """True when every future is done and none failed (all of them acknowledged by the broker)."""
    return all(future.done() and not future.cancelled() and future.exception() is None for future in futures)


async def _errors(futures: list[asyncio.Future[Any]]) -> list[BaseException | None]:
    results = await asyncio.gather(*futures, return_exceptions=True)
    return [result if isinstance(result, BaseException) else None for result in results]
