"""Partition assignment that counts the dedupe shard's work: raw partitions move off the worker holding it.

Faust balances each group of co-partitioned topics on its own: the 4 raw partitions two and two, the one dedupe
shard (the prepared stream and its tables) to one worker. That worker then does half the intake and all of
dedupe, and limits the group (``make bench``, two identical workers: 15.3 against 9.9 CPU-seconds). Here a
dedupe shard weighs as much as the intake of ``DEDUPE_SHARE * raw / dedupe`` raw partitions, and after Faust's
assignment raw partitions move from the most loaded worker to the least loaded while that lowers the highest
load. A moved partition is, where possible, one the receiving worker held before, so repeated rebalances do not
shuffle partitions back and forth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from faust.assignor import PartitionAssignor

DEDUPE_SHARE: Final = 0.68
"""Dedupe CPU per item over intake CPU per item, from ``make bench`` (split roles: 8.82 against 13.03 CPU-s)."""


@dataclass(frozen=True, slots=True)
class ShardLoad:
    """What the assignor needs to know of the worker's topics."""

    raw_topic: str
    prepared_topic: str
    shard_weight: float
    """The load of one dedupe shard, in raw partitions' worth of intake."""


def shard_load(raw_topic: str, prepared_topic: str, raw_partitions: int, dedupe_partitions: int) -> ShardLoad:
    """The load model for these topics (items assumed spread evenly over the partitions)."""
    return ShardLoad(raw_topic, prepared_topic, DEDUPE_SHARE * raw_partitions / dedupe_partitions)


def balance_raw(
    raw: Mapping[str, list[int]],
    shards: Mapping[str, int],
    weight: float,
    previous: Mapping[str, list[int]] | None = None,
) -> dict[str, list[int]]:
    """Move raw partitions between members until no move lowers the highest load.

    Args:
        raw: each member's raw partitions, as Faust assigned them.
        shards: how many dedupe shards each member holds (missing: none).
        weight: one shard's load in raw partitions.
        previous: each member's raw partitions before this rebalance, to move those back first.

    Returns:
        Each member's raw partitions, sorted; every partition of ``raw`` exactly once.
    """
    out = {member: sorted(partitions) for member, partitions in raw.items()}
    before = previous or {}

    def load(member: str) -> float:
        return len(out[member]) + weight * shards.get(member, 0)

    while len(out) > 1:
        heavy = max(sorted(out), key=load)
        light = min(sorted(out), key=load)
        if not out[heavy] or load(light) + 1 >= load(heavy):  # the move would not lower the highest load
            break
        wanted = [p for p in out[heavy] if p in before.get(light, ())]
        moved = wanted[0] if wanted else out[heavy][-1]
        out[heavy].remove(moved)
        out[light] = sorted([*out[light], moved])
    return out


class BalancedAssignor(PartitionAssignor):
    """Faust's assignor, then ``balance_raw`` over the raw topic (``app.conf.newsfeed_shard_load``)."""

    _previous_raw: dict[str, list[int]]

    @property
    def _model(self) -> ShardLoad | None:
        model: ShardLoad | None = getattr(self.app.conf, "newsfeed_shard_load", None)
        return model

    def _perform_assignment(self, cluster: Any, member_metadata: Any) -> Any:
        model = self._model
        self._previous_raw = {}
        if model is not None:
            for member, metadata in member_metadata.items():
                actives = self._get_client_metadata(metadata).assignment.actives
                self._previous_raw[member] = list(actives.get(model.raw_topic, []))
        return super()._perform_assignment(cluster, member_metadata)

    def _global_table_standby_assignments(self, assignments: Any, partitions_by_topic: Any) -> Any:
        # Faust's last step before it encodes the assignments: every co-partitioned group is assigned by now.
        assignments = super()._global_table_standby_assignments(assignments, partitions_by_topic)
        model = self._model
        if model is None:
            return assignments
        raw = {m: a.actives[model.raw_topic] for m, a in assignments.items() if model.raw_topic in a.actives}
        shards = {m: len(a.actives.get(model.prepared_topic, [])) for m, a in assignments.items()}
        for member, partitions in balance_raw(raw, shards, model.shard_weight, self._previous_raw).items():
            assignments[member].actives[model.raw_topic] = partitions
        return assignments
