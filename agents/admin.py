"""Topic administration and consumer-group moves: ``newsfeed topics`` and ``newsfeed reprocess``."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from aiokafka.errors import TopicAlreadyExistsError

from agents.broker import start_client
from agents.clients import client_options, group_id, prepared_topic
from pipeline.settings import Settings

log = structlog.get_logger(__name__)

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How one topic is created."""

    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The public topics with their partitions and retention (and the internal prepared stream)."""

    def retention(days: float, max_bytes: int = settings.max_item_bytes * 4) -> dict[str, str]:
        return {"retention.ms": str(int(days * _DAY_MS)), "max.message.bytes": str(max_bytes)}

    out = settings.output_retention_days
    # Raw takes items up to twice the item limit, so an over-size one still arrives and is dead-lettered;
    # its dead letter (base64, 4/3 of the bytes) fits the four times allowed on the other topics.
    raw_retention = retention(settings.raw_retention_days, settings.max_item_bytes * 2)
    return [
        TopicSpec(settings.topic("raw"), settings.raw_partitions, raw_retention),
        TopicSpec(settings.topic("search"), settings.raw_partitions, retention(out)),
        TopicSpec(settings.topic("duplicates"), settings.raw_partitions, retention(out)),
        # Alerts are keyed by alert id: compaction keeps the latest of each, retention bounds the rest.
        TopicSpec(settings.topic("alerts"), 1, {**retention(out), "cleanup.policy": "compact,delete"}),
        TopicSpec(settings.topic("deadletter"), 1, retention(settings.deadletter_retention_days)),
        TopicSpec(prepared_topic(settings), settings.dedupe_partitions, retention(settings.raw_retention_days)),
        # The poller's memory of each feed (agents/poll.py): compacted without time retention, so a feed that
        # is quiet for months is still not re-published; one partition, read whole when a poller starts.
        TopicSpec(settings.topic("poll-state"), 1, {"cleanup.policy": "compact"}),
    ]


async def create_topics(settings: Settings) -> dict[str, str]:
    """Create every topic that does not exist yet; returns ``{name: "created" | "exists"}``."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await start_client(admin, settings)
    try:
        existing = set(await admin.list_topics())
        result: dict[str, str] = {}
        missing = []
        for spec in topic_specs(settings):
            if spec.name in existing:
                result[spec.name] = "exists"
            else:
                missing.append(
                    NewTopic(spec.name, spec.partitions, settings.replication_factor, topic_configs=spec.config)
                )
        if missing:
            # Another process may create one between the listing and now: the outcome is the same.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            for topic in missing:
                result[topic.name] = "created"
        log.info("topics_created", topics=result)
        return result
    finally:
        await admin.close()


async def describe_topics(settings: Settings) -> list[dict[str, Any]]:
    """Partitions, replication factor and the retention/compaction config of each topic."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await start_client(admin, settings)
    try:
        names = [spec.name for spec in topic_specs(settings)]
        existing = set(await admin.list_topics())
        present = [name for name in names if name in existing]
        described = {t["topic"]: t for t in await admin.describe_topics(present)} if present else {}
        configs: dict[str, dict[str, str]] = {}
        if present:
            resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in present]
            for response in await admin.describe_configs(resources):
                for resource in response.resources:
                    name = resource[3]
                    configs[name] = {entry[0]: entry[1] for entry in resource[4]}
        rows = []
        for name in names:
            if name not in described:
                rows.append({"topic": name, "exists": False})
                continue
            partitions = described[name]["partitions"]
            config = configs.get(name, {})
            rows.append(
                {
                    "topic": name,
                    "exists": True,
                    "partitions": len(partitions),
                    "replication_factor": len(partitions[0]["replicas"]) if partitions else 0,
                    "retention_ms": config.get("retention.ms"),
                    "cleanup_policy": config.get("cleanup.policy"),
                }
            )
        return rows
    finally:
        await admin.close()


class WorkerRunningError(RuntimeError):
    """The pipeline's consumer group has live members: offsets cannot be moved under them."""


async def reprocess(settings: Settings, since: datetime) -> dict[int, int | None]:
    """Move the pipeline's consumer group on ``<prefix>.raw`` to the first offsets at or after ``since``.

    The group that reads raw is ``<app id>`` for ``all`` workers and ``<app id>-intake`` for ``intake`` workers
    (README "Scaling"): each of the two that has offsets on raw is moved; when neither has, ``<app id>`` is.

    Returns:
        ``{partition: offset}``; None where the partition has nothing that recent (moved to its end).

    Raises:
        WorkerRunningError: a worker of either group is running.
    """
    topic = settings.topic("raw")
    groups = [group_id(settings, "all"), group_id(settings, "intake")]
    admin = AIOKafkaAdminClient(**client_options(settings))
    await start_client(admin, settings)
    try:
        for name in groups:
            state, members = await _group_state(admin, name)
            if members or state not in {"Empty", "Dead", ""}:
                raise WorkerRunningError(
                    f"consumer group {name!r} is {state} with {len(members)} member(s): stop the workers first"
                )
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if not described or described[0].get("error_code") or not described[0]["partitions"]:
        raise ValueError(f"topic {topic} does not exist")
    partitions = sorted(TopicPartition(topic, p["partition"]) for p in described[0]["partitions"])
    reading = [name for name in groups if await _has_offsets(settings, name, partitions)] or groups[:1]
    moves: dict[int, int | None] = {}
    for name in reading:
        moves = await _move_group(settings, name, partitions, since)
    return moves


async def _group_state(admin: AIOKafkaAdminClient, group: str) -> tuple[str, list[Any]]:
    """A consumer group's state and members (``""`` and none when the broker says nothing of it).

    One group per request: aiokafka 0.14 misreads Kafka 4's reply about several groups.
    """
    for description in await admin.describe_consumer_groups([group]):
        for described in description.groups:
            return described[2], list(described[5])
    return "", []


async def _has_offsets(settings: Settings, group: str, partitions: list[TopicPartition]) -> bool:
    # A consumer's offset fetch, not the admin client's: aiokafka 0.14 cannot decode Kafka 4's admin reply.
    consumer = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **client_options(settings))
    await start_client(consumer, settings)
    try:
        return any([await consumer.committed(tp) is not None for tp in partitions])
    finally:
        await consumer.stop()


async def _move_group(
    settings: Settings, group: str, partitions: list[TopicPartition], since: datetime
) -> dict[int, int | None]:
    consumer = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **client_options(settings))
    await start_client(consumer, settings)
    consumer.assign(partitions)  # manual assignment: commits go to the group without joining it
    try:
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
        ends = await consumer.end_offsets(partitions)
        moves: dict[int, int | None] = {}
        offsets = {}
        for tp in partitions:
            hit = found.get(tp)
            offsets[tp] = hit.offset if hit is not None else ends[tp]
            moves[tp.partition] = hit.offset if hit is not None else None
        await consumer.commit(offsets)
        log.info("group_moved", group=group, topic=partitions[0].topic, since=since.isoformat(), offsets=moves)
        return moves
    finally:
        await consumer.stop()


class LayoutError(RuntimeError):
    """Workers of the other layout (``all`` against ``intake``) are reading raw: items would be processed twice."""


async def check_layout(settings: Settings) -> None:
    """Refuse to start an ``all`` or ``intake`` worker while workers of the other layout read raw.

    ``all`` workers read raw in the group ``<app id>``, ``intake`` workers in ``<app id>-intake`` (README
    "Scaling"); ``dedupe`` workers share the first group but do not read raw, so they never conflict.

    Raises:
        LayoutError: a live member of the other group subscribes to the raw topic.
    """
    role = settings.worker_role
    if role == "dedupe":
        return
    other = group_id(settings, "intake" if role == "all" else "all")
    topic = settings.topic("raw")
    admin = AIOKafkaAdminClient(**client_options(settings))
    await start_client(admin, settings)
    try:
        _, members = await _group_state(admin, other)
        readers = sum(topic in ConsumerProtocolMemberMetadata.decode(member[3]).subscription for member in members)
    finally:
        await admin.close()
    if readers:
        layout = "intake" if role == "all" else "all"
        raise LayoutError(
            f"{readers} {layout} worker(s) of this app read {topic} in group {other!r}: a {role} worker beside them "
            "would process every item twice; run either all workers, or intake and dedupe workers"
        )
