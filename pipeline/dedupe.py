"""The dedupe index: exact and near-duplicate detection over a retention window by event time.

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

Matching. An exact hash hit makes an ``exact`` copy. Otherwise the entries sharing a band with the item
are candidates; each is verified with the Jaccard estimated from the signatures, turned into an estimated
containment of the smaller shingle set in the larger, ``|A∩B| / min(|A|, |B|) = J(|A|+|B|) / ((1+J) min)``.
A candidate is a near copy when that containment reaches ``containment`` and the smaller set is at least
``min_size_ratio`` of the larger (a story cut to 40% is a copy; a one-paragraph page fragment that happens
to sit inside a long page is not). Texts of fewer than ``min_shingles`` shingles are near copies only when
their Jaccard reaches ``short_jaccard``: a few shared words are thin evidence. Copies point at their cluster's
root (the first copy seen), whichever copy they matched; near copies are indexed too, so a copy of a copy
is still found.

Retention. Each entry is filed under an hour; entries whose hour is older than the watermark minus
``window`` are expired, a bounded batch per ``decide()`` call (or all at once by ``expire()``), so the
index holds about ``window`` worth of items. Entries due for expiry are never matched.

Out-of-order items are judged by event time. An item older than the window relative to the watermark
(a late backfill) is still decided against whatever the index holds, and is then filed under the oldest
live hour: copies of it that arrive soon after match it, and it expires as soon as the watermark moves
on by an hour. A copy that is older by event time but arrives later still points at the first-seen copy.
A redelivered item id returns its stored decision while its entry lives; once expired it is decided anew.
"""

from __future__ import annotations

import base64
import bisect
import struct
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pipeline.fingerprint import NUM_PERM, Fingerprint
from pipeline.records import DecisionKind

_KINDS: Final[tuple[DecisionKind, ...]] = ("unique", "exact", "near")
_META = struct.Struct("<qI")  # watermark (epoch seconds), next serial
_ENTRY = struct.Struct("<BdiIHH16s")  # kind, similarity, hour, size, id len, root len, exact
_NO_WATERMARK: Final = -(2**63)
_BANDS_MARKER: Final = "#m3"  # not a band key (base64 has no "#"); bumped when the derived keys change form
_CHUNK: Final = 64
_SERIALS: Final = 2**32
_BAND_MIX: Final = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0x27D4EB2F165667C5,
        0x85EBCA77C2B2AE63,
    ],
    dtype=np.uint64,
)
_BIG_ENDIAN: Final = sys.byteorder == "big"
_BAND_NUMBERS: Final = np.arange(256, dtype=np.uint8)


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
class _Entry:
    kind: int
    similarity: float
    hour: int
    size: int
    item_id: str
    root_id: str
    exact: bytes
    signature: npt.NDArray[np.uint32] | None

    def decision(self) -> Decision:
        kind = _KINDS[self.kind]
        return Decision(
            item_id=self.item_id,
            kind=kind,
            cluster_id=self.root_id,
            duplicate_of=None if kind == "unique" else self.root_id,
            similarity=self.similarity,
        )


class DedupeIndex:
    """An LSH index of recent items' fingerprints, kept in two key-value stores."""

    def __init__(
        self,
        items: MutableMapping[str, bytes],
        bands: MutableMapping[str, bytes],
        *,
        window: timedelta = timedelta(days=7),
        containment: float = 0.8,
        min_size_ratio: float = 0.2,
        min_shingles: int = 10,
        short_jaccard: float = 0.9,
        num_bands: int = 32,
        band_rows: int = 2,
        max_bucket: int = 64,
        max_candidates: int = 32,
        expire_batch: int = 256,
        derived_bands: bool = False,
        on_expire: Callable[[str], None] | None = None,
    ) -> None:
        """Open an index over ``items`` and ``bands``; an empty pair of stores is an empty index.

        Args:
            items: entries, decisions, exact hashes, time buckets and the watermark.
            bands: LSH band buckets.
            window: retention by event time, counted back from the newest event time seen.
            containment: the estimated containment from which a candidate is a near copy.
            min_size_ratio: the smallest shingle-count ratio (smaller / larger) of a near copy.
            min_shingles: below this many shingles a text needs ``short_jaccard`` to be a near copy.
            short_jaccard: the estimated Jaccard a short text needs.
            num_bands: LSH bands; with ``band_rows`` = 2, pairs at Jaccard 0.3 meet in a band 95% of the time.
            band_rows: MinHash values per band.
            max_bucket: entries kept per band bucket (the newest), so boilerplate cannot make a hot key.
            max_candidates: candidates verified per item, most shared bands first.
            expire_batch: entries expired at most per ``decide()`` call.
            derived_bands: ``bands`` is a local, non-durable store kept in step with ``items`` by a marker
                and rebuilt by ``sync_bands``.
            on_expire: called with the id of each story root (a unique item) as its entry expires, so state
                kept per story (the alerts fired) leaves with it.
        """
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        if not 1 <= band_rows <= len(_BAND_MIX) or not 1 <= num_bands <= 256:
            raise ValueError("band_rows must be 1..8 and num_bands 1..256")
        if num_bands * band_rows > NUM_PERM:
            raise ValueError("num_bands * band_rows exceeds the signature length")
        self._items = items
        self._bands = bands
        self._derived_store = bands if derived_bands else items
        """Where the derived keys (``h``, ``n:``, ``t:``, ``d:``, ``x:``) live."""
        self._window = int(window.total_seconds())
        self._containment = containment
        self._min_ratio = min_size_ratio
        self._min_shingles = min_shingles
        self._short_jaccard = short_jaccard
        self._num_bands = num_bands
        self._rows = band_rows
        self._max_bucket = max_bucket
        self._max_candidates = max_candidates
        self._expire_batch = expire_batch
        self._derived = derived_bands
        self._on_expire = on_expire
        self._flush = bands.flush if isinstance(bands, BufferedStore) else None
        """Ends each change: the marker is written last, so a store that keeps a prefix of flushes stays honest."""
        self._batching = False
        self._unsaved: bytes | None = None
        """The ``m`` value a batch holds back, written (and the derived keys marked with it) as the batch ends."""

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
            self._bands["d:" + entry.item_id] = _u32(serial)
            if entry.signature is None:
                continue
            self._bands["x:" + entry.exact.hex()] = _u32(serial)  # the newest, as decide() leaves it
            probe = Fingerprint(exact=entry.exact.hex(), signature=entry.signature, size=entry.size)
            for key in self._band_keys(probe):
                self._bands[key] = _append(self._bands.get(key), serial, self._max_bucket)
        if current is not None:
            self._mark(current)
        elif self._flush:
            self._flush()
        return len(serials)

    def decide(self, item_id: str, fp: Fingerprint, event_time: datetime) -> Decision:
        """Decide whether an item is unique or a copy, index it, and expire a batch of old entries.

        Args:
            item_id: the item's stable id; a redelivered id gets its first decision back.
            fp: the item's fingerprint.
            event_time: the item's event time (publication); a naive datetime is taken as UTC.

        Returns:
            The decision, also stored for redelivery.
        """
        prior = self._prior(item_id)
        if prior is not None:
            # Written again: after a crash the local store can hold a decision its changelog never got, and
            # an output sent for it must find it there after a failover too.
            serial = _from_u32(self._derived_store["d:" + item_id])
            self._items[f"e:{serial:x}"] = self._items[f"e:{serial:x}"]
            return prior.decision()
        ts = _epoch(event_time)
        watermark, serial = self._meta()
        watermark = max(watermark, ts)
        cutoff = (watermark - self._window) // 3600
        hour = max(ts // 3600, cutoff)
        exact = bytes.fromhex(fp.exact)
        band_keys = self._band_keys(fp) if fp.size else []

        buckets: dict[str, bytes] = {}
        kind, root, similarity = self._judge(
            item_id, fp, exact=exact, band_keys=band_keys, cutoff=cutoff, buckets=buckets
        )
        indexed = kind != 1 and fp.size > 0
        self._put_entry(
            serial, _Entry(kind, similarity, hour, fp.size, item_id, root, exact, fp.signature if indexed else None)
        )
        if indexed:
            for key in band_keys:
                self._bands[key] = _append(buckets.get(key), serial, self._max_bucket)
            self._derived_store["x:" + fp.exact] = _u32(serial)
        self._derived_store["d:" + item_id] = _u32(serial)
        self._file(hour, serial)
        meta = _META.pack(watermark, (serial + 1) % _SERIALS)
        if self._batching:
            self._unsaved = meta
        else:
            self._items["m"] = meta
        oldest = self._derived_store.get("h")
        if oldest and int.from_bytes(oldest[:8], "little", signed=True) < cutoff:
            self._expire(cutoff, self._expire_batch)
        if self._derived and not self._batching:
            self._mark(meta)
        return Decision(
            item_id=item_id,
            kind=_KINDS[kind],
            cluster_id=root,
            duplicate_of=None if kind == 0 else root,
            similarity=similarity,
        )

    def expire(self, now: datetime | None = None) -> int:
        """Expire every entry older than the watermark minus the window.

        Args:
            now: an event time to advance the watermark to first (e.g. on an idle partition).

        Returns:
            The number of entries removed.
        """
        self._save_meta()
        watermark, serial = self._meta()
        advanced = None
        if now is not None and _epoch(now) > watermark:
            watermark = _epoch(now)
            advanced = self._items["m"] = _META.pack(watermark, serial)
        if watermark == _NO_WATERMARK:
            return 0
        removed = self._expire((watermark - self._window) // 3600, None)
        if advanced is not None and self._derived:
            self._mark(advanced)
        elif self._flush:
            self._flush()
        return removed

    def _judge(
        self,
        item_id: str,
        fp: Fingerprint,
        *,
        exact: bytes,
        band_keys: list[str],
        cutoff: int,
        buckets: dict[str, bytes],
    ) -> tuple[int, str, float]:
        """Return (kind index, cluster root id, similarity) for a new item; fills ``buckets`` as read."""

        if fp.size == 0:
            return 0, item_id, 1.0
        raw = self._derived_store.get("x:" + fp.exact)
        if raw is not None:
            hit = self._entry(_from_u32(raw))
            if hit is not None and hit.hour >= cutoff and hit.exact == exact:
                return 1, hit.root_id, 1.0
        hits: Counter[int] = Counter()
        for key in band_keys:
            raw = self._bands.get(key)
            if raw is not None:
                buckets[key] = raw
                hits.update(_unpack(raw))
        best: tuple[float, float, str] | None = None
        for serial, _ in hits.most_common(self._max_candidates):
            cand = self._entry(serial)
            if cand is None or cand.signature is None or cand.hour < cutoff:
                continue
            score = self._verify(fp, cand.signature, cand.size)
            if score is not None and (best is None or score > best[:2]):
                best = (*score, cand.root_id)
        if best is None:
            return 0, item_id, 1.0
        return 2, best[2], round(best[0], 4)

    def _verify(self, fp: Fingerprint, signature: npt.NDArray[np.uint32], size: int) -> tuple[float, float] | None:
        """Return (containment, Jaccard) estimated from the signatures when they make a near copy."""
        jaccard = float(np.count_nonzero(fp.signature == signature)) / len(fp.signature)
        small, large = sorted((fp.size, size))
        if small < self._min_shingles:
            return (1.0, jaccard) if jaccard >= self._short_jaccard else None
        if small < self._min_ratio * large:
            return None
        contained = min(1.0, jaccard * (small + large) / ((1.0 + jaccard) * small))
        return (contained, jaccard) if contained >= self._containment else None

    def _band_keys(self, fp: Fingerprint) -> list[str]:
        """Band keys: band number and the band's rows (two rows as they are, more mixed to 64 bits), base64."""
        rows = fp.signature[: self._num_bands * self._rows]
        if self._rows == 2:  # two 32-bit MinHash values are already a 64-bit hash of the band
            mixed = rows.astype("<u4", copy=False).view(np.uint8).reshape(self._num_bands, 8)
        else:
            wide = rows.astype(np.uint64).reshape(self._num_bands, self._rows) * _BAND_MIX[: self._rows]
            mixed = wide.sum(axis=1, dtype=np.uint64).astype("<u8").view(np.uint8).reshape(self._num_bands, 8)
        buf = np.empty((self._num_bands, 9), dtype=np.uint8)
        buf[:, 0] = _BAND_NUMBERS[: self._num_bands]
        buf[:, 1:] = mixed
        text = base64.b64encode(buf.tobytes()).decode("ascii")
        return [text[i : i + 12] for i in range(0, len(text), 12)]

    def _prior(self, item_id: str) -> _Entry | None:
        raw = self._derived_store.get("d:" + item_id)
        if raw is None:
            return None
        entry = self._entry(_from_u32(raw))
        return entry if entry is not None and entry.item_id == item_id else None

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
        watermark, serial = _META.unpack(meta)
        ahead = serial
        while f"e:{ahead:x}" in self._items:
            ahead = (ahead + 1) % _SERIALS
        if ahead == serial:
            return meta
        moved = _META.pack(watermark, ahead)
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
            return _NO_WATERMARK, 0
        watermark, serial = _META.unpack(raw)
        return int(watermark), int(serial)

    def _entry(self, serial: int) -> _Entry | None:
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
        return _Entry(kind, similarity, hour, size, item_id, root_id, exact, signature)

    def _put_entry(self, serial: int, entry: _Entry) -> None:
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
        count = 0 if raw is None else _from_u32(raw)
        if raw is None:
            hours = self._hours()
            if hour not in hours:
                bisect.insort(hours, hour)
                self._derived_store["h"] = _pack_hours(hours)
        key = f"t:{hour}:{count // _CHUNK}"
        self._derived_store[key] = (self._derived_store.get(key) or b"") + _u32(serial)
        self._derived_store[f"n:{hour}"] = _u32(count + 1)

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
            count = 0 if raw is None else _from_u32(raw)
            while count and (budget is None or removed < budget):
                key = f"t:{hour}:{(count - 1) // _CHUNK}"
                serials = _unpack(self._derived_store.get(key) or b"")
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
                self._derived_store[f"n:{hour}"] = _u32(count)
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
        if entry.kind == 0 and self._on_expire is not None:
            self._on_expire(entry.item_id)
        mine = _u32(serial)
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
            serials = _unpack(raw)
            if serial in serials:
                serials.remove(serial)
                if serials:
                    self._bands[key] = _pack(serials)
                else:
                    del self._bands[key]


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def _from_u32(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def _unpack(raw: bytes) -> list[int]:
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


def _append(raw: bytes | None, serial: int, cap: int) -> bytes:
    """Append a serial to a bucket, dropping the oldest beyond ``cap``."""
    if raw is None:
        return _u32(serial)
    if len(raw) >= 4 * cap:
        raw = raw[len(raw) - 4 * (cap - 1) :]
    return raw + _u32(serial)
