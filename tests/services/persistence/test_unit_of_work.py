"""The unit of work: all or nothing, and an event applied at most once."""

from __future__ import annotations

import threading
import time
import typing
from collections.abc import Callable

import pytest
from sqlalchemy import text

from schemas.events import StudentRegistered
from services.persistence import (
    AbstractUnitOfWork,
    Database,
    MemoryUnitOfWork,
    SqlAlchemyUnitOfWork,
    UnitOfWorkFactory,
)
from tests import factories as f


class Boom(Exception):
    pass


def _register(uow: AbstractUnitOfWork, event: StudentRegistered) -> bool:
    """A handler as the service writes them: claim the event, apply it, emit, commit."""
    if not uow.mark_processed(event.event_id, "students"):
        return False
    uow.students.add(event.student)
    uow.outbox.add(StudentRegistered(student=event.student, source="echo"), "echo", "key")
    uow.commit()
    return True


def _counts(uow_factory: UnitOfWorkFactory) -> tuple[int, int]:
    with uow_factory() as uow:
        return len(uow.students.find()), len(uow.outbox.unpublished(100))


def test_the_fake_unit_of_work_implements_every_abstract_repository() -> None:
    fake = MemoryUnitOfWork()
    repositories = typing.get_type_hints(AbstractUnitOfWork)
    assert len(repositories) == 11
    for name, interface in repositories.items():
        assert isinstance(getattr(fake, name), interface), name
    assert issubclass(SqlAlchemyUnitOfWork, AbstractUnitOfWork)


def test_nothing_is_persisted_when_the_block_raises(uow_factory: UnitOfWorkFactory) -> None:
    event = StudentRegistered(student=f.student("s1"))
    with pytest.raises(Boom), uow_factory() as uow:
        assert uow.mark_processed(event.event_id, "students")
        uow.students.add(event.student)
        uow.outbox.add(event, "students", "s1")
        raise Boom
    assert _counts(uow_factory) == (0, 0)
    with uow_factory() as uow:
        assert not uow.seen(event.event_id)  # a redelivery will be applied


def test_leaving_without_commit_persists_nothing(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.students.add(f.student("s1"))
        uow.outbox.add(StudentRegistered(student=f.student("s1")), "students", "s1")
    assert _counts(uow_factory) == (0, 0)


def test_work_committed_before_an_exception_stays_committed(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with pytest.raises(Boom), uow_factory() as uow:
        uow.students.add(f.student("s1"))
        uow.commit()
        uow.students.add(f.student("s2"))
        raise Boom
    with uow_factory() as uow:
        assert [s.student_id for s in uow.students.find()] == ["s1"]


def test_a_duplicate_event_id_is_detected_and_has_no_second_effect(
    uow_factory: UnitOfWorkFactory,
) -> None:
    event = StudentRegistered(student=f.student("s1"))
    with uow_factory() as uow:
        applied_first = _register(uow, event)
    with uow_factory() as uow:
        redelivered = event.model_copy(update={"student": f.student("s1", priority=True)})
        applied_again = _register(uow, redelivered)
    assert (applied_first, applied_again) == (True, False)
    assert _counts(uow_factory) == (1, 1)
    with uow_factory() as uow:
        assert uow.seen(event.event_id)
        assert uow.students.get("s1") == f.student("s1")  # the redelivery changed nothing


def test_marking_the_same_event_twice_in_one_transaction_claims_it_once(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        assert not uow.seen("e1")
        assert uow.mark_processed("e1", "students")
        assert uow.seen("e1")
        assert not uow.mark_processed("e1", "students")
        uow.commit()
    with uow_factory() as uow:
        assert not uow.mark_processed("e1", "students")


def _wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll `condition` (it asks the database what another thread is doing)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not become true")
        time.sleep(0.01)


def _blocked_on_a_lock(db: Database) -> Callable[[], bool]:
    def check() -> bool:
        if db.engine.dialect.name != "postgresql":
            return True  # SQLite: the second writer waits in BEGIN IMMEDIATE; nothing to observe
        with db.engine.connect() as connection:
            waiting = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        return bool(waiting)

    return check


@pytest.mark.parametrize(
    ("first_outcome", "second_applies"), [("commit", False), ("rollback", True)]
)
def test_a_concurrent_duplicate_waits_for_the_first_delivery_and_applies_only_if_it_failed(
    database: Database, first_outcome: str, second_applies: bool
) -> None:
    event = StudentRegistered(student=f.student("s1"))
    outcome: list[bool] = []
    with database.unit_of_work() as first:
        assert first.mark_processed(event.event_id, "students")
        first.students.add(event.student)

        def second_delivery() -> None:
            with database.unit_of_work() as second:
                outcome.append(_register(second, event))

        thread = threading.Thread(target=second_delivery)
        thread.start()
        _wait_until(_blocked_on_a_lock(database))
        if first_outcome == "commit":
            first.commit()
    thread.join(timeout=30)
    assert outcome == [second_applies]
    with database.unit_of_work() as uow:
        assert uow.seen(event.event_id)
        assert uow.students.get("s1") == event.student
        assert len(uow.outbox.unpublished(10)) == int(second_applies)


def test_a_snapshot_does_not_see_writes_committed_after_it_began(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.students.add(f.student("s1"))
        uow.commit()
    with database.unit_of_work(snapshot=True) as snapshot:
        assert len(snapshot.students.find()) == 1
        with database.unit_of_work() as writer:
            writer.students.add(f.student("s2"))
            writer.offers.add(f.offer("o1"))
            writer.commit()
        assert len(snapshot.students.find()) == 1
        assert snapshot.offers.find() == []
    assert _counts(database.unit_of_work)[0] == 2


def test_a_batch_of_events_is_claimed_at_once_and_only_new_ids_are_returned(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        assert uow.mark_processed("e2", "students")
        uow.commit()
    with uow_factory() as uow:
        claimed = uow.mark_processed_many(["e1", "e2", "e3", "e1"], "students")
        assert claimed == {"e1", "e3"}
        assert uow.mark_processed_many([], "students") == set()
        uow.commit()
    with uow_factory() as uow:
        assert uow.mark_processed_many(["e1", "e3", "e4"], "students") == {"e4"}
        many = [f"m{i}" for i in range(2500)]  # more than one statement's worth
        assert uow.mark_processed_many(many, "students") == set(many)
