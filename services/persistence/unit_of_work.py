"""The unit of work: one transaction, the repositories that write in it, and the outbox.

    with db.unit_of_work() as uow:
        if not uow.mark_processed(event.event_id, "offers"):
            return  # applied before: a redelivery has no second effect
        uow.offers.add(event.offer, event.preference_deadline)
        uow.outbox.add(follow_up, "risks", key=event.offer.offer_id)
        uow.commit()

Leaving the block without `commit()` (an exception, or an early return) rolls everything back,
the processed-event mark and the outbox rows included. Claiming the event id first makes
check-and-mark one atomic step: a second delivery, even a concurrent one on another worker, finds
the id taken and does nothing (see ProcessedEventRepository.mark).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session

from services.persistence import repository as repo
from services.persistence import sql
from services.persistence.records import Clock, utcnow


class AbstractUnitOfWork(abc.ABC):
    students: repo.StudentRepository
    offers: repo.OfferRepository
    preferences: repo.PreferenceRepository
    overrides: repo.OverrideRepository
    rounds: repo.RoundRepository
    allocations: repo.AllocationRepository
    attendance: repo.AttendanceRepository
    feedback: repo.FeedbackRepository
    risks: repo.RiskFlagRepository
    processed: repo.ProcessedEventRepository
    outbox: repo.Outbox

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()  # a no-op after commit()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    def seen(self, event_id: str) -> bool:
        return self.processed.seen(event_id)

    def mark_processed(self, event_id: str, topic: str) -> bool:
        """Claim the event for this transaction: False means it was applied already."""
        return self.processed.mark(event_id, topic)

    def mark_processed_many(self, event_ids: Sequence[str], topic: str) -> set[str]:
        """Claim a batch of events at once; returns the ids to apply (the others were)."""
        return self.processed.mark_many(event_ids, topic)


UnitOfWorkFactory = Callable[[], AbstractUnitOfWork]


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    def __init__(
        self,
        session_factory: Callable[[], Session],
        clock: Clock = utcnow,
        committed: sql.CommittedPayloads | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._committed = committed  # the outbox payloads the relay takes, see SqlOutbox

    def __enter__(self) -> Self:
        self.session = session = self._session_factory()
        clock = self._clock
        self.students = sql.SqlStudentRepository(session, clock)
        self.offers = sql.SqlOfferRepository(session, clock)
        self.preferences = sql.SqlPreferenceRepository(session, clock)
        self.overrides = sql.SqlOverrideRepository(session, clock)
        self.rounds = sql.SqlRoundRepository(session, clock)
        self.allocations = sql.SqlAllocationRepository(session, clock)
        self.attendance = sql.SqlAttendanceRepository(session, clock)
        self.feedback = sql.SqlFeedbackRepository(session, clock)
        self.risks = sql.SqlRiskFlagRepository(session, clock)
        self.processed = sql.SqlProcessedEventRepository(session, clock)
        self.outbox = self._outbox = sql.SqlOutbox(session, clock, self._committed)
        return super().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()
        self._outbox.on_commit()

    def rollback(self) -> None:
        self.session.rollback()
        self._outbox.on_rollback()
