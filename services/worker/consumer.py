"""faust's Kafka consumer: a short fetch wait, and one flow check per fetched batch.

**Fetch wait.** A lone event is picked up at once.

A consumer's fetch asks for every partition it is assigned and waits up to `fetch.max.wait`
for data. The embedded broker answers such a fetch early when a record arrives only if it
asks for a single partition; over several (a worker's every topic) it waits the whole time.
faust fixes that wait at 1.5 s, so an event arriving on an idle worker waited up to 1.5 s
(measured: median 1.05 s over eight topics, 2 ms over one). With FETCH_MAX_WAIT_MS the wait,
and so the pick-up, stays within 20 ms; the cost is an empty fetch that often per idle
worker, which any broker serves in microseconds.

**Delivery.** faust hands each fetched message to the streams inside `wait_first(deliver,
suspend_flow)`, so that a rebalance can abandon a delivery stuck on a full stream buffer. That
builds four tasks and an `asyncio.wait` per message: half the worker's event-loop time (measured
on the 500-student catalogue, 660 events, handlers stubbed out: 110 ms of event-loop CPU, 55 ms
with one wait per fetch). Here the messages of one fetch are delivered one after another inside
one such wait: the same escape for a rebalance, a stop or a crash (the rest of the fetch is
abandoned and fetched again from the committed offsets, as faust does).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiokafka
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_kafka

FETCH_MAX_WAIT_MS = 20
YIELD_EVERY = 100  # messages delivered between two turns of the event loop, as faust does


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when its fetcher starts
        return consumer


class PromptConsumer(faust_kafka.Consumer):
    """faust's aiokafka consumer, fetching with FETCH_MAX_WAIT_MS and delivering each fetch
    within one wait (see the module docstring)."""

    def _new_consumer_thread(self) -> faust_kafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        # faust's own loop (faust.transport.consumer.Consumer._drain_messages), but with the
        # per-message wait moved out to the whole fetch.
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        while not (consumer_should_stop() or fetcher_should_stop()):
            self.diag.set_flag(faust_consumer.CONSUMER_FETCHING)
            fetched = self.getmany(timeout=1.0)
            await self.sleep(0)  # getmany may return at once, again and again
            if not self.should_stop:
                # The fetch itself stays outside the wait, as in faust: records fetched are
                # never dropped by a wait that ends early, only left undelivered.
                first = await anext(fetched, None)
                if first is not None:
                    await self.wait_first(self._deliver(first, fetched), self.suspend_flow.wait())
            self.diag.unset_flag(faust_consumer.CONSUMER_FETCHING)

    async def _deliver(self, first: Any, fetched: AsyncIterator[tuple[Any, Any]]) -> None:
        """Hand each message of one fetch to the streams, in order, as faust does."""
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        since_yield = 0
        async for tp, message in _chain(first, fetched):
            since_yield += 1
            if since_yield > YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            last = read_offset[tp]
            if last is not None and offset < last:
                continue  # read before: faust drops it too
            if last and offset - last > 1 and acks_enabled_for(message.topic):
                await self._add_gap(tp, last + 1, offset)
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()
            await callback(message)
            read_offset[tp] = offset


async def _chain(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield first
    async for item in rest:
        yield item


def use_prompt_consumer(app: Any) -> None:
    """Make `app` (a faust.App, before it starts) consume with `PromptConsumer`."""
    app.transport.Consumer = PromptConsumer
