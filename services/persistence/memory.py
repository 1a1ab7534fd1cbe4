"""In-memory fakes of every repository and of the unit of work, for handler unit tests.

They subclass the real interfaces and pass the same contract tests as the SQL adapters
(tests/services/persistence/test_repositories.py): upserts, ordering, Conflict on a dangling
reference or a duplicate key, and transactions. A unit of work works on a copy of the store and
swaps it in on commit, so rollback really forgets.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable
from typing import Self

from schemas import (
    Allocation,
    Metrics,
    Offer,
    PreferenceList,
    RiskCode,
    Student,
    StudentOffer,
)
from services.persistence import repository as repo
from services.persistence.errors import Conflict, NotFound
from services.persistence.records import (
    AllocationStatus,
    AttendanceRecord,
    Clock,
    HostAgainRecord,
    InterviewRecord,
    OfferRecord,
    OutboxMessage,
    ReflectionRecord,
    RiskFlagRecord,
    RiskStatus,
    RoundRecord,
    RoundStatus,
    StoredAllocation,
    utcnow,
)
from services.persistence.unit_of_work import AbstractUnitOfWork

Pair = tuple[str, str]
RiskKey = tuple[str | None, str, RiskCode]


@dataclasses.dataclass
class MemoryStore:
    """Committed state: share one store between units of work as you would one database."""

    students: dict[str, Student] = dataclasses.field(default_factory=dict)
    offers: dict[str, OfferRecord] = dataclasses.field(default_factory=dict)
    preferences: dict[str, PreferenceList] = dataclasses.field(default_factory=dict)
    overrides: dict[Pair, str] = dataclasses.field(default_factory=dict)
    rounds: dict[str, RoundRecord] = dataclasses.field(default_factory=dict)
    allocations: dict[tuple[str, str, str], StoredAllocation] = dataclasses.field(
        default_factory=dict
    )
    attendance: dict[tuple[str, str, dt.date], AttendanceRecord] = dataclasses.field(
        default_factory=dict
    )
    interviews: dict[Pair, InterviewRecord] = dataclasses.field(default_factory=dict)
    reflections: dict[Pair, ReflectionRecord] = dataclasses.field(default_factory=dict)
    host_again: dict[str, HostAgainRecord] = dataclasses.field(default_factory=dict)
    risks: dict[RiskKey, RiskFlagRecord] = dataclasses.field(default_factory=dict)
    processed: dict[str, str] = dataclasses.field(default_factory=dict)
    outbox: dict[int, OutboxMessage] = dataclasses.field(default_factory=dict)

    def copy(self) -> MemoryStore:
        return copy.copy(self).replace_with(self)

    def replace_with(self, other: MemoryStore) -> Self:
        """Take copies of `other`'s tables (the records in them are immutable)."""
        for field in dataclasses.fields(self):
            setattr(self, field.name, dict(getattr(other, field.name)))
        return self

    def school_of(self, student_id: str) -> str | None:
        student = self.students.get(student_id)
        return None if student is None else student.school_id

    def require(self, student_id: str | None = None, offer_id: str | None = None) -> None:
        """Conflict on a dangling reference, as a foreign key would."""
        if student_id is not None and student_id not in self.students:
            raise Conflict(f"unknown student {student_id}")
        if offer_id is not None and offer_id not in self.offers:
            raise Conflict(f"unknown offer {offer_id}")


class MemoryRepository:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def state(self) -> MemoryStore:
        return self._uow.state

    def now(self) -> dt.datetime:
        return self._uow.clock()

    def in_scope(self, student_id: str, school_ids: repo.SchoolIds) -> bool:
        return school_ids is None or self.state.school_of(student_id) in school_ids


class MemoryStudentRepository(MemoryRepository, repo.StudentRepository):
    def add(self, student: Student) -> None:
        self.state.students[student.student_id] = student

    def get(self, student_id: str) -> Student | None:
        return self.state.students.get(student_id)

    def find(self, school_ids: repo.SchoolIds = None) -> list[Student]:
        return [
            s
            for _, s in sorted(self.state.students.items())
            if school_ids is None or s.school_id in school_ids
        ]


class MemoryOfferRepository(MemoryRepository, repo.OfferRepository):
    def add(self, offer: Offer, preference_deadline: dt.datetime | None = None) -> None:
        old = self.state.offers.get(offer.offer_id)
        self.state.offers[offer.offer_id] = OfferRecord(
            offer=offer,
            preference_deadline=preference_deadline,
            withdrawn_at=None if old is None else old.withdrawn_at,
            withdrawal_reason="" if old is None else old.withdrawal_reason,
        )

    def get(self, offer_id: str) -> Offer | None:
        record = self.state.offers.get(offer_id)
        return None if record is None else record.offer

    def get_record(self, offer_id: str) -> OfferRecord | None:
        return self.state.offers.get(offer_id)

    def withdraw(self, offer_id: str, reason: str = "") -> None:
        record = self.state.offers.get(offer_id)
        if record is None:
            raise NotFound(f"offer {offer_id} is unknown")
        if not record.withdrawn:
            self.state.offers[offer_id] = record.model_copy(
                update={"withdrawn_at": self.now(), "withdrawal_reason": reason}
            )

    def find(self, include_withdrawn: bool = False) -> list[Offer]:
        return [r.offer for r in self.records(include_withdrawn)]

    def records(self, include_withdrawn: bool = True) -> list[OfferRecord]:
        return [
            r for _, r in sorted(self.state.offers.items()) if include_withdrawn or not r.withdrawn
        ]


class MemoryPreferenceRepository(MemoryRepository, repo.PreferenceRepository):
    def add(self, preferences: PreferenceList) -> None:
        self.state.require(student_id=preferences.student_id)
        for offer_id in preferences.ranked:
            self.state.require(offer_id=offer_id)
        self.state.preferences[preferences.student_id] = preferences

    def get(self, student_id: str) -> PreferenceList | None:
        return self.state.preferences.get(student_id)

    def find(self, school_ids: repo.SchoolIds = None) -> list[PreferenceList]:
        return [
            p
            for student_id, p in sorted(self.state.preferences.items())
            if self.in_scope(student_id, school_ids)
        ]

    def students_ranking(self, offer_id: str) -> list[str]:
        return sorted(s for s, p in self.state.preferences.items() if offer_id in p.ranked)


class MemoryOverrideRepository(MemoryRepository, repo.OverrideRepository):
    def pin(self, pair: StudentOffer) -> None:
        self._set(pair, "pinned")

    def forbid(self, pair: StudentOffer) -> None:
        self._set(pair, "forbidden")

    def remove(self, pair: StudentOffer) -> bool:
        return self.state.overrides.pop((pair.student_id, pair.offer_id), None) is not None

    def pinned(self, school_ids: repo.SchoolIds = None) -> list[StudentOffer]:
        return self._pairs("pinned", school_ids)

    def forbidden(self, school_ids: repo.SchoolIds = None) -> list[StudentOffer]:
        return self._pairs("forbidden", school_ids)

    def _set(self, pair: StudentOffer, kind: str) -> None:
        self.state.require(pair.student_id, pair.offer_id)
        self.state.overrides[(pair.student_id, pair.offer_id)] = kind

    def _pairs(self, kind: str, school_ids: repo.SchoolIds) -> list[StudentOffer]:
        return [
            StudentOffer(student_id=s, offer_id=o)
            for (s, o), k in sorted(self.state.overrides.items())
            if k == kind and self.in_scope(s, school_ids)
        ]


class MemoryRoundRepository(MemoryRepository, repo.RoundRepository):
    def add(self, round_: RoundRecord) -> None:
        if round_.round_id in self.state.rounds:
            raise Conflict(f"round {round_.round_id} exists")
        self.state.rounds[round_.round_id] = round_

    def get(self, round_id: str) -> RoundRecord | None:
        return self.state.rounds.get(round_id)

    def set_status(
        self,
        round_id: str,
        status: RoundStatus,
        *,
        progress: float | None = None,
        message: str | None = None,
        metrics: Metrics | None = None,
    ) -> RoundRecord:
        record = self.state.rounds.get(round_id)
        if record is None:
            raise NotFound(f"round {round_id} is unknown")
        changed = record.moved_to(
            status, self.now(), progress=progress, message=message, metrics=metrics
        )
        self.state.rounds[round_id] = changed
        return changed

    def find(self, status: RoundStatus | None = None) -> list[RoundRecord]:
        records = [r for r in self.state.rounds.values() if status is None or r.status is status]
        return sorted(records, key=lambda r: (r.requested_at, r.round_id))


class MemoryAllocationRepository(MemoryRepository, repo.AllocationRepository):
    def add(
        self,
        round_id: str,
        allocations: Iterable[Allocation],
        status: AllocationStatus = AllocationStatus.ACTIVE,
    ) -> int:
        if round_id not in self.state.rounds:
            raise Conflict(f"unknown round {round_id}")
        now, added = self.now(), {}
        for a in allocations:
            key = (round_id, a.student_id, a.offer_id)
            self.state.require(a.student_id, a.offer_id)
            if key in self.state.allocations or key in added:
                raise Conflict(f"allocation {key} exists")
            added[key] = StoredAllocation(
                round_id=round_id, allocation=a, status=status, created_at=now
            )
        self.state.allocations.update(added)
        return len(added)

    def find(
        self,
        *,
        round_id: str | None = None,
        student_id: str | None = None,
        offer_id: str | None = None,
        statuses: Collection[AllocationStatus] | None = None,
        school_ids: repo.SchoolIds = None,
        student_ids: Collection[str] | None = None,
        offer_ids: Collection[str] | None = None,
    ) -> list[StoredAllocation]:
        wanted = (round_id, student_id, offer_id)
        return [
            a
            for key, a in sorted(self.state.allocations.items())
            if all(w is None or w == k for w, k in zip(wanted, key, strict=True))
            and (statuses is None or a.status in statuses)
            and (school_ids is None or self.state.school_of(key[1]) in school_ids)
            and (student_ids is None or key[1] in student_ids)
            and (offer_ids is None or key[2] in offer_ids)
        ]

    def set_status(
        self,
        round_id: str,
        student_id: str,
        offer_id: str,
        status: AllocationStatus,
        reason: str = "",
    ) -> StoredAllocation:
        key = (round_id, student_id, offer_id)
        if key not in self.state.allocations:
            raise NotFound(f"no allocation of {student_id} to {offer_id} in round {round_id}")
        changed = self.state.allocations[key].model_copy(
            update={"status": status, "reason": reason}
        )
        self.state.allocations[key] = changed
        return changed


class MemoryAttendanceRepository(MemoryRepository, repo.AttendanceRepository):
    def record(self, attendance: AttendanceRecord) -> AttendanceRecord:
        self.state.require(attendance.student_id, attendance.offer_id)
        key = (attendance.student_id, attendance.offer_id, attendance.date)
        stored = attendance.stored_over(self.state.attendance.get(key))
        self.state.attendance[key] = stored
        return stored

    def find(
        self,
        *,
        school_ids: repo.SchoolIds = None,
        student_id: str | None = None,
        offer_id: str | None = None,
        attended: bool | None = None,
    ) -> list[AttendanceRecord]:
        return [
            r
            for (s, o, _), r in sorted(self.state.attendance.items())
            if self.in_scope(s, school_ids)
            and student_id in (None, s)
            and offer_id in (None, o)
            and attended in (None, r.attended)
        ]


class MemoryFeedbackRepository(MemoryRepository, repo.FeedbackRepository):
    def decide_interview(self, decision: InterviewRecord) -> None:
        self.state.require(decision.student_id, decision.offer_id)
        self.state.interviews[(decision.student_id, decision.offer_id)] = decision

    def interviews(
        self, *, offer_id: str | None = None, student_id: str | None = None
    ) -> list[InterviewRecord]:
        found = [
            r
            for (s, o), r in self.state.interviews.items()
            if offer_id in (None, o) and student_id in (None, s)
        ]
        return sorted(found, key=lambda r: (r.offer_id, r.student_id))

    def reflect(self, reflection: ReflectionRecord) -> None:
        self.state.require(reflection.student_id, reflection.offer_id)
        self.state.reflections[(reflection.student_id, reflection.offer_id)] = reflection

    def reflections(
        self, *, student_id: str | None = None, offer_id: str | None = None
    ) -> list[ReflectionRecord]:
        return [
            r
            for (s, o), r in sorted(self.state.reflections.items())
            if student_id in (None, s) and offer_id in (None, o)
        ]

    def answer_host_again(self, answer: HostAgainRecord) -> None:
        self.state.require(offer_id=answer.offer_id)
        self.state.host_again[answer.offer_id] = answer

    def host_again(self, offer_id: str) -> HostAgainRecord | None:
        return self.state.host_again.get(offer_id)


class MemoryRiskFlagRepository(MemoryRepository, repo.RiskFlagRepository):
    def flag(self, student_id: str | None, offer_id: str, code: RiskCode, detail: str) -> bool:
        self.state.require(student_id, offer_id)
        key, old = (student_id, offer_id, code), self.get(student_id, offer_id, code)
        if old is not None and old.status is RiskStatus.FLAGGED:
            self.state.risks[key] = old.model_copy(update={"detail": detail})
            return False
        self.state.risks[key] = RiskFlagRecord(
            student_id=student_id,
            offer_id=offer_id,
            code=code,
            detail=detail,
            flagged_at=self.now(),
        )
        return True

    def clear(self, student_id: str | None, offer_id: str, code: RiskCode) -> bool:
        old = self.get(student_id, offer_id, code)
        if old is None or old.status is RiskStatus.CLEARED:
            return False
        self.state.risks[(student_id, offer_id, code)] = old.model_copy(
            update={"status": RiskStatus.CLEARED, "cleared_at": self.now()}
        )
        return True

    def get(self, student_id: str | None, offer_id: str, code: RiskCode) -> RiskFlagRecord | None:
        return self.state.risks.get((student_id, offer_id, code))

    def find(
        self,
        *,
        offer_id: str | None = None,
        student_id: str | None = None,
        status: RiskStatus | None = None,
    ) -> list[RiskFlagRecord]:
        records = [
            r
            for r in self.state.risks.values()
            if offer_id in (None, r.offer_id)
            and student_id in (None, r.student_id)
            and status in (None, r.status)
        ]
        return sorted(records, key=lambda r: (r.offer_id, r.student_id or "", r.code))


class MemoryProcessedEventRepository(MemoryRepository, repo.ProcessedEventRepository):
    def seen(self, event_id: str) -> bool:
        return event_id in self.state.processed

    def mark(self, event_id: str, topic: str) -> bool:
        if event_id in self.state.processed:
            return False
        self.state.processed[event_id] = topic
        return True


class MemoryOutbox(MemoryRepository, repo.Outbox):
    def add_serialised(self, entries: Iterable[tuple[str, str, str, str]]) -> None:
        for event_id, topic, key, payload in entries:
            if self.get(event_id) is not None:
                raise Conflict(f"event {event_id} is in the outbox already")
            next_id = (next(reversed(self.state.outbox)) if self.state.outbox else 0) + 1
            self.state.outbox[next_id] = OutboxMessage(
                id=next_id,
                event_id=event_id,
                topic=topic,
                key=key,
                payload=payload.encode(),
                created_at=self.now(),
            )

    def unpublished(self, limit: int, after: int | None = None) -> list[OutboxMessage]:
        pending = [
            m
            for i, m in sorted(self.state.outbox.items())
            if m.published_at is None and (after is None or i > after)
        ]
        return pending[:limit]

    def mark_published(self, ids: Collection[int]) -> None:
        now = self.now()
        for i in ids:
            message = self.state.outbox[i]
            if message.published_at is None:
                self.state.outbox[i] = message.model_copy(update={"published_at": now})

    def get(self, event_id: str) -> OutboxMessage | None:
        return next((m for m in self.state.outbox.values() if m.event_id == event_id), None)


class MemoryUnitOfWork(AbstractUnitOfWork):
    def __init__(self, store: MemoryStore | None = None, clock: Clock = utcnow) -> None:
        self.store = MemoryStore() if store is None else store
        self.clock = clock
        self.state = self.store.copy()
        self.committed = False  # handler tests assert on it
        self.students = MemoryStudentRepository(self)
        self.offers = MemoryOfferRepository(self)
        self.preferences = MemoryPreferenceRepository(self)
        self.overrides = MemoryOverrideRepository(self)
        self.rounds = MemoryRoundRepository(self)
        self.allocations = MemoryAllocationRepository(self)
        self.attendance = MemoryAttendanceRepository(self)
        self.feedback = MemoryFeedbackRepository(self)
        self.risks = MemoryRiskFlagRepository(self)
        self.processed = MemoryProcessedEventRepository(self)
        self.outbox = MemoryOutbox(self)

    def __enter__(self) -> Self:
        self.state = self.store.copy()  # begin: see what is committed now
        return super().__enter__()

    def commit(self) -> None:
        self.store.replace_with(self.state)
        self.committed = True

    def rollback(self) -> None:
        self.state = self.store.copy()
