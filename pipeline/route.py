"""Routing: which output topics an item goes to, and the shape of what it carries there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.decode import public_id
from pipeline.dedupe import Decision
from pipeline.prepared import Prepared
from pipeline.records import Article, DeadLetter, Message
from pipeline.settings import Settings


def article(prepared: Prepared, decision: Decision) -> Article:
    """The article record of a prepared item and its dedupe decision."""
    item, cleaned = prepared.item, prepared.cleaned
    return Article(
        id=public_id(item.id),
        key=item.id,
        id_source=item.id_source,
        source=item.source,
        url=item.url,
        title=cleaned.title,
        body=cleaned.body,
        published_at=item.published_at,
        language=item.language,
        dateline=cleaned.dateline,
        credit=cleaned.credit,
        tags=prepared.tags,
        fingerprint=prepared.fingerprint.exact,
        cluster_id=public_id(decision.cluster_id),
        cluster_key=decision.cluster_id,
        duplicate_of=public_id(decision.duplicate_of) if decision.duplicate_of else None,
        duplicate_of_key=decision.duplicate_of,
        similarity=round(decision.similarity, 4),
        duplicate_kind=decision.kind,
        removed=dict(cleaned.removed),
        ingested_at=prepared.ingested_at,
        replay=prepared.origin.replay,
        warnings=item.warnings,
        extra=item.extra,
    )


def route(prepared: Prepared, decision: Decision, alerts: Sequence[Any], settings: Settings) -> list[Message]:
    """The messages for one settled item: exactly one of search or duplicates, then its alerts."""
    record = article(prepared, decision)
    topic = settings.topic("duplicates" if decision.duplicate_of else "search")
    messages = [Message(topic, record.key, record)]
    messages.extend(Message(settings.topic("alerts"), alert.alert_id, alert) for alert in alerts)
    return messages


def dead_letter_message(letter: DeadLetter, settings: Settings) -> Message:
    """The dead-letter topic's message for ``letter``, keyed by item id when there is one."""
    return Message(settings.topic("deadletter"), letter.item_id or "", letter)
