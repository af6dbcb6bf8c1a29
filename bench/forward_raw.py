"""A raw aiokafka consume-and-produce loop, the floor for comparison: no framework, no processing.

usage: python bench/forward_raw.py
environment: BENCH_BOOTSTRAP (host:port), BENCH_APP_ID (consumer group), BENCH_IN_TOPIC, BENCH_OUT_TOPIC,
BENCH_FETCH_MAX_WAIT_MS (default 100), BENCH_PRODUCER_LINGER_MS (default 5), BENCH_FANOUT (default 1: extra
copies go to BENCH_OUT_TOPIC + ".sink"). Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def main() -> None:
    bootstrap = os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:19292")
    source = os.environ.get("BENCH_IN_TOPIC", "bench.raw")
    target = os.environ.get("BENCH_OUT_TOPIC", "bench.forward")
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=os.environ.get("BENCH_APP_ID", "bench-raw"),
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=1000,
        fetch_max_wait_ms=int(os.environ.get("BENCH_FETCH_MAX_WAIT_MS", "100")),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=int(os.environ.get("BENCH_PRODUCER_LINGER_MS", "5")), acks="all"
    )
    fanout = int(os.environ.get("BENCH_FANOUT", "1"))
    sink = target + ".sink"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await producer.start()
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    for _ in range(fanout - 1):
                        await producer.send(sink, value=record.value, key=record.key)
                    await producer.send(target, value=record.value, key=record.key)
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main())
