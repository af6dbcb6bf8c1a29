"""A minimal Faust app for comparison: one agent forwarding raw bytes from one topic to another.

usage: python bench/forward_agent.py worker -l warn --without-web
environment: BENCH_BROKER (kafka://host:port), BENCH_APP_ID, BENCH_IN_TOPIC, BENCH_OUT_TOPIC,
NEWSFEED_FETCH_MAX_WAIT_MS (the consumer fetch wait; Faust hard-codes 1500, newsfeed's transport makes it
settable, and this app uses that transport so both can be compared; default 100 as in the worker).
BENCH_PRODUCER_LINGER_MS (default 5; the worker's is 10). BENCH_FANOUT (default 1): send each value this many times,
the extra copies to BENCH_OUT_TOPIC + ".sink" -- to price one extra produce per item (a worker writes ~20
changelog records per item through its tables). BENCH_ROOT_LOG_LEVEL (e.g. WARNING): set the root logger's level
once the app runs. Faust's worker leaves the root logger at DEBUG whatever ``-l`` says (its handler filters), so
every ``logger.debug`` in Faust and aiokafka builds a record: 0.14 ms an item, a fifth of this agent's CPU.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import faust

from agents.transport import Transport


class ForwardApp(faust.App):
    """faust.App with newsfeed's transport, so the consumer's fetch wait can be set."""

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)


app = ForwardApp(
    os.environ.get("BENCH_APP_ID", "bench-forward"),
    broker=os.environ.get("BENCH_BROKER", "kafka://127.0.0.1:19292"),
    store="memory://",
    autodiscover=False,
    key_serializer="raw",
    value_serializer="raw",
    web_enabled=False,
    consumer_auto_offset_reset="earliest",
    producer_linger_ms=float(os.environ.get("BENCH_PRODUCER_LINGER_MS", "5")),
    broker_commit_interval=1.0,
    topic_allow_declare=False,
    stream_wait_empty=False,
)
app.conf.newsfeed_fetch_max_wait_ms = int(os.environ.get("NEWSFEED_FETCH_MAX_WAIT_MS", "100"))  # type: ignore[attr-defined]

source = app.topic(os.environ.get("BENCH_IN_TOPIC", "bench.raw"))
target = app.topic(os.environ.get("BENCH_OUT_TOPIC", "bench.forward"))
sink = app.topic(os.environ.get("BENCH_OUT_TOPIC", "bench.forward") + ".sink")
FANOUT = int(os.environ.get("BENCH_FANOUT", "1"))


@app.task
async def root_log_level() -> None:
    level = os.environ.get("BENCH_ROOT_LOG_LEVEL")
    if level:
        logging.getLogger().setLevel(level.upper())


@app.agent(source, name="forward")
async def forward(stream: Any) -> None:
    async for event in stream.events():
        for _ in range(FANOUT - 1):
            await sink.send(key=event.key, value=event.value)
        await target.send(key=event.key, value=event.value)


if __name__ == "__main__":
    app.main()
