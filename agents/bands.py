"""The dedupe index's derived keys for one partition, in a local RocksDB with no changelog.

The LSH band buckets and the item-id, exact-hash and retention-hour keys are all derived from the entries in
the ``dedupe-items`` table, so they need no changelog of their own: after a recovery the index checks them
against the entries and rebuilds them if they fell behind (``DedupeIndex.sync_bands``). A decided item then
costs two changelog records (its entry and the index watermark) instead of about 22.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from pathlib import Path

from rocksdict import Rdict


class LocalBands(MutableMapping[str, bytes]):
    """A ``str -> bytes`` store in a local RocksDB directory."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._db = Rdict(str(path))

    def __getitem__(self, key: str) -> bytes:
        value = self._db.get(key)
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def get(self, key: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        """The value of ``key``, or ``default``; one RocksDB read."""
        value = self._db.get(key)
        return default if value is None else bytes(value)

    def __setitem__(self, key: str, value: bytes) -> None:
        self._db[key] = value

    def __delitem__(self, key: str) -> None:
        del self._db[key]

    def __iter__(self) -> Iterator[str]:
        return (str(key) for key in self._db.keys())  # noqa: SIM118 - an Rdict is not iterable itself

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def clear(self) -> None:
        """Drop every bucket at once (destroy and reopen the database)."""
        self._db.close()
        Rdict.destroy(str(self._path))
        self._db = Rdict(str(self._path))

    def close(self) -> None:
        """Close the database."""
        self._db.close()
