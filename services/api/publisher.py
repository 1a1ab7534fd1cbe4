"""Where the API's writes go: anything with `publish(events)`; in production, the broker."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from schemas.events import Envelope
from services.broker import provision, publish
from services.settings import Settings


class Publisher(Protocol):
    def publish(self, events: Sequence[Envelope]) -> None:
        """Send every event, or raise (services.broker.BrokerError) having sent none for sure."""


class BrokerPublisher:
    """Publishes to the broker in `settings`; provisions the topics before the first event."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._provisioned = False
        self._lock = threading.Lock()

    def publish(self, events: Sequence[Envelope]) -> None:
        with self._lock:
            if not self._provisioned:
                provision(self.settings)
                self._provisioned = True
        publish(self.settings, events)
