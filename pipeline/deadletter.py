"""Dead letters: what could not become an article, with the reason and the original bytes."""

from __future__ import annotations

import base64
from datetime import datetime

import orjson

from pipeline.dates import isoformat
from pipeline.records import DeadLetter, Origin

_MAX_DETAIL = 500


def dead_letter(
    raw: bytes,
    origin: Origin,
    *,
    reason: str,
    detail: str,
    stage: str,
    item_id: str | None,
    now: datetime,
) -> DeadLetter:
    """Build the dead letter for ``raw``, keeping its bytes so an operator can fix and replay it."""
    try:
        original, encoding = raw.decode("utf-8"), "utf-8"
        # Control characters escape to six bytes each in JSON: keep the dead letter within the topic's
        # message size by sending such text as base64 (4/3 of the bytes) instead.
        if not original.isprintable() and len(orjson.dumps(original)) > len(raw) * 4 // 3 + 8:
            original, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    except UnicodeDecodeError:
        original, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return DeadLetter(
        reason=reason,
        detail=detail[:_MAX_DETAIL],
        stage=stage,
        source_topic=origin.topic,
        source_partition=origin.partition,
        source_offset=origin.offset,
        original=original,
        original_encoding=encoding,  # type: ignore[arg-type]
        original_bytes=len(raw),
        item_id=item_id,
        failed_at=isoformat(now),
        replay=origin.replay,
    )


def original_bytes(letter: DeadLetter) -> bytes:
    """The original message bytes of a dead letter, for a fixed replay."""
    if letter.original_encoding == "base64":
        return base64.b64decode(letter.original)
    return letter.original.encode("utf-8")
