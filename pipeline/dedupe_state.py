"""How the dedupe index's state is laid out in its stores and survives crashes (``pipeline.dedupe`` decides).

All state lives in two ``MutableMapping[str, bytes]`` stores (Faust tables on RocksDB in production,
dicts offline), so a restarted worker rebuilds it from the changelog. Nothing is kept in process memory.

The facts, in ``items``:

- ``m``            watermark (newest event time seen, epoch seconds) and the next entry serial
- ``e:<serial>``   one decided item: its decision, retention hour, shingle count, exact hash, signature, id

What is derived from them, in ``items`` too unless ``derived_bands`` moves it to ``bands``:

- ``h``            the hours that hold entries, sorted (little-endian int64s)
- ``n:<hour>``     how many entries an hour holds; ``t:<hour>:<chunk>`` their serials, 64 per chunk
- ``d:<item id>``  the serial of the item's entry, so a redelivered item gets its first decision back
- ``x:<exact>``    the serial of the first live entry with that exact hash

``bands`` keys are LSH band keys (band number and a hash of the band's MinHash rows, base64); each
value is the serials of the entries in that bucket, newest last, capped at ``max_bucket``.

Everything but ``m`` and the entries is derived, so it need not be durable: the worker keeps it in a local
store with no changelog (``derived_bands=True``) and rebuilds it from the entries after a recovery
(``sync_bands``). That store then also holds ``#m3``, the ``m`` value it was last in step with: when the
two agree after a restart, it is current and nothing is rebuilt. A decided item then costs two changelog
records (its entry and ``m``) instead of about 22, and one inside ``batch()``, which writes ``m`` once at its end.
A crash inside a batch leaves entries past the serial that ``m`` names: ``sync_bands`` finds them and moves
``m`` past them. Expiry (``_expire``) drops whole hours of entries and everything that points at them.
"""

from __future__ import annotations

import bisect
import struct
import sys
from array import array
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pipeline.fingerprint import Fingerprint
from pipeline.records import DecisionKind

__all__ = [
    "KINDS",
    "META",
    "NO_WATERMARK",
    "SERIALS",
    "BufferedStore",
    "Decision",
    "Entry",
    "IndexState",
    "append_serial",
    "from_u32",
    "u32",
    "unpack_serials",
]

KINDS: Final[tuple[DecisionKind, ...]] = ("unique", "exact", "near")
"""Decision kinds by the index an entry stores them under."""

_BIG_ENDIAN: Final = sys.byteorder == "big"
META: Final = struct.Struct("<qI")
"""The ``m`` value: watermark (epoch seconds) and the next entry serial."""

_ENTRY = struct.Struct("<BdiIHH16s")  # kind, similarity, hour, size, id len, root len, exact

NO_WATERMARK: Final = -(2**63)
"""The watermark of an index that has seen no item."""

_BANDS_MARKER: Final = "#m3"  # not a band key (base64 has no "#"); bumped when the derived keys change form

_CHUNK: Final = 64

SERIALS: Final = 2**32
"""Entry serials wrap around at this value (they are stored as 32-bit integers)."""


@runtime_checkable
class BufferedStore(Protocol):
    """A store that may hold writes back until ``flush()`` (the worker's local band store does)."""

    def flush(self) -> None:
        """Write out the writes held back."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the index decided about one item."""

    item_id: str
    """The item decided."""
    kind: DecisionKind
    """``unique`` (first copy seen), ``exact`` (same normalised text) or ``near`` (a near copy)."""
    cluster_id: str
    """The id of the cluster's root, the first copy seen; an item's own id when it is unique."""
    duplicate_of: str | None
    """The cluster root for a copy; None when unique."""
    similarity: float
    """1.0 for exact and unique; for near copies the estimated containment, rounded to 4 places."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One decided item, as its ``e:<serial>`` value holds it."""

    kind: int
    """The decision's index in ``KINDS``."""
    similarity: float
    hour: int
    """The retention hour it is filed under (epoch hours)."""
    size: int
    """Its fingerprint's shingle count."""
    item_id: str
    root_id: str
    """Its cluster's root (its own id when unique)."""
    exact: bytes
    """The 16-byte exact hash of its normalised text."""
    signature: npt.NDArray[np.uint32] | None
    """Its MinHash signature; None when it is not indexed for near copies (exact copies, empty texts)."""

    def decision(self) -> Decision:
        """The decision this entry records."""
        kind = KINDS[self.kind]
        return Decision(
            item_id=self.item_id,
            kind=kind,
            cluster_id=self.root_id,
            duplicate_of=None if kind == "unique" else self.root_id,
            similarity=self.similarity,
        )


def u32(value: int) -> bytes:
    """A serial or a count as the stores hold it: 4 bytes, little-endian."""
    return value.to_bytes(4, "little")


def from_u32(raw: bytes) -> int:
    """The inverse of ``u32``."""
    return int.from_bytes(raw, "little")


def unpack_serials(raw: bytes) -> list[int]:
    """The serials of a bucket or chunk value (``u32`` values laid end to end)."""
    values = array("I")
    values.frombytes(raw)
    if _BIG_ENDIAN:
        values.byteswap()
    return values.tolist()


def _pack(serials: list[int]) -> bytes:
    values = array("I", serials)
    if _BIG_ENDIAN:
        values.byteswap()
    return values.tobytes()


def _pack_hours(hours: list[int]) -> bytes:
    values = array("q", hours)
    if _BIG_ENDIAN:
        values.byteswap()
    return values.tobytes()


def append_serial(raw: bytes | None, packed: bytes, cap: int) -> bytes:
    """Append a serial (packed by ``u32``) to a bucket, dropping the oldest beyond ``cap``."""
    if raw is None:
        return packed
    if len(raw) >= 4 * cap:
        raw = raw[len(raw) - 4 * (cap - 1) :]
    return raw + packed


class IndexState:
    """The state half of ``DedupeIndex``: entries, derived keys, the watermark, expiry and crash repair."""

    _items: MutableMapping[str, bytes]
    _bands: MutableMapping[str, bytes]
    _derived_store: MutableMapping[str, bytes]
    _derived: bool
    _max_bucket: int
    _flush: Callable[[], None] | None
    _batching: bool
    _unsaved: bytes | None
    _on_expire: Callable[[str, bool], None] | None

    def _band_keys(self, fp: Fingerprint) -> list[str]:
        raise NotImplementedError  # the matching rules' (pipeline.dedupe)

    def sync_bands(self) -> int | None:
        """Bring the derived keys in step with the entries: rebuild them unless their marker says they are.

        Only for ``derived_bands=True``; otherwise everything is kept in step as it is written.

        Returns:
            The number of entries re-indexed, or None when the derived keys were already current.
        """
        if not self._derived:
            raise ValueError("sync_bands is for an index with derived_bands=True")
        self._save_meta()
        current = self._items.get("m")
        if current is not None:
            current = self._past_written_entries(current)
        if current is not None and self._bands.get(_BANDS_MARKER) == current:
            return None
        self._bands.clear()
        # A worker's table may list other partitions' keys too; reads go to this partition's own.
        serials = sorted({int(key[2:], 16) for key in list(self._items.keys()) if key.startswith("e:")})
        for serial in serials:
            entry = self._entry(serial)
            if entry is None:
                continue
            self._file(entry.hour, serial)
            packed = u32(serial)
            self._bands["d:" + entry.item_id] = packed
            if entry.signature is None:
                continue
            self._bands["x:" + entry.exact.hex()] = packed  # the newest, as decide() leaves it
            probe = Fingerprint(exact=entry.exact.hex(), signature=entry.signature, size=entry.size)
            for key in self._band_keys(probe):
                self._bands[key] = append_serial(self._bands.get(key), packed, self._max_bucket)
        if current is not None:
            self._mark(current)
        elif self._flush:
            self._flush()
        return len(serials)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Decide several items, writing the watermark ``m`` and flushing the derived keys once, at the end.

        Each entry is still written as it is decided. A crash inside the batch leaves entries past the serial
        that ``m`` names: ``sync_bands`` finds them, moves ``m`` past them and rebuilds the derived keys, so
        a redelivered item finds its decision and no entry is overwritten.
        """
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            self._save_meta()

    def _save_meta(self) -> None:
        """Write the watermark a batch held back, then vouch for the derived keys with it."""
        if self._unsaved is None:
            return
        meta, self._unsaved = self._unsaved, None
        self._items["m"] = meta
        if self._derived:
            self._mark(meta)

    def _past_written_entries(self, meta: bytes) -> bytes:
        """``meta``, or, when entries exist from its next serial on (a batch cut short), ``m`` moved past them."""
        watermark, serial = META.unpack(meta)
        ahead = serial
        while f"e:{ahead:x}" in self._items:
            ahead = (ahead + 1) % SERIALS
        if ahead == serial:
            return meta
        moved = META.pack(watermark, ahead)
        self._items["m"] = moved
        return moved

    def _mark(self, meta: bytes) -> None:
        """Record that the derived keys are in step with ``meta`` (the ``m`` value), then flush them."""
        self._bands[_BANDS_MARKER] = meta
        if self._flush:
            self._flush()

    def _meta(self) -> tuple[int, int]:
        raw = self._unsaved or self._items.get("m")
        if raw is None:
            return NO_WATERMARK, 0
        watermark, serial = META.unpack(raw)
        return int(watermark), int(serial)

    def _entry(self, serial: int) -> Entry | None:
        raw = self._items.get(f"e:{serial:x}")
        if raw is None:
            return None
        kind, similarity, hour, size, id_len, root_len, exact = _ENTRY.unpack_from(raw)
        at = _ENTRY.size
        item_id = raw[at : at + id_len].decode("utf-8")
        at += id_len
        root_id = raw[at : at + root_len].decode("utf-8") if root_len else item_id
        at += root_len
        signature = np.frombuffer(raw, dtype="<u4", offset=at) if len(raw) > at else None
        return Entry(kind, similarity, hour, size, item_id, root_id, exact, signature)

    def _put_entry(self, serial: int, entry: Entry) -> None:
        item = entry.item_id.encode("utf-8")
        root = b"" if entry.root_id == entry.item_id else entry.root_id.encode("utf-8")
        parts = [
            _ENTRY.pack(entry.kind, entry.similarity, entry.hour, entry.size, len(item), len(root), entry.exact),
            item,
            root,
        ]
        if entry.signature is not None:
            parts.append(entry.signature.astype("<u4", copy=False).tobytes())
        self._items[f"e:{serial:x}"] = b"".join(parts)

    def _file(self, hour: int, serial: int) -> None:
        """File a serial under its retention hour."""
        raw = self._derived_store.get(f"n:{hour}")
        count = 0 if raw is None else from_u32(raw)
        if raw is None:
            hours = self._hours()
            if hour not in hours:
                bisect.insort(hours, hour)
                self._derived_store["h"] = _pack_hours(hours)
        key = f"t:{hour}:{count // _CHUNK}"
        self._derived_store[key] = (self._derived_store.get(key) or b"") + u32(serial)
        self._derived_store[f"n:{hour}"] = u32(count + 1)

    def _hours(self) -> list[int]:
        raw = self._derived_store.get("h")
        if raw is None:
            return []
        hours = array("q")
        hours.frombytes(raw)
        if _BIG_ENDIAN:
            hours.byteswap()
        return hours.tolist()

    def _expire(self, cutoff: int, budget: int | None) -> int:
        """Remove entries filed under hours before ``cutoff``, at most ``budget`` of them."""
        hours = self._hours()
        if not hours or hours[0] >= cutoff:
            return 0
        removed = 0
        while hours and hours[0] < cutoff and (budget is None or removed < budget):
            hour = hours[0]
            raw = self._derived_store.get(f"n:{hour}")
            count = 0 if raw is None else from_u32(raw)
            while count and (budget is None or removed < budget):
                key = f"t:{hour}:{(count - 1) // _CHUNK}"
                serials = unpack_serials(self._derived_store.get(key) or b"")
                if not serials:  # a lost chunk: skip to the one before it
                    count = (count - 1) // _CHUNK * _CHUNK
                    continue
                take = len(serials) if budget is None else min(len(serials), budget - removed)
                for serial in serials[len(serials) - take :]:
                    self._drop(serial)
                removed += take
                count -= take
                if len(serials) > take:
                    self._derived_store[key] = _pack(serials[: len(serials) - take])
                else:
                    self._derived_store.pop(key, None)
            if count:
                self._derived_store[f"n:{hour}"] = u32(count)
            else:
                self._derived_store.pop(f"n:{hour}", None)
                hours.pop(0)
        self._derived_store["h"] = _pack_hours(hours)
        return removed

    def _drop(self, serial: int) -> None:
        """Delete one entry and everything that points at it."""
        entry = self._entry(serial)
        if entry is None:
            return
        del self._items[f"e:{serial:x}"]
        if self._on_expire is not None:
            self._on_expire(entry.item_id, entry.kind == 0)
        mine = u32(serial)
        for key in ("d:" + entry.item_id, "x:" + entry.exact.hex()):
            if self._derived_store.get(key) == mine:
                del self._derived_store[key]
        if entry.signature is None:
            return
        probe = Fingerprint(exact=entry.exact.hex(), signature=entry.signature, size=entry.size)
        for key in self._band_keys(probe):
            raw = self._bands.get(key)
            if raw is None:
                continue
            serials = unpack_serials(raw)
            if serial in serials:
                serials.remove(serial)
                if serials:
                    self._bands[key] = _pack(serials)
                else:
                    del self._bands[key]
