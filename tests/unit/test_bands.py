"""The worker's local band store: buffered writes, read back before and after they reach RocksDB."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.bands import LocalBands
from pipeline.dedupe import DedupeIndex
from pipeline.fingerprint import fingerprint

STORY = " ".join(f"word{i} appears in the wire story number {i % 7}" for i in range(80))
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_buffered_writes_and_deletes_read_back_before_and_after_a_flush(tmp_path: Path) -> None:
    store = LocalBands(tmp_path / "bands")
    store["a"] = b"1"
    store["b"] = b"2"
    del store["a"]
    assert store.get("a") is None
    assert store["b"] == b"2"
    store.flush()
    assert "a" not in store
    assert store["b"] == b"2"
    assert sorted(store) == ["b"]
    with pytest.raises(KeyError):
        del store["a"]
    store.close()


def test_get_many_reads_buffered_writes_deletes_and_stored_keys_in_order(tmp_path: Path) -> None:
    store = LocalBands(tmp_path / "bands")
    store["stored"] = b"s"
    store["gone"] = b"g"
    store.flush()
    assert store.get_many(["stored", "missing", "gone"]) == [b"s", None, b"g"]
    store["new"] = b"n"
    store["stored"] = b"s2"
    del store["gone"]
    assert store.get_many(["gone", "new", "missing", "stored"]) == [None, b"n", None, b"s2"]
    assert store.get_many([]) == []
    store.close()


def test_persisted_keys_survive_a_reopen(tmp_path: Path) -> None:
    store = LocalBands(tmp_path / "bands")
    store["kept"] = b"x"
    store.persist()
    store.close()
    assert LocalBands(tmp_path / "bands").get("kept") == b"x"


def test_clear_drops_buffered_and_stored_keys(tmp_path: Path) -> None:
    store = LocalBands(tmp_path / "bands")
    store["stored"] = b"1"
    store.flush()
    store["buffered"] = b"2"
    store.clear()
    assert len(store) == 0


def test_an_index_flushes_each_decision_and_a_restart_needs_no_rebuild(tmp_path: Path) -> None:
    items: dict[str, bytes] = {}
    store = LocalBands(tmp_path / "bands")
    index = DedupeIndex(items, store, derived_bands=True)
    index.decide("orig", fingerprint(STORY), T0)
    assert store._pending == {}  # the decision is written out, marker included
    store.close()

    reopened = LocalBands(tmp_path / "bands")
    again = DedupeIndex(items, reopened, derived_bands=True)
    assert again.sync_bands() is None
    copy = again.decide("copy", fingerprint(STORY), T0)
    assert (copy.kind, copy.duplicate_of) == ("exact", "orig")


def test_a_store_that_lost_its_last_writes_is_rebuilt(tmp_path: Path) -> None:
    items: dict[str, bytes] = {}
    store = LocalBands(tmp_path / "bands")
    index = DedupeIndex(items, store, derived_bands=True)
    index.decide("orig", fingerprint(STORY), T0)
    store.persist()
    store.close()
    # The entries move on while the local store does not see it (a crash before its memtable was written).
    DedupeIndex(items, {}, derived_bands=True).decide("later", fingerprint(STORY[::-1]), T0)

    stale = DedupeIndex(items, LocalBands(tmp_path / "bands"), derived_bands=True)
    assert stale.sync_bands() == 2
    assert stale.decide("copy", fingerprint(STORY[::-1]), T0).duplicate_of == "later"


def test_a_batch_writes_the_marker_once_at_its_end_with_the_same_decisions(tmp_path: Path) -> None:
    stories = [STORY, STORY[::-1], STORY, STORY[: len(STORY) // 2] + " and more"]
    plain_items: dict[str, bytes] = {}
    plain = DedupeIndex(plain_items, {}, derived_bands=True)
    expected = [plain.decide(f"i{n}", fingerprint(text), T0) for n, text in enumerate(stories)]

    items: dict[str, bytes] = {}
    store = LocalBands(tmp_path / "bands")
    index = DedupeIndex(items, store, derived_bands=True)
    with index.batch():
        got = [index.decide(f"i{n}", fingerprint(text), T0) for n, text in enumerate(stories)]
        assert store.get("#m3") is None  # not vouched for until the batch ends
    assert got == expected
    assert store.get("#m3") == items["m"]
    assert store._pending == {}
    assert DedupeIndex(items, store, derived_bands=True).sync_bands() is None


def test_a_batch_that_fails_half_way_vouches_only_for_what_was_decided(tmp_path: Path) -> None:
    items: dict[str, bytes] = {}
    store = LocalBands(tmp_path / "bands")
    index = DedupeIndex(items, store, derived_bands=True)

    def decide_then_fail() -> None:
        with index.batch():
            index.decide("first", fingerprint(STORY), T0)
            raise RuntimeError("the agent stops here")

    with pytest.raises(RuntimeError):
        decide_then_fail()
    assert store.get("#m3") == items["m"]
    assert index.decide("again", fingerprint(STORY), T0).duplicate_of == "first"
