"""How the intake stage groups prepared records into internal messages: by shard, within a byte budget."""

from __future__ import annotations

from agents.delivery import Item
from agents.intake import _Batches
from pipeline.prepared import shard_key


def _records(drained: list[tuple[str, list[tuple[bytes, Item]]]]) -> list[tuple[str, list[bytes]]]:
    return [(shard, [record for record, _ in group]) for shard, group in drained]


def _item() -> Item:
    return Item([], None)


def test_records_are_grouped_by_shard_in_arrival_order() -> None:
    batches = _Batches(max_bytes=1_000)
    for shard, record in [("en", b"a"), ("de", b"b"), ("en", b"c")]:
        batches.add(shard, record, _item())
    assert _records(batches.drain()) == [("en", [b"a", b"c"]), ("de", [b"b"])]
    assert batches.drain() == []


def test_each_record_keeps_its_item() -> None:
    batches = _Batches(max_bytes=1_000)
    first, second = _item(), _item()
    batches.add("en", b"a", first)
    batches.add("en", b"b", second)
    [(_, group)] = batches.drain()
    assert [item for _, item in group] == [first, second]


def test_a_group_that_would_pass_the_budget_is_closed_first() -> None:
    batches = _Batches(max_bytes=10)
    for record in (b"123456", b"7890", b"abc"):
        batches.add("en", record, _item())
    assert _records(batches.drain()) == [("en", [b"123456", b"7890"]), ("en", [b"abc"])]


def test_a_record_larger_than_the_budget_goes_alone() -> None:
    batches = _Batches(max_bytes=4)
    batches.add("en", b"small", _item())
    batches.add("en", b"x", _item())
    assert _records(batches.drain()) == [("en", [b"small"]), ("en", [b"x"])]


def test_regional_variants_of_a_language_share_a_shard() -> None:
    assert {shard_key(tag) for tag in ("en", "en-GB", "EN_us", "en-gb", " en-US")} == {"en"}
    assert shard_key("zh-Hant-TW") == "zh"
    assert shard_key("pt_BR") == "pt"
    assert shard_key("") == "en"
