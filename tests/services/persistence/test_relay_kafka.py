"""The relay thread against the real broker: what it publishes, where, and in what order.

Its producer builds record batches itself, so these check what kafka-python's producer did for
free: each key lands on the partition the default partitioner picks (as for every other
producer here), a key's events arrive in the order queued even when they span many batches,
and every row is marked published once the broker has it.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from kafka.partitioner.default import murmur2

from schemas.events import OfferWithdrawn
from services.broker import tail
from services.persistence import Database
from services.settings import Settings
from services.worker import relay as relay_module
from services.worker.relay import RelayThread

KEYS = 23
EVENTS = 600


def test_each_key_lands_on_its_partition_in_the_order_queued_and_is_marked(
    provisioned: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "BATCH_BYTES", 4096)  # dozens of batches a partition
    events = [
        OfferWithdrawn(offer_id=f"o{i % KEYS}", event_id=f"ev-{i:04d}", reason="x" * 100)
        for i in range(EVENTS)
    ]
    with database.unit_of_work() as uow:
        uow.outbox.add_many((e, "offers", e.offer_id) for e in events)
        uow.commit()

    relay = RelayThread(provisioned, database.unit_of_work, interval=0.05)
    relay.start()
    try:
        assert relay.drained(timeout=30)
    finally:
        relay.stop()

    received = list(tail(provisioned, "offers", from_beginning=True, limit=EVENTS, timeout=10))
    assert len(received) == EVENTS
    partitions = sorted({r.partition for r in received})
    assert len(partitions) == provisioned.topic_partitions
    by_key: dict[str, list[str]] = defaultdict(list)
    for record in received:
        assert record.key is not None and record.event is not None
        expected = (murmur2(record.key.encode()) & 0x7FFFFFFF) % len(partitions)
        assert record.partition == expected
        by_key[record.key].append(record.event.event_id)
    for key, ids in by_key.items():
        assert ids == [e.event_id for e in events if e.offer_id == key]
    with database.unit_of_work() as uow:
        assert uow.outbox.unpublished(10) == []
