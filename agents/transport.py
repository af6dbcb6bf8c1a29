"""Faust's aiokafka transport with the consumer's fetch wait taken from the settings.

faust-streaming builds its worker consumer with ``fetch_max_wait_ms=1500`` written into the call, with no
setting to change it. When a partition has no new data the broker then holds each fetch open for 1.5 s, and
the other partitions' records wait behind it: a worker goes idle in 1.5 s stalls. This module subclasses the
transport at its documented extension points (``Transport.Consumer``, ``Consumer._new_consumer_thread``)
and applies ``NEWSFEED_FETCH_MAX_WAIT_MS`` to the consumer that Faust builds.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this attribute when it builds its fetcher, in start(); nothing has used it yet.
        consumer._fetch_max_wait_ms = self.app.conf.newsfeed_fetch_max_wait_ms  # noqa: SLF001
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport, with a configurable consumer fetch wait."""

    Consumer = _Consumer
