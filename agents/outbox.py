"""Messages gathered into producer batches per topic partition: one append a message, one send a batch.

The dedupe agent sends about two messages per item (the entry's changelog record and the item's output). One
``send()`` each goes through aiokafka's per-message path (and, for the changelog, Faust's buffer and future
bookkeeping); appending to a ``BatchBuilder`` and sending whole batches with ``send_batch`` costs a fraction of
that (``agents/replay.py`` measured a third). Messages are partitioned by key exactly as ``send()`` does
(aiokafka's ``DefaultPartitioner``, murmur2 as the Java client), so keys land where they always did.

Each message's future is its batch's: resolved with the batch's metadata when the broker acknowledged the
batch, failed with its error when it was refused. ``agents.delivery`` retries the outputs of the items of a
refused batch alone, so one bad message cannot take a batch's others down with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder


class _Open:
    """A batch being filled and the future its messages were promised."""

    __slots__ = ("batch", "future")

    def __init__(self, batch: BatchBuilder, future: asyncio.Future[Any]) -> None:
        self.batch = batch
        self.future = future


class Outbox:
    """Batches per topic partition, sent on ``flush`` (and a full one at the next ``flush``)."""

    def __init__(
        self,
        producer: Callable[[], AIOKafkaProducer],
        on_sent: Callable[[asyncio.Future[Any]], None] | None = None,
    ) -> None:
        """``on_sent`` is called with each batch's future once it is done (e.g. to count refused batches)."""
        self._producer = producer
        self._on_sent = on_sent
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}
        self._open: dict[tuple[str, int], _Open] = {}
        self._full: list[tuple[str, int, _Open]] = []

    async def learn(self, topic: str) -> None:
        """Fetch ``topic``'s partitions (metadata) once, at the first call; ``add`` needs them for keyed messages."""
        if topic not in self._partitions:
            self._partitions[topic] = sorted(await self._producer().partitions_for(topic))

    def add(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> asyncio.Future[Any]:
        """Append one message to its partition's batch; the future is the batch's.

        Synchronous, so that a table's changelog hook may call it. Without ``partition`` the topic must be
        learnt (see ``learn``).
        """
        if partition is None:
            partitions = self._partitions[topic]
            partition = self._partitioner(key, partitions, partitions)
        slot = self._open.get((topic, partition))
        if slot is None:
            slot = self._open[topic, partition] = self._new()
        if slot.batch.append(key=key, value=value, timestamp=None, headers=[]) is None:
            self._full.append((topic, partition, slot))
            slot = self._open[topic, partition] = self._new()
            slot.batch.append(key=key, value=value, timestamp=None, headers=[])  # a batch takes its first always
        return slot.future

    async def flush(self) -> None:
        """Hand every batch to the producer; their futures resolve when the broker answers."""
        ready = self._full + [(topic, partition, slot) for (topic, partition), slot in self._open.items()]
        self._full, self._open = [], {}
        producer = self._producer()
        for topic, partition, slot in ready:
            if self._on_sent is not None:
                slot.future.add_done_callback(self._on_sent)
            # Closed, the batch is complete: the producer sends it at once instead of waiting its linger for
            # messages that will never come (its sender waits only for batches still open).
            slot.batch.close()
            try:
                sent = await producer.send_batch(slot.batch, topic, partition=partition)
            except Exception as error:  # noqa: BLE001 - refused before sending: the batch's messages fail
                slot.future.set_exception(error)
                continue
            sent.add_done_callback(_settle(slot.future))

    def _new(self) -> _Open:
        return _Open(self._producer().create_batch(), asyncio.get_running_loop().create_future())


def _settle(future: asyncio.Future[Any]) -> Callable[[asyncio.Future[Any]], None]:
    def done(sent: asyncio.Future[Any]) -> None:
        if future.done():
            return
        if sent.cancelled():
            future.cancel()
        elif (error := sent.exception()) is not None:
            future.set_exception(error)
        else:
            future.set_result(sent.result())

    return done
