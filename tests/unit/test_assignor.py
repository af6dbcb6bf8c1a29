"""The raw-partition balancing that counts the dedupe shard's work (pure; Faust's own assignment is given)."""

from __future__ import annotations

from agents.assignor import balance_raw, shard_load


def test_the_shard_holder_gives_raw_partitions_to_the_other_worker() -> None:
    weight = shard_load("raw", "prepared", raw_partitions=4, dedupe_partitions=1).shard_weight
    out = balance_raw({"a": [0, 1], "b": [2, 3]}, {"a": 1}, weight)
    assert (len(out["a"]), len(out["b"])) == (1, 3)
    assert sorted(out["a"] + out["b"]) == [0, 1, 2, 3]


def test_nothing_moves_without_a_shard_or_when_moving_would_not_lower_the_highest_load() -> None:
    assert balance_raw({"a": [0, 1], "b": [2, 3]}, {}, 2.7) == {"a": [0, 1], "b": [2, 3]}
    assert balance_raw({"a": [0, 1], "b": [2]}, {}, 2.7) == {"a": [0, 1], "b": [2]}
    # a light shard: 2 + 0.5 against 2 -> moving one would give 1.5 against 3
    assert balance_raw({"a": [0, 1], "b": [2, 3]}, {"a": 1}, 0.5) == {"a": [0, 1], "b": [2, 3]}


def test_three_workers_spread_the_load() -> None:
    out = balance_raw({"a": [0, 1], "b": [2], "c": [3]}, {"a": 1}, 2.72)
    assert {m: len(p) for m, p in out.items()} == {"a": 0, "b": 2, "c": 2}


def test_a_lone_worker_keeps_everything() -> None:
    assert balance_raw({"a": [3, 1, 0, 2]}, {"a": 1}, 2.72) == {"a": [0, 1, 2, 3]}


def test_a_partition_goes_back_to_the_worker_that_held_it_before() -> None:
    # Faust's sticky assignment evened out the 1/3 split of the last rebalance by giving 3 back to "a".
    out = balance_raw({"a": [0, 3], "b": [1, 2]}, {"a": 1}, 2.72, previous={"a": [0], "b": [1, 2, 3]})
    assert out == {"a": [0], "b": [1, 2, 3]}


def test_a_worker_with_no_raw_partition_can_receive_one() -> None:
    out = balance_raw({"a": [0, 1, 2, 3], "b": []}, {"a": 1}, 2.72)
    assert out == {"a": [0], "b": [1, 2, 3]}
