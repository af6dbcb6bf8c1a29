"""A short chaos run inside ``make test``: kills, a broker outage, refused outputs and a rebalance, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import Plan, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(1200)
async def test_a_short_chaos_run_loses_nothing_and_decides_nothing_twice(broker: str, tmp_path: Path) -> None:
    plan = Plan(items=5_000, kills=3, outage=10.0, refusal=8.0, add_worker=True, rate=100.0, quiet_timeout=420.0)
    verdict = await run(plan, broker, tmp_path)
    report = verdict.report()
    print(report)
    assert verdict.inputs > 4_000
    assert verdict.alerts_expected > 0
    assert len([e for e in verdict.events if "exited with" not in e]) == 6  # and a worker that crashed is restarted
    assert verdict.ok, report
