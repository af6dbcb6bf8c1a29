"""Where a worker's time went, by part, from the raw stacks ``bench/e2e.py profile`` writes (py-spy, ``--format raw``).

usage: python bench/profile_summary.py [bench/results/profile-worker.txt] [--top N]

Each sample is put in one part by its stack: the intake stages (``Pipeline.prepare``), the dedupe state
(RocksDB stores and Faust tables), the dedupe rules with alerts and routing (the rest of ``Pipeline.settle``),
the agents' own code (serialising the internal records, delivery, metrics), Faust/aiokafka, and two parts that
are not CPU of ours: the event loop waiting in ``select`` and socket writes (py-spy samples wall time, so a
write that wakes the broker on a loaded machine collects time the process spent descheduled). Shares are given
of all samples and of the busy ones (without those two). ``--top N`` also lists the N hottest leaf frames.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

_IDLE = "idle: the event loop in select"
_WRITES = "socket writes (syscalls)"
_STATE = ("IndexState.", "LocalBands.", "ManagedUserDict", "FastUserDict", "_Table.")


def part(frames: list[str]) -> str:
    """The part of the worker a stack's sample belongs to."""
    names = [frame.split(" (")[0] for frame in frames]
    files = [frame.split("(", 1)[1].split(":")[0] if "(" in frame else "" for frame in frames]
    if names[-1] == "EpollSelector.select":
        return _IDLE
    if names[-1] == "_SelectorSocketTransport.write":
        return _WRITES
    if "Pipeline.prepare" in names:
        return "intake stages: decode, clean, fingerprint, tag"
    if any(name.startswith(_STATE) for name in names):
        return "dedupe state: RocksDB stores, Faust tables"
    if "Pipeline.settle" in names:
        return "dedupe rules, alerts, route"
    if "Agent._execute_actor" in names:
        below = files[names.index("Agent._execute_actor") + 1 :]
        if any(name.startswith(("agents/", "pipeline/")) for name in below) and not any(
            name.startswith(("faust/", "aiokafka/", "mode/")) for name in below
        ):
            return "agents: internal records, delivery, metrics"
        return "Faust/aiokafka called by the agents"
    if any(name.startswith(("Delivery.", "_Table.")) for name in names):
        return "agents: internal records, delivery, metrics"
    return "Faust/aiokafka: fetch, events, produce, commit"


def summarise(path: Path, top: int = 0) -> str:
    """The summary as text."""
    parts: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        parts[part(frames)] += int(count)
        leaves[frames[-1]] += int(count)
        total += int(count)
    busy = total - parts[_IDLE] - parts[_WRITES]
    lines = [f"{path}: {total} samples, {busy} busy", f"{'all':>6} {'busy':>6}  part"]
    for name, count in parts.most_common():
        share = "" if name in (_IDLE, _WRITES) else f"{100 * count / max(busy, 1):5.1f}%"
        lines.append(f"{100 * count / max(total, 1):5.1f}% {share:>6}  {name}")
    for leaf, count in leaves.most_common(top):
        lines.append(f"{100 * count / max(total, 1):5.1f}%  {leaf}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default=str(Path(__file__).parent / "results" / "profile-worker.txt"))
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args()
    print(summarise(Path(args.path), args.top))


if __name__ == "__main__":
    main()
