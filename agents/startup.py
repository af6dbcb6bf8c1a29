"""What a worker does before it joins its group: wait for the broker, and start where the other layout stands."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    KafkaError,
    SaslAuthenticationFailed,
)

from agents.access import refusal
from agents.clients import client_options, group_id
from pipeline.settings import Settings

log = structlog.get_logger(__name__)
T = TypeVar("T")

_CREDENTIAL_ERRORS = (AuthenticationFailedError, AuthenticationMethodNotSupported, SaslAuthenticationFailed)


class CredentialsError(RuntimeError):
    """The broker answered and refused the worker's credentials: waiting would not help."""


async def wait_for_broker(settings: Settings, *, first: float = 1.0, most: float = 30.0) -> None:
    """Return once the broker answers; until then retry with exponential backoff, saying so in the log.

    Raises:
        CredentialsError: the broker refused the credentials.
    """
    pause = first
    attempt = 0
    while True:
        attempt += 1
        admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10_000)
        try:
            await asyncio.wait_for(admin.start(), timeout=15)
            await asyncio.wait_for(admin.list_topics(), timeout=15)
        except _CREDENTIAL_ERRORS as error:
            raise CredentialsError(await refusal(settings) or f"{settings.broker} refused the credentials") from error
        except Exception as error:
            reason = await refusal(settings)  # a refused password or certificate fails the same way again
            if reason is not None:
                raise CredentialsError(reason) from error
            log.warning("broker_unreachable", broker=settings.broker, attempt=attempt, retry_in=round(pause, 1),
                        error=repr(error))  # fmt: skip
        else:
            if attempt > 1:
                log.info("broker_reachable", broker=settings.broker, attempts=attempt)
            return
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(pause)
        pause = min(pause * 2, most)


async def patiently(step: Callable[[], Awaitable[T]], what: str, *, within: float = 60.0) -> T | None:
    """Run a start-up step, again while the broker answers with a retriable error (a fresh broker has no group
    coordinator for a few seconds); after ``within`` seconds, or on another broker error, log and go on."""
    pause = 0.5
    deadline = time.monotonic() + within
    while True:
        try:
            return await step()
        except KafkaError as error:
            if not getattr(error, "retriable", False) or time.monotonic() + pause > deadline:
                log.warning("startup_step_skipped", step=what, error=repr(error))
                return None
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5.0)


async def follow_other_layout(settings: Settings) -> dict[int, int]:
    """Move this worker's group on raw up to where the other layout's group stands, where that is further.

    ``all`` workers read raw in ``<app id>``, ``intake`` workers in ``<app id>-intake`` (README "Scaling"). A
    group that never read raw (or read it before the other layout took over) would start at the start of
    retention and decide again items older than the dedupe window. ``check_layout`` has made sure no worker of
    the other layout reads raw now.

    Returns:
        ``{partition: offset}`` of the moves made.
    """
    role = settings.worker_role
    if role == "dedupe":
        return {}
    ours, other = group_id(settings), group_id(settings, "intake" if role == "all" else "all")
    topic = settings.topic("raw")
    theirs = await _committed(settings, other, topic)
    if not theirs:
        return {}
    mine = await _committed(settings, ours, topic)
    moves = {tp: offset for tp, offset in theirs.items() if mine.get(tp) is None or mine[tp] < offset}
    if not moves:
        return {}
    consumer = AIOKafkaConsumer(group_id=ours, enable_auto_commit=False, **client_options(settings))
    await consumer.start()
    try:
        consumer.assign(list(moves))  # manual assignment: commits go to the group without joining it
        await consumer.commit(moves)
    finally:
        await consumer.stop()
    moved = {tp.partition: offset for tp, offset in sorted(moves.items())}
    log.info("group_follows_other_layout", group=ours, other=other, topic=topic, offsets=moved)
    return moved


async def _committed(settings: Settings, group: str, topic: str) -> dict[TopicPartition, int]:
    # A consumer's offset fetch, not the admin client's: aiokafka 0.14 cannot decode Kafka 4's admin reply.
    consumer = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **client_options(settings))
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public call lists them
            partitions = cluster.partitions_for_topic(topic) or set()
        found = {}
        for partition in sorted(partitions):
            tp = TopicPartition(topic, partition)
            offset = await consumer.committed(tp)
            if offset is not None:
                found[tp] = offset
        return found
    finally:
        await consumer.stop()
