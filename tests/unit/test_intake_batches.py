"""How the intake stage groups prepared records into internal messages: by language, within a byte budget."""

from __future__ import annotations

from agents.intake import _Batches


def test_records_are_grouped_by_language_in_arrival_order() -> None:
    batches = _Batches(max_bytes=1_000)
    for language, record in [("en", b"a"), ("de", b"b"), ("en", b"c")]:
        batches.add(language, record)
    assert batches.drain() == [("en", [b"a", b"c"]), ("de", [b"b"])]
    assert batches.drain() == []


def test_a_group_that_would_pass_the_budget_is_closed_first() -> None:
    batches = _Batches(max_bytes=10)
    for record in (b"123456", b"7890", b"abc"):
        batches.add("en", record)
    assert batches.drain() == [("en", [b"123456", b"7890"]), ("en", [b"abc"])]


def test_a_record_larger_than_the_budget_goes_alone() -> None:
    batches = _Batches(max_bytes=4)
    batches.add("en", b"small")
    batches.add("en", b"x")
    assert batches.drain() == [("en", [b"small"]), ("en", [b"x"])]
