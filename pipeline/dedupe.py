"""The dedupe index: exact and near-duplicate detection over a retention window by event time.

How the state is laid out in its stores, expired, and repaired after a crash is ``pipeline.dedupe_state``;
this module holds the rules: what counts as a copy, and which window an item is judged in.

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
from collections import Counter
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from pipeline.dedupe_state import (
    KINDS,
    META,
    NO_WATERMARK,
    SERIALS,
    BufferedStore,
    Decision,
    Entry,
    IndexState,
    append_serial,
    from_u32,
    u32,
    unpack_serials,
)
from pipeline.fingerprint import NUM_PERM, Fingerprint

__all__ = ["BufferedStore", "Decision", "DedupeIndex"]

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
_BAND_NUMBERS: Final = np.arange(256, dtype=np.uint8)


class DedupeIndex(IndexState):
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
        on_expire: Callable[[str, bool], None] | None = None,
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
            on_expire: called with the id of each item as its entry expires, and whether it was a story root
                (a unique item), so state kept per item or story (alerts fired, refused outputs) leaves with it.
        """
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        if not 1 <= band_rows <= len(_BAND_MIX) or not 1 <= num_bands <= 256:
            raise ValueError("band_rows must be 1..8 and num_bands 1..256")
        if num_bands * band_rows > NUM_PERM:
            raise ValueError("num_bands * band_rows exceeds the signature length")
        self._items = items
        self._bands = bands
        self._get_many: Callable[[list[str]], list[bytes | None]] | None = getattr(bands, "get_many", None)
        """A store's batched read (the worker's RocksDB bands: one call for all of an item's band keys)."""
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
            serial = from_u32(self._derived_store["d:" + item_id])
            self._items[f"e:{serial:x}"] = self._items[f"e:{serial:x}"]
            return prior.decision()
        ts = _epoch(event_time)
        watermark, serial = self._meta()
        watermark = max(watermark, ts)
        cutoff = (watermark - self._window) // 3600
        hour = max(ts // 3600, cutoff)
        exact = bytes.fromhex(fp.exact)
        band_keys = self._band_keys(fp) if fp.size else []

        buckets: list[bytes | None] = []
        kind, root, similarity = self._judge(
            item_id, fp, exact=exact, band_keys=band_keys, cutoff=cutoff, buckets=buckets
        )
        indexed = kind != 1 and fp.size > 0
        self._put_entry(
            serial, Entry(kind, similarity, hour, fp.size, item_id, root, exact, fp.signature if indexed else None)
        )
        packed = u32(serial)
        if indexed:
            bands, cap = self._bands, self._max_bucket
            for key, raw in zip(band_keys, buckets, strict=True):
                bands[key] = packed if raw is None else append_serial(raw, packed, cap)
            self._derived_store["x:" + fp.exact] = packed
        self._derived_store["d:" + item_id] = packed
        self._file(hour, serial)
        meta = META.pack(watermark, (serial + 1) % SERIALS)
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
            kind=KINDS[kind],
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
            advanced = self._items["m"] = META.pack(watermark, serial)
        if watermark == NO_WATERMARK:
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
        buckets: list[bytes | None],
    ) -> tuple[int, str, float]:
        """Return (kind index, cluster root id, similarity) for a new item.

        Fills ``buckets`` with the bucket of each band key as read (None for an empty one), unless the item is
        decided without them (an empty text or an exact copy).
        """

        if fp.size == 0:
            return 0, item_id, 1.0
        raw = self._derived_store.get("x:" + fp.exact)
        if raw is not None:
            hit = self._entry(from_u32(raw))
            if hit is not None and hit.hour >= cutoff and hit.exact == exact:
                return 1, hit.root_id, 1.0
        buckets.extend(self._get_many(band_keys) if self._get_many else map(self._bands.get, band_keys))
        # One count over all the buckets, in band order: the same counts, and ties in the same order, as
        # counting bucket by bucket.
        hits = Counter(unpack_serials(b"".join(filter(None, buckets))))
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

    def knows(self, item_id: str) -> bool:
        """True when ``item_id`` has a decision already: it is read again (a redelivery or a replay)."""
        return self._prior(item_id) is not None

    def _prior(self, item_id: str) -> Entry | None:
        raw = self._derived_store.get("d:" + item_id)
        if raw is None:
            return None
        entry = self._entry(from_u32(raw))
        return entry if entry is not None and entry.item_id == item_id else None


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
