"""The internal prepared topic's format: a JSON header line, then the original message's bytes."""

from __future__ import annotations

import base64
from dataclasses import asdict
from datetime import UTC, datetime

import orjson
import pytest

from agents.offline import offline_pipeline
from pipeline.prepared import Prepared, pack_batch, unpack_batch
from pipeline.records import Origin
from pipeline.settings import Settings

BODY = "BERLIN (Wire) - Ministers met on Tuesday to discuss tariffs on steel.\n\nTalks resume next week."


def prepared(settings: Settings, raw: bytes) -> Prepared:
    result = offline_pipeline(settings).prepare(raw, Origin("news.raw", 2, 41), datetime(2026, 1, 2, tzinfo=UTC))
    assert isinstance(result, Prepared)
    return result


def test_the_original_bytes_travel_as_they_are_after_the_header(settings: Settings) -> None:
    raw = orjson.dumps({"id": "p-1", "title": "Steel talks", "body": BODY, "note": "caf\u00e9\nline"})
    item = prepared(settings, raw)
    data = item.to_bytes()
    head, _, tail = data.partition(b"\n")
    assert tail == raw
    assert b"Talks resume" not in head.split(b'"cleaned"')[0]  # the item's body is not carried twice
    assert Prepared.from_bytes(data) == item


def test_raw_bytes_that_are_not_utf8_survive(settings: Settings) -> None:
    item = prepared(settings, orjson.dumps({"id": "p-2", "body": BODY}))
    odd = Prepared(item.item, item.cleaned, item.tags, item.fingerprint, item.origin, item.ingested_at, b"\xff\n\x00")
    assert Prepared.from_bytes(odd.to_bytes()).raw == b"\xff\n\x00"


def test_messages_of_the_earlier_format_are_still_read(settings: Settings) -> None:
    item = prepared(settings, orjson.dumps({"id": "p-3", "body": BODY}))
    earlier = orjson.dumps(
        {
            "item": asdict(item.item),
            "cleaned": asdict(item.cleaned),
            "tags": [asdict(tag) for tag in item.tags],
            "fingerprint": base64.b64encode(item.fingerprint.to_bytes()).decode("ascii"),
            "origin": asdict(item.origin),
            "ingested_at": item.ingested_at,
            "raw": base64.b64encode(item.raw).decode("ascii"),
        }
    )
    assert Prepared.from_bytes(earlier) == item


@pytest.mark.parametrize("data", [b"", b"not json\nraw", b'{"item": 1}\nraw', b"[]"])
def test_anything_else_raises(data: bytes) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - the dedupe agent dead-letters whatever it raises
        Prepared.from_bytes(data)


def test_a_batch_gives_back_its_records_in_order(settings: Settings) -> None:
    records = [prepared(settings, orjson.dumps({"id": f"b-{n}", "body": BODY})).to_bytes() for n in range(3)]
    records.append(b"")  # an empty record is still a record (and is dead-lettered as unreadable downstream)
    assert unpack_batch(pack_batch(records)) == records
    assert [Prepared.from_bytes(r).item.id for r in unpack_batch(pack_batch(records[:3]))] == ["b-0", "b-1", "b-2"]


def test_a_message_without_the_batch_mark_is_one_record(settings: Settings) -> None:
    single = prepared(settings, orjson.dumps({"id": "old", "body": BODY})).to_bytes()
    assert unpack_batch(single) == [single]  # what workers before batching wrote
    assert unpack_batch(b"garbage") == [b"garbage"]


@pytest.mark.parametrize("cut", [1, 3, 7])
def test_a_truncated_batch_is_refused(cut: int) -> None:
    data = pack_batch([b"first record", b"second"])
    with pytest.raises(ValueError, match="truncated"):
        unpack_batch(data[:-cut])
