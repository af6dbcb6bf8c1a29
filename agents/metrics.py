"""Prometheus metrics of one worker, served at ``/metrics`` on its web port."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _LagCollector(Collector):
    def __init__(self, read_lag: Callable[[], Iterable[tuple[str, int, int]]]) -> None:
        self._read_lag = read_lag

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "newsfeed_consumer_lag", "Messages not yet read, per topic partition", labels=["topic", "partition"]
        )
        for topic, partition, lag in self._read_lag():
            family.add_metric([topic, str(partition)], lag)
        yield family


@dataclass(frozen=True, slots=True)
class Metrics:
    """The worker's counters and histograms, in their own registry."""

    registry: CollectorRegistry
    items_in: Counter
    items_out: Counter
    dead_letters: Counter
    duplicates: Counter
    tags: Counter
    alerts: Counter
    send_errors: Counter
    halted: Gauge
    """1 while a refused delivery is retried and the worker takes no new work (``agents.delivery``)."""
    latency: Histogram
    batch_items: Histogram
    """Items per internal message from intake to dedupe: near ``NEWSFEED_INTAKE_BATCH_ITEMS`` under load."""

    children: dict[tuple[int, tuple[str, ...]], Any] = field(default_factory=dict, repr=False)
    """``labels()`` results, kept: prometheus_client takes a lock and builds the key on every call."""

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once per label set (the hot path counts every item)."""
        key = (id(metric), labels)
        found = self.children.get(key)
        if found is None:
            found = self.children[key] = metric.labels(*labels)
        return found

    def on_sent(self, future: asyncio.Future[Any]) -> None:
        """A producer future's done callback: a message that could not be delivered is counted and logged."""
        if future.cancelled() or future.exception() is None:
            return
        self.send_errors.inc()
        log.error("send_failed", error=repr(future.exception()))

    @classmethod
    def create(cls, read_lag: Callable[[], Iterable[tuple[str, int, int]]] | None = None) -> Metrics:
        """A fresh registry with every metric; ``read_lag`` yields ``(topic, partition, lag)`` on scrape."""
        registry = CollectorRegistry()
        if read_lag is not None:
            registry.register(_LagCollector(read_lag))
        return cls(
            registry=registry,
            items_in=Counter("newsfeed_items_in", "Items taken by a stage", ["stage"], registry=registry),
            items_out=Counter(
                "newsfeed_items_out", "Messages sent, per stage and topic", ["stage", "topic"], registry=registry
            ),
            dead_letters=Counter(
                "newsfeed_dead_letters", "Items dead-lettered, by reason", ["reason"], registry=registry
            ),
            duplicates=Counter("newsfeed_duplicates", "Duplicates found, by kind", ["kind"], registry=registry),
            tags=Counter("newsfeed_tags", "Tags assigned, per topic", ["topic"], registry=registry),
            alerts=Counter("newsfeed_alerts", "Alerts raised, per rule", ["rule"], registry=registry),
            send_errors=Counter(
                "newsfeed_send_errors", "Messages the producer could not deliver (their items are read again)",
                registry=registry,
            ),
            halted=Gauge(
                "newsfeed_delivery_halted", "1 while an output the broker refused is retried and intake waits",
                registry=registry,
            ),
            latency=Histogram(
                "newsfeed_processing_seconds", "Processing time per item and stage", ["stage"],
                buckets=_LATENCY_BUCKETS, registry=registry,
            ),
            batch_items=Histogram(
                "newsfeed_intake_batch_items", "Items per message intake hands to dedupe",
                buckets=_BATCH_BUCKETS, registry=registry,
            ),
        )  # fmt: skip
