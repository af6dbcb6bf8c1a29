"""The poller's ``/health`` and Prometheus ``/metrics`` (aiohttp), and the counters behind them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest


@dataclass(slots=True)
class FeedHealth:
    """What ``/health`` says of one feed."""

    last_success: float | None = None
    last_error: str | None = None
    failures: int = 0


@dataclass(slots=True)
class PollMetrics:
    """Feeds polled, new entries, errors by kind, last success per feed; in their own registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    feeds: dict[str, FeedHealth] = field(default_factory=dict)
    ready: bool = False
    polls: Counter = field(init=False)
    new_entries: Counter = field(init=False)
    errors: Counter = field(init=False)
    last_success: Gauge = field(init=False)

    def __post_init__(self) -> None:
        self.polls = Counter(
            "newsfeed_poll_fetches", "Feed polls, by outcome (ok, not_modified, error)", ["feed", "outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.new_entries = Counter(
            "newsfeed_poll_new_entries", "Entries published to raw for the first time", ["feed"], registry=self.registry
        )
        self.errors = Counter("newsfeed_poll_errors", "Failed polls by kind", ["feed", "kind"], registry=self.registry)
        self.last_success = Gauge(
            "newsfeed_poll_last_success_timestamp_seconds", "When each feed was last fetched (200 or 304)", ["feed"],
            registry=self.registry,
        )  # fmt: skip

    def succeeded(self, feed: str, outcome: str, new: int) -> None:
        """Count a poll that fetched the feed (``ok`` or ``not_modified``) and what it published."""
        now = time.time()
        self.polls.labels(feed, outcome).inc()
        if new:
            self.new_entries.labels(feed).inc(new)
        self.last_success.labels(feed).set(now)
        health = self.feeds.setdefault(feed, FeedHealth())
        health.last_success, health.failures = now, 0

    def failed(self, feed: str, kind: str, detail: str) -> None:
        """Count a poll that gave no feed."""
        self.polls.labels(feed, "error").inc()
        self.errors.labels(feed, kind).inc()
        health = self.feeds.setdefault(feed, FeedHealth())
        health.last_error, health.failures = f"{kind}: {detail}", health.failures + 1

    def health(self) -> dict[str, Any]:
        """The ``/health`` body."""
        return {
            "status": "ok" if self.ready else "starting",
            "feeds": {
                url: {"last_success": h.last_success, "last_error": h.last_error, "failures": h.failures}
                for url, h in sorted(self.feeds.items())
            },
        }


async def serve(metrics: PollMetrics, host: str, port: int) -> web.AppRunner:
    """Start serving ``/health`` (200 once the state is loaded and the producer connected, else 503) and
    ``/metrics``; the caller cleans the runner up."""

    async def health(_: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps(metrics.health()), status=200 if metrics.ready else 503, content_type="application/json"
        )

    async def prometheus(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";", 1)[0]
        return response

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", prometheus)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
