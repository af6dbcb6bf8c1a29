"""The worker's metrics: what a producer future's outcome does to them."""

from __future__ import annotations

import asyncio

from agents.metrics import Metrics


def _send_errors(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("newsfeed_send_errors_total") or 0.0


def test_a_failed_send_is_counted_and_a_delivered_or_cancelled_one_is_not() -> None:
    metrics = Metrics.create()
    loop = asyncio.new_event_loop()
    try:
        delivered, cancelled, failed = loop.create_future(), loop.create_future(), loop.create_future()
        delivered.set_result(None)
        cancelled.cancel()
        failed.set_exception(TimeoutError("no broker"))
        for future in (delivered, cancelled, failed):
            metrics.on_sent(future)
    finally:
        loop.close()
    assert _send_errors(metrics) == 1.0
