"""The outbox's writes in bulk: a round queues tens of thousands of events at once.

On PostgreSQL a batch of at least `COPY_FROM` rows is written with COPY, a smaller one with an
INSERT; both must keep the order queued, store the event's own JSON and refuse a repeated
event id, as every backend does.
"""

from __future__ import annotations

import pytest

from schemas.events import OfferWithdrawn
from services.persistence import Conflict, UnitOfWorkFactory
from services.persistence.sql.messaging import COPY_FROM

SIZES = [3, COPY_FROM + 7]  # an INSERT, and a COPY on PostgreSQL


def _events(n: int, start: int = 0) -> list[OfferWithdrawn]:
    return [
        OfferWithdrawn(offer_id=f"o{i}", event_id=f"ev-{i:04d}", reason='a "quoted"\tline\n\\é')
        for i in range(start, start + n)
    ]


@pytest.mark.parametrize("n", SIZES)
def test_a_batch_is_stored_in_the_order_queued_as_the_events_json(
    uow_factory: UnitOfWorkFactory, n: int
) -> None:
    events = _events(n)
    with uow_factory() as uow:
        uow.outbox.add_many((e, "offers", e.offer_id) for e in events)
        uow.commit()
    with uow_factory() as uow:
        stored = uow.outbox.unpublished(1000)
    assert [m.event_id for m in stored] == [e.event_id for e in events]
    assert [m.id for m in stored] == sorted(m.id for m in stored)
    assert [m.payload for m in stored] == [e.model_dump_json().encode() for e in events]
    assert {(m.topic, m.published_at) for m in stored} == {("offers", None)}


@pytest.mark.parametrize("n", SIZES)
def test_a_batch_repeating_a_queued_event_id_is_refused_whole(
    uow_factory: UnitOfWorkFactory, n: int
) -> None:
    with uow_factory() as uow:
        uow.outbox.add_many((e, "offers", e.offer_id) for e in _events(1, start=n - 1))
        uow.commit()
    with pytest.raises(Conflict), uow_factory() as uow:
        uow.outbox.add_many((e, "offers", e.offer_id) for e in _events(n))
        uow.commit()
    with uow_factory() as uow:
        assert [m.event_id for m in uow.outbox.unpublished(1000)] == [f"ev-{n - 1:04d}"]


def test_an_empty_batch_queues_nothing(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.outbox.add_many([])
        uow.commit()
    with uow_factory() as uow:
        assert uow.outbox.unpublished(10) == []
