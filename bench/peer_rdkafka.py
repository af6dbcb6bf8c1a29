"""A peer for comparison: a plain confluent-kafka (librdkafka) loop, no Faust, forwarding or running the stages.

usage: python bench/peer_rdkafka.py            (needs the dev-only extra: pip install -e '.[peer]')
environment: BENCH_BOOTSTRAP (host:port), BENCH_APP_ID (consumer group), BENCH_IN_TOPIC, BENCH_OUT_TOPIC,
BENCH_FETCH_MAX_WAIT_MS (default 100), BENCH_PRODUCER_LINGER_MS (default 5), BENCH_PEER_STAGES (default 0).

With BENCH_PEER_STAGES=1 each message goes through the worker's stages as ``newsfeed process`` runs them (one
process, dict state) and its search, duplicates or dead-letter message goes to BENCH_OUT_TOPIC under its key. It
is a floor, not a like-for-like worker: no internal hop, no changelog, no durable state, offsets committed by
the client on a timer. Set beside ``bench/forward_raw.py`` (aiokafka) and ``bench/forward_agent.py`` (Faust),
it tells how much of the worker's CPU the Kafka client and the framework take. Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.offline import offline_pipeline, process_lines
from agents.wiring import encode
from pipeline import clean
from pipeline.settings import Settings

_STOP: list[bool] = []


def _stages(source: str) -> Any:
    settings = Settings.from_env({})
    pipeline = offline_pipeline(settings)
    clean.warm_up()  # as the worker does: the extractors' one-time costs are not an item's
    outputs = {settings.topic(name) for name in ("search", "duplicates", "deadletter")}

    def run(value: bytes, offset: int) -> tuple[bytes, bytes] | None:
        """The item's search, duplicates or dead-letter message, as ``newsfeed process`` makes it."""
        for message in process_lines(pipeline, iter([(source, offset, value)])):
            topic, key, body = encode(message)
            if topic in outputs:
                return key, body
        return None

    return run


def main() -> None:
    bootstrap = os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:19292")
    source = os.environ.get("BENCH_IN_TOPIC", "bench.raw")
    target = os.environ.get("BENCH_OUT_TOPIC", "bench.forward")
    stages = _stages(source) if os.environ.get("BENCH_PEER_STAGES", "0") not in ("0", "") else None
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": os.environ.get("BENCH_APP_ID", "bench-rdkafka"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000,
            "fetch.wait.max.ms": int(os.environ.get("BENCH_FETCH_MAX_WAIT_MS", "100")),
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": int(os.environ.get("BENCH_PRODUCER_LINGER_MS", "5")),
            "acks": "all",
        }
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: _STOP.append(True))
    consumer.subscribe([source])
    try:
        while not _STOP:
            # The first message as soon as it comes, then what is there already: ``consume`` alone would wait
            # for a full batch, which is latency a worker does not add.
            first = consumer.poll(0.2)
            batch = [first, *consumer.consume(num_messages=499, timeout=0)] if first is not None else []
            for message in batch:
                if message.error() is not None:
                    continue
                key, value = message.key() or b"", message.value() or b""
                if stages is not None:
                    out = stages(value, message.offset())
                    if out is None:
                        continue
                    key, value = out
                while True:
                    try:
                        producer.produce(target, value=value, key=key)
                        break
                    except BufferError:  # the local queue is full: let deliveries drain it
                        producer.poll(0.05)
            producer.poll(0)
    finally:
        producer.flush(10)
        consumer.close()


if __name__ == "__main__":
    main()
