"""The outbox relay as a background thread with its own Kafka producer.

Handlers call `wake()` after they commit, so events go out within milliseconds; the thread also
polls every `interval` seconds, which picks up rows committed by another worker or left behind
by a crash. A row is marked published only after the broker acknowledged it (see
services.persistence.relay), so a failed or interrupted publish is retried, never lost.

A round publishes tens of thousands of events at once, so the producer works in record batches
rather than messages: `publish` only appends the message to an open batch of its partition
(compiled code, no future per message), a full batch is handed to the producer at once, and
`flush` sends what is left and waits for every batch's acknowledgement. The producer is
aiokafka's, on an event loop of its own in a second thread, so batches go out while the relay
thread goes on reading and appending. Messages are routed as every other producer here routes
them (murmur2 of the key, kafka-python's default partitioner), and a partition's batches are
handed over one after the other and sent one request at a time, so a key's events keep their
order. Batches are gzip-compressed: a round's JSON events shrink about tenfold, which is less
for the broker to store and for consumers to fetch and checksum. The producer is not idempotent
(the embedded broker refuses aiokafka's producer id request): a batch sent again after a lost
acknowledgement arrives twice, and consumers, idempotent on event_id, drop the repeats.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from kafka.partitioner.default import murmur2

from services.broker.connection import CLIENT_ID, bootstrap_servers
from services.persistence import PublishFailed, UnitOfWorkFactory, relay_pending
from services.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

ACK_TIMEOUT_S = 30.0
RETRY_AFTER_S = 1.0  # after a failed publish, before the next attempt
BATCH_BYTES = 256 * 1024  # a record batch, before compression; a request carries one a partition
COMPRESSION = "gzip"


class RelayThread:
    def __init__(
        self, settings: Settings, uow_factory: UnitOfWorkFactory, interval: float = 0.5
    ) -> None:
        self.settings = settings
        self.uow_factory = uow_factory
        self.interval = interval
        self.published = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None  # the producer's, from start()
        self._io: threading.Thread | None = None
        self._producer: Any = None
        self._queue: asyncio.Queue[_Handover] | None = None
        self._pump: asyncio.Task[None] | None = None
        # Of the relay thread only: open batches by (topic, partition), handed-over batches'
        # acknowledgements, and this pass's routing.
        self._open: dict[tuple[str, int], Any] = {}
        self._handed: list[concurrent.futures.Future[None]] = []
        self._partitions: dict[str, list[int]] = {}
        self._routes: dict[tuple[str, str], int] = {}
        self._pass = 0  # batches handed over in an earlier, failed pass are not sent

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._io = threading.Thread(
            target=self._loop.run_forever, name="outbox-relay-io", daemon=True
        )
        self._io.start()
        try:
            self._call(self._connect())
        except BaseException:
            self._close_loop()
            raise
        self._thread.start()

    def wake(self) -> None:
        self._idle.clear()
        self._wake.set()

    def stop(self) -> None:
        """Publish what is committed already, then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=ACK_TIMEOUT_S + 5)
        if self._producer is not None:
            try:
                self._call(self._disconnect(), timeout=10)
            except Exception:  # stopping anyway: what is unmarked is published next time
                log.exception("outbox relay: closing the producer failed")
        self._close_loop()

    def drained(self, timeout: float) -> bool:
        """Wait until a relay pass found nothing left to publish."""
        self.wake()
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                sent = relay_pending(self.uow_factory, self._publish, flush=self._flush)
            except PublishFailed as error:
                log.warning("outbox relay: %s; retrying in %g s", error, RETRY_AFTER_S)
                self._stop.wait(RETRY_AFTER_S)
                continue
            except Exception:  # a database hiccup: log it and try again, never die
                log.exception("outbox relay failed; retrying in %g s", RETRY_AFTER_S)
                self._stop.wait(RETRY_AFTER_S)
                continue
            finally:
                self._forget()
            self.published += sent
            if sent == 0 and not self._wake.is_set():
                self._idle.set()
            if self._stop.is_set() and sent == 0:
                return

    # -- the relay thread's side: batches ---------------------------------------------------

    def _publish(self, topic: str, key: str, value: bytes) -> None:
        name = self.settings.topic(topic)
        key_bytes = key.encode()
        partition = self._route(name, key, key_bytes)
        batch = self._open.get((name, partition))
        if batch is None:
            batch = self._open[(name, partition)] = self._producer.create_batch()
        if batch.append(key=key_bytes, value=value, timestamp=None) is None:  # it is full
            self._hand_over(name, partition, batch)
            batch = self._open[(name, partition)] = self._producer.create_batch()
            batch.append(key=key_bytes, value=value, timestamp=None)  # a first record fits

    def _flush(self) -> None:
        """Send the open batches and wait until the broker acknowledged every batch handed
        over since the last flush; PublishFailed if it did not take one."""
        for (name, partition), batch in self._open.items():
            self._hand_over(name, partition, batch)
        self._open.clear()
        handed, self._handed = self._handed, []
        done, pending = concurrent.futures.wait(handed, timeout=ACK_TIMEOUT_S)
        failed = next((f.exception() for f in done if f.exception() is not None), None)
        if failed is not None or pending:
            reason = failed or f"not acknowledged within {ACK_TIMEOUT_S:g} s"
            raise PublishFailed(f"the broker did not take an event: {reason}", 0)

    def _route(self, name: str, key: str, key_bytes: bytes) -> int:
        """The key's partition, as kafka-python's default partitioner picks it."""
        partition = self._routes.get((name, key))
        if partition is None:
            partitions = self._partitions.get(name)
            if partitions is None:
                found = self._call(self._producer.partitions_for(name))
                partitions = self._partitions[name] = sorted(found)
            partition = partitions[(murmur2(key_bytes) & 0x7FFFFFFF) % len(partitions)]
            self._routes[(name, key)] = partition
        return partition

    def _hand_over(self, name: str, partition: int, batch: Any) -> None:
        batch.close()
        acked: concurrent.futures.Future[None] = concurrent.futures.Future()
        assert self._loop is not None and self._queue is not None
        self._loop.call_soon_threadsafe(
            self._queue.put_nowait, _Handover(name, partition, batch, acked, self._pass)
        )
        self._handed.append(acked)

    def _forget(self) -> None:
        """After a pass: drop what a failed pass left open or queued (its rows are not marked,
        so they are read again), and the routing, so a topic's new partitions count from the
        next pass."""
        self._pass += 1
        self._open.clear()
        self._handed.clear()
        self._partitions.clear()
        self._routes.clear()

    # -- the event loop's side: the producer ------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float = ACK_TIMEOUT_S) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _connect(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers(self.settings),
            client_id=CLIENT_ID,
            acks="all",
            compression_type=COMPRESSION,
            max_batch_size=BATCH_BYTES,
            linger_ms=0,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        self._queue = asyncio.Queue()
        self._pump = asyncio.create_task(self._send_in_order(self._queue))

    async def _send_in_order(self, queue: asyncio.Queue[_Handover]) -> None:
        """Give the producer each batch in the order handed over. The producer queues one
        batch a partition and sends one request at a time, so a partition's batches reach
        the broker in this order."""
        while True:
            handover = await queue.get()
            if handover.sequence != self._pass:  # its pass failed and gave up on it
                handover.acked.set_exception(PublishFailed("abandoned", 0))
                continue
            try:
                delivery = await self._producer.send_batch(
                    handover.batch, handover.topic, partition=handover.partition
                )
            except Exception as error:
                handover.acked.set_exception(error)
                continue
            delivery.add_done_callback(handover.settle)

    async def _disconnect(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        await self._producer.stop()

    def _close_loop(self) -> None:
        if self._loop is None or self._io is None:
            return
        if self._io.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._io.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()


class _Handover:
    """A batch on its way to the producer, and the future the relay thread waits on."""

    __slots__ = ("acked", "batch", "partition", "sequence", "topic")

    def __init__(
        self,
        topic: str,
        partition: int,
        batch: Any,
        acked: concurrent.futures.Future[None],
        sequence: int,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.batch = batch
        self.acked = acked
        self.sequence = sequence  # the relay pass that handed it over

    def settle(self, delivery: asyncio.Future[Any]) -> None:
        if delivery.cancelled():
            self.acked.set_exception(concurrent.futures.CancelledError())
        elif (error := delivery.exception()) is not None:
            self.acked.set_exception(error)
        else:
            self.acked.set_result(None)
