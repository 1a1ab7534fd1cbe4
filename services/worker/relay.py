"""The outbox relay as a background thread with its own Kafka producer.

Handlers call `wake()` after they commit, so events go out within milliseconds; the thread also
polls every `interval` seconds, which picks up rows committed by another worker or left behind
by a crash. A row is marked published only after the broker acknowledged it (see
services.persistence.relay), so a failed or interrupted publish is retried, never lost.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kafka import KafkaProducer

from services.broker.connection import client_options
from services.persistence import PublishFailed, UnitOfWorkFactory, relay_pending
from services.settings import Settings

log = logging.getLogger(__name__)

ACK_TIMEOUT_S = 30.0
RETRY_AFTER_S = 1.0  # after a failed publish, before the next attempt


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
        self._producer: Any = None
        self._futures: list[Any] = []

    def start(self) -> None:
        self._producer = KafkaProducer(
            **client_options(self.settings), acks="all", linger_ms=5, retries=5
        )
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
            self._producer.close(timeout=5)

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
            self.published += sent
            if sent == 0 and not self._wake.is_set():
                self._idle.set()
            if self._stop.is_set() and sent == 0:
                return

    def _publish(self, topic: str, key: str, value: bytes) -> None:
        future = self._producer.send(self.settings.topic(topic), key=key.encode(), value=value)
        self._futures.append(future)

    def _flush(self) -> None:
        futures, self._futures = self._futures, []
        self._producer.flush(timeout=ACK_TIMEOUT_S)
        for future in futures:
            if not future.is_done or future.failed():
                reason = future.exception or f"not acknowledged within {ACK_TIMEOUT_S:g} s"
                raise PublishFailed(f"the broker did not take an event: {reason}", 0)
