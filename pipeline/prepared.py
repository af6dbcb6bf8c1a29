"""The internal topic's wire format: a prepared item, and the batches intake hands to the dedupe stage.

A prepared message is a JSON header line, then the original raw message as it came (no base64, no second
copy of the body). Intake packs several prepared records of one dedupe shard into one internal message,
keyed by the shard (``shard_key``).
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

import orjson

from pipeline.fingerprint import Fingerprint
from pipeline.records import Cleaned, Dateline, Origin, RawItem, Tag

_FRAME = b"\n"
_BATCH = b"\x00nfb1"
"""Opens a batch of prepared records (a record opens with its JSON header, so never with a NUL byte)."""
_LENGTH = struct.Struct("<I")


def shard_key(language: str) -> str:
    """The dedupe shard of a language tag: its primary subtag, lower case (``en-GB``, ``EN_us`` -> ``en``).

    Copies of one story in regional variants of a language must meet in one index.
    """
    return language.replace("_", "-").split("-", 1)[0].strip().lower() or "en"


def pack_batch(records: list[bytes]) -> bytes:
    """One internal message holding several prepared records, each behind its length."""
    return _BATCH + b"".join(_LENGTH.pack(len(record)) + record for record in records)


def unpack_batch(data: bytes) -> list[bytes]:
    """The records of a ``pack_batch`` message; a message without the batch mark is one record.

    Raises:
        ValueError: if the batch is truncated.
    """
    if not data.startswith(_BATCH):
        return [data]
    records = []
    at = len(_BATCH)
    while at < len(data):
        if at + _LENGTH.size > len(data):
            raise ValueError("prepared batch truncated in a length")
        (size,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        if at + size > len(data):
            raise ValueError("prepared batch truncated in a record")
        records.append(data[at : at + size])
        at += size
    return records


@dataclass(frozen=True, slots=True)
class Prepared:
    """An item after the stateless stages: what the intake step hands to the dedupe step."""

    item: RawItem
    """The validated item, its body left empty: ``raw`` and ``cleaned`` carry the text."""
    cleaned: Cleaned
    tags: tuple[Tag, ...]
    fingerprint: Fingerprint
    origin: Origin
    ingested_at: str
    raw: bytes
    """The original message, kept so a failure in the dedupe step can still dead-letter it."""

    @property
    def event_time(self) -> str:
        """The time that decides dedupe windows and alert age: publication, else ingestion."""
        return self.item.published_at or self.ingested_at

    def to_bytes(self) -> bytes:
        """Serialise for the internal prepared topic: a JSON line, then the original message as it came.

        orjson escapes every newline inside JSON strings, so the first ``\\n`` ends the header; the raw bytes
        travel as they are, neither decoded nor base64-encoded.
        """
        head = orjson.dumps(
            {
                "item": self.item,
                "cleaned": self.cleaned,
                "tags": self.tags,
                "fingerprint": base64.b64encode(self.fingerprint.to_bytes()).decode("ascii"),
                "origin": self.origin,
                "ingested_at": self.ingested_at,
            }
        )
        return head + _FRAME + self.raw

    @classmethod
    def from_bytes(cls, data: bytes) -> Prepared:
        """Read what ``to_bytes`` wrote."""
        head, frame, raw = data.partition(_FRAME)
        obj = orjson.loads(head)
        if not frame:  # written by 0.1.0-dev workers before the framing: one JSON object, raw in base64
            raw = base64.b64decode(obj["raw"])
        item = obj["item"]
        cleaned = obj["cleaned"]
        dateline = cleaned.get("dateline")
        return cls(
            item=RawItem(**{**item, "warnings": tuple(item["warnings"])}),
            cleaned=Cleaned(**{**cleaned, "dateline": Dateline(**dateline) if dateline else None}),
            tags=tuple(Tag(t["topic"], t["score"], tuple(t["evidence"])) for t in obj["tags"]),
            fingerprint=Fingerprint.from_bytes(base64.b64decode(obj["fingerprint"])),
            origin=Origin(**obj["origin"]),
            ingested_at=obj["ingested_at"],
            raw=raw,
        )
