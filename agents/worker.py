"""The worker: the app with its topics, tables and agents, its health and metrics pages, and its run loop."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

import faust
import structlog
from prometheus_client import generate_latest

from agents import dedupe, intake
from agents.app import build_app, declare_tables, declare_topics
from agents.delivery import Delivery
from agents.metrics import Metrics
from agents.wiring import Wiring
from pipeline import clean
from pipeline.process import Pipeline
from pipeline.settings import Settings

log = structlog.get_logger(__name__)

# Prometheus text format 0.0.4 (aiohttp sets the UTF-8 charset itself and refuses one here).
_METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"
_DRAIN_SECONDS = 10.0
"""How long a stopping worker waits for deliveries in flight; what is left is read again after the restart."""


def _producer_send(app: faust.App, metrics: Metrics) -> Callable[[str, bytes, bytes], Awaitable[asyncio.Future[Any]]]:
    """Sends through the producer, without Faust's per-message channel and future bookkeeping.

    A failed send is counted (``newsfeed_send_errors_total``) and logged; ``agents.delivery`` acts on it.
    """

    async def send(topic: str, key: bytes, value: bytes) -> asyncio.Future[Any]:
        future: Any = await app.producer.send(topic, key, value, partition=None, timestamp=None, headers=None)
        future.add_done_callback(metrics.on_sent)  # an asyncio future, though Faust types it as an Awaitable
        return cast("asyncio.Future[Any]", future)

    return send


def _releaser(app: faust.App) -> Callable[[Any], None]:
    def release(message: Any) -> None:
        app.consumer.release(message)  # type: ignore[attr-defined] # agents.transport's consumer

    return release


def _lag(app: faust.App) -> Iterable[tuple[str, int, int]]:
    consumer: Any = app.consumer
    for tp in sorted(consumer.assignment()):
        high = consumer.highwater(tp)
        read = consumer._read_offset.get(tp)  # noqa: SLF001 - faust exposes no public read position
        if high is None:
            continue
        yield tp.topic, tp.partition, max(0, high - (read + 1 if read is not None else 0))


def build(settings: Settings) -> Wiring:
    """Build the worker's app with its topics, tables, agents and web pages."""
    app = build_app(settings)
    topics = declare_topics(app, settings)
    role = settings.worker_role
    tables = declare_tables(app, settings) if role != "intake" else None
    # The pipeline's own index is unused in the worker: the dedupe agent keeps one per partition.
    pipeline = Pipeline.from_settings(
        settings, items=tables.items if tables else {}, bands={}, fired=tables.fired if tables else {}
    )
    metrics = Metrics.create(lambda: _lag(app))
    delivery = Delivery(_producer_send(app, metrics), _releaser(app), metrics)
    wiring = Wiring(settings, app, topics, tables, pipeline, metrics, delivery)
    if role in ("all", "intake"):
        clean.warm_up()  # not on the first page an item brings: that item would wait 0.3 s
        intake.register(wiring)
    if role in ("all", "dedupe"):
        dedupe.register(wiring)
    _pages(wiring)

    app.before_stop.append(lambda: delivery.stop(within=_DRAIN_SECONDS))
    return wiring


class _Worker(faust.Worker):
    """Faust's worker, logging one ``worker_ready`` event once tables are recovered and agents run."""

    def __init__(self, wiring: Wiring, **kwargs: Any) -> None:
        super().__init__(wiring.app, **kwargs)
        self.wiring = wiring
        wiring.delivery.crash = self.crash

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        # What start-up built (the taxonomy's automaton, the extractors, Faust's own objects) lives as long as the
        # worker: out of the collector's way, a full collection no longer walks it (120-140 ms each, seen in the
        # middle of a 200 items/s run).
        gc.collect()
        gc.freeze()
        self.wiring.started.set()
        settings = self.wiring.settings
        log.info(
            "worker_ready", app_id=settings.app_id, role=settings.worker_role, group=self.wiring.app.conf.id,
            web=f"{settings.web_host}:{settings.web_port}",
            event_loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
        )  # fmt: skip


def _pages(wiring: Wiring) -> None:
    app = wiring.app

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        started = wiring.started.is_set()
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        partitions: dict[str, list[int]] = {}
        for tp in app.consumer.assignment() if started else ():
            partitions.setdefault(tp.topic, []).append(tp.partition)
        halted = wiring.delivery.halted
        ready = started and recovered and not app.rebalancing and halted is None
        body: dict[str, Any] = {
            "ready": ready, "started": started, "recovered": recovered, "rebalancing": bool(app.rebalancing),
            "assigned": bool(partitions), "partitions": {topic: sorted(ps) for topic, ps in sorted(partitions.items())},
        }  # fmt: skip
        if halted is not None:
            body["delivery_halted"] = {"topic": halted[0], "cause": halted[1]}
        return web.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(wiring.metrics.registry), content_type=_METRICS_CONTENT_TYPE)


def use_event_loop(name: str) -> str:
    """Make ``name`` the event loop of this process's threads (set before Faust creates its loops); returns the
    loop used. uvloop runs the event loop itself (callbacks, futures, sockets, the wake-ups from Faust's consumer
    thread) in C; where it cannot be imported, the standard loop is used."""
    if name == "uvloop":
        try:
            import uvloop  # noqa: PLC0415 - optional: not built for every platform
        except ImportError:
            log.warning("event_loop_unavailable", wanted="uvloop", using="asyncio")
            return "asyncio"
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return name


def run(settings: Settings) -> None:
    """Run a worker until SIGTERM or SIGINT; offsets of what was processed are committed on the way out."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level of it
    use_event_loop(settings.event_loop)
    wiring = build(settings)
    worker = _Worker(
        wiring,
        loglevel=settings.log_level,
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    worker.execute_from_commandline()
