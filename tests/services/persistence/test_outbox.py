"""The outbox's writes in bulk: a round queues tens of thousands of events at once.

On PostgreSQL a batch of at least `COPY_FROM` rows is written with COPY, a smaller one with an
INSERT; both must keep the order queued, store the event's own JSON and refuse a repeated
event id, as every backend does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from schemas.events import OfferWithdrawn
from services.persistence import Conflict, Database, PublishFailed, UnitOfWorkFactory, relay_once
from services.persistence.sql import CommittedPayloads
from services.persistence.sql.messaging import COPY_FROM
from tests.services.conftest import Ticker

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


# -- the payloads the relay finds at hand -------------------------------------------------------


def _payload_reads(db: Database) -> Iterator[list[str]]:
    """The statements run on `db` that read the outbox's payload column."""
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "outbox" in statement and "payload" in statement.split("FROM")[0]:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


payload_reads = contextlib.contextmanager(_payload_reads)


@pytest.mark.parametrize("n", SIZES)
def test_the_relay_takes_the_payloads_committed_here_from_memory_and_forgets_them_once_published(
    database: Database, n: int
) -> None:
    memo = database.keep_outbox_payloads()
    events = _events(n)
    with database.unit_of_work() as uow:
        uow.outbox.add_many((e, "offers", e.offer_id) for e in events)
        uow.commit()
    assert len(memo) == n
    sent: list[tuple[str, str, bytes]] = []
    with payload_reads(database) as reads:
        assert relay_once(database.unit_of_work, lambda *m: sent.append(m)) == n
    assert reads == []
    assert sent == [("offers", e.offer_id, e.model_dump_json().encode()) for e in events]
    assert len(memo) == 0


def test_payloads_committed_elsewhere_are_read_from_the_database_in_the_same_order(
    database: Database, clock: Ticker
) -> None:
    """Two workers on one database: each has only its own payloads at hand."""
    events = _events(5)
    database.keep_outbox_payloads()
    other = Database(database.engine.url, clock)
    other.keep_outbox_payloads()
    try:
        with other.unit_of_work() as uow:
            uow.outbox.add_many((e, "offers", e.offer_id) for e in events[:2])
            uow.commit()
        with database.unit_of_work() as uow:
            uow.outbox.add_many((e, "offers", e.offer_id) for e in events[2:])
            uow.commit()
        with payload_reads(database) as reads, database.unit_of_work() as uow:
            stored = uow.outbox.unpublished(1000)
        assert len(reads) == 1  # one query for the two it does not have
        assert [m.payload for m in stored] == [e.model_dump_json().encode() for e in events]
    finally:
        other.dispose()


def test_payloads_of_a_transaction_rolled_back_are_not_kept(database: Database) -> None:
    memo = database.keep_outbox_payloads()
    with database.unit_of_work() as uow:
        uow.outbox.add_many((e, "offers", e.offer_id) for e in _events(COPY_FROM + 1))
        uow.rollback()
        uow.outbox.add_many((e, "offers", e.offer_id) for e in _events(1, start=100))
        uow.commit()
    with pytest.raises(Conflict), database.unit_of_work() as uow:
        uow.outbox.add_many((e, "offers", e.offer_id) for e in [*_events(2), *_events(1)])
        uow.commit()
    assert len(memo) == 1
    assert memo.get("ev-0100") is not None


def test_payloads_of_a_refused_batch_are_not_kept_when_the_transaction_goes_on(
    database_sqlite: Database,
) -> None:
    """SQLite lets a transaction go on after a refused statement (PostgreSQL aborts it)."""
    memo = database_sqlite.keep_outbox_payloads()
    with database_sqlite.unit_of_work() as uow:
        uow.outbox.add_many((e, "offers", e.offer_id) for e in _events(1))
        with pytest.raises(Conflict):
            uow.outbox.add_many(
                (e, "offers", e.offer_id) for e in [*_events(3, start=1), *_events(1)]
            )
        uow.commit()
    assert (len(memo), memo.get("ev-0000") is not None) == (1, True)


def test_a_failed_publish_leaves_the_payloads_for_the_next_pass(database: Database) -> None:
    database.keep_outbox_payloads()
    events = _events(3)
    with database.unit_of_work() as uow:
        uow.outbox.add_many((e, "offers", e.offer_id) for e in events)
        uow.commit()

    def refuse(*_: object) -> None:
        raise OSError("the broker is away")

    with pytest.raises(PublishFailed):
        relay_once(database.unit_of_work, refuse)
    sent: list[tuple[str, str, bytes]] = []
    with payload_reads(database) as reads:
        relay_once(database.unit_of_work, lambda *m: sent.append(m))
    assert reads == []
    assert [m[2] for m in sent] == [e.model_dump_json().encode() for e in events]


def test_a_database_without_a_relay_keeps_no_payloads(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.outbox.add_many((e, "offers", e.offer_id) for e in _events(3))
        uow.commit()
    assert database.committed_payloads is None
    with payload_reads(database) as reads, database.unit_of_work() as uow:
        assert len(uow.outbox.unpublished(10)) == 3
    assert len(reads) == 1  # with the rows, in one query


def test_the_memo_of_committed_payloads_starts_over_past_its_size() -> None:
    memo = CommittedPayloads(size=2)
    memo.add([("a", "1"), ("b", "2")])
    assert (memo.get("a"), len(memo)) == ("1", 2)
    memo.add([("c", "3")])
    assert (memo.get("a"), memo.get("c"), len(memo)) == (None, "3", 1)
    memo.forget(["c", "unknown"])
    assert len(memo) == 0
