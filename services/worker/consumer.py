"""faust's Kafka consumer, with a short fetch wait so that a lone event is picked up at once.

A consumer's fetch asks for every partition it is assigned and waits up to `fetch.max.wait`
for data. The embedded broker answers such a fetch early when a record arrives only if it
asks for a single partition; over several (a worker's every topic) it waits the whole time.
faust fixes that wait at 1.5 s, so an event arriving on an idle worker waited up to 1.5 s
(measured: median 1.05 s over eight topics, 2 ms over one). With FETCH_MAX_WAIT_MS the wait,
and so the pick-up, stays within 20 ms; the cost is an empty fetch that often per idle
worker, which any broker serves in microseconds.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_kafka

FETCH_MAX_WAIT_MS = 20


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when its fetcher starts
        return consumer


class PromptConsumer(faust_kafka.Consumer):
    """faust's aiokafka consumer, fetching with FETCH_MAX_WAIT_MS."""

    def _new_consumer_thread(self) -> faust_kafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


def use_prompt_consumer(app: Any) -> None:
    """Make `app` (a faust.App, before it starts) consume with `PromptConsumer`."""
    app.transport.Consumer = PromptConsumer
