"""The repositories' interfaces: one per aggregate, speaking `schemas` models and records.

The SQLAlchemy implementations live in `services.persistence.sql`, the in-memory fakes in
`services.persistence.memory`; both subclass these, and the same contract tests run against all
three backends. Reads return records sorted by their natural key, so a snapshot built from them
is deterministic. Writes take effect when the unit of work commits.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Collection, Iterable, Sequence

from schemas import Allocation, Metrics, Offer, PreferenceList, RiskCode, Student, StudentOffer
from schemas.events import Envelope
from services.persistence.records import (
    AllocationStatus,
    AttendanceRecord,
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
)

# Scopes are schools, not student ids: a round over every school must not become an IN list of
# 100,000 parameters (SQLite allows 32,766).
SchoolIds = Collection[str] | None  # None: every school


class StudentRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, student: Student) -> None:
        """Insert the student, or replace the stored record (a re-registration)."""

    def add_many(self, students: Iterable[Student]) -> None:
        """`add` each; the SQL adapter writes them in one statement."""
        for student in students:
            self.add(student)

    @abc.abstractmethod
    def get(self, student_id: str) -> Student | None: ...

    def get_many(self, student_ids: Collection[str]) -> dict[str, Student]:
        """The known students among `student_ids`, by id; the SQL adapter reads them at once."""
        found = {i: self.get(i) for i in student_ids}
        return {i: s for i, s in found.items() if s is not None}

    @abc.abstractmethod
    def find(self, school_ids: SchoolIds = None) -> list[Student]:
        """Students of these schools (all when None), by student_id."""


class OfferRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, offer: Offer, preference_deadline: dt.datetime | None = None) -> None:
        """Insert the offer or replace it (an edit); a withdrawal stays in force."""

    def add_many(self, offers: Iterable[tuple[Offer, dt.datetime | None]]) -> None:
        """`add` each (offer, preference deadline), a later one for the same offer winning;
        the SQL adapter writes them in one statement."""
        for offer, preference_deadline in offers:
            self.add(offer, preference_deadline)

    @abc.abstractmethod
    def get(self, offer_id: str) -> Offer | None: ...

    @abc.abstractmethod
    def get_record(self, offer_id: str) -> OfferRecord | None: ...

    def get_records(self, offer_ids: Collection[str]) -> dict[str, OfferRecord]:
        """The known offers among `offer_ids`, by id; the SQL adapter reads them at once."""
        found = {i: self.get_record(i) for i in offer_ids}
        return {i: r for i, r in found.items() if r is not None}

    @abc.abstractmethod
    def withdraw(self, offer_id: str, reason: str = "") -> None:
        """Mark the offer withdrawn now. NotFound if unknown; the first withdrawal is kept."""

    @abc.abstractmethod
    def find(self, include_withdrawn: bool = False) -> list[Offer]:
        """Offers by offer_id."""

    @abc.abstractmethod
    def records(self, include_withdrawn: bool = True) -> list[OfferRecord]:
        """Offer records by offer_id."""


class PreferenceRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, preferences: PreferenceList) -> None:
        """Insert or replace the student's list. Conflict if a ranked offer is unknown."""

    def add_many(self, lists: Iterable[PreferenceList]) -> None:
        """`add` each (a later list for the same student wins); the SQL adapter writes them in
        three statements."""
        for preferences in lists:
            self.add(preferences)

    @abc.abstractmethod
    def get(self, student_id: str) -> PreferenceList | None: ...

    @abc.abstractmethod
    def find(self, school_ids: SchoolIds = None) -> list[PreferenceList]:
        """Lists of the students of these schools (all when None), by student_id."""

    @abc.abstractmethod
    def students_ranking(self, offer_id: str) -> list[str]:
        """Students who ranked the offer, by student_id: those a withdrawal affects."""


class OverrideRepository(abc.ABC):
    """A careers team's pins (must be allocated) and forbidden pairs; a pair is one or the other."""

    @abc.abstractmethod
    def pin(self, pair: StudentOffer) -> None:
        """Pin the pair (replacing a forbid of the same pair)."""

    @abc.abstractmethod
    def forbid(self, pair: StudentOffer) -> None:
        """Forbid the pair (replacing a pin of the same pair)."""

    @abc.abstractmethod
    def remove(self, pair: StudentOffer) -> bool:
        """Drop the pin or forbid; False if there was none."""

    @abc.abstractmethod
    def pinned(self, school_ids: SchoolIds = None) -> list[StudentOffer]:
        """Pins of the students of these schools (all when None), by student, offer."""

    @abc.abstractmethod
    def forbidden(self, school_ids: SchoolIds = None) -> list[StudentOffer]:
        """Forbidden pairs of the students of these schools (all when None), by student, offer."""


class RoundRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, round_: RoundRecord) -> None:
        """Insert a new round. Conflict if the round id exists."""

    @abc.abstractmethod
    def get(self, round_id: str) -> RoundRecord | None: ...

    @abc.abstractmethod
    def set_status(
        self,
        round_id: str,
        status: RoundStatus,
        *,
        progress: float | None = None,
        message: str | None = None,
        metrics: Metrics | None = None,
    ) -> RoundRecord:
        """Move the round on and return it. Running stamps started_at (once); done and failed
        stamp finished_at, and done sets progress to 1. NotFound if unknown."""

    @abc.abstractmethod
    def find(self, status: RoundStatus | None = None) -> list[RoundRecord]:
        """Rounds by requested_at, then round_id."""


class AllocationRepository(abc.ABC):
    @abc.abstractmethod
    def add(
        self,
        round_id: str,
        allocations: Iterable[Allocation],
        status: AllocationStatus = AllocationStatus.ACTIVE,
    ) -> int:
        """Store a round's allocations; returns how many. Conflict on a repeated
        (round, student, offer) or an unknown round, student or offer."""

    @abc.abstractmethod
    def find(
        self,
        *,
        round_id: str | None = None,
        student_id: str | None = None,
        offer_id: str | None = None,
        statuses: Collection[AllocationStatus] | None = None,
        school_ids: SchoolIds = None,
        student_ids: Collection[str] | None = None,
        offer_ids: Collection[str] | None = None,
    ) -> list[StoredAllocation]:
        """Allocations matching every given filter (`school_ids`: of students of these schools),
        by round, student, offer."""

    @abc.abstractmethod
    def set_status(
        self,
        round_id: str,
        student_id: str,
        offer_id: str,
        status: AllocationStatus,
        reason: str = "",
    ) -> StoredAllocation:
        """Hold, revoke or reactivate one allocation. NotFound if there is none."""

    def set_status_many(
        self, keys: Collection[tuple[str, str, str]], status: AllocationStatus, reason: str = ""
    ) -> None:
        """`set_status` of each (round, student, offer); the SQL adapter updates them in one
        statement. NotFound if one is missing."""
        for round_id, student_id, offer_id in keys:
            self.set_status(round_id, student_id, offer_id, status, reason)


class AttendanceRepository(abc.ABC):
    @abc.abstractmethod
    def record(self, attendance: AttendanceRecord) -> AttendanceRecord:
        """Insert or replace the (student, offer, date) record and return it as stored.

        `debriefed_at` is the recorded_at of the first record with debriefed=True, kept from then
        on; a later record cannot un-debrief a session."""

    @abc.abstractmethod
    def find(
        self,
        *,
        school_ids: SchoolIds = None,
        student_id: str | None = None,
        offer_id: str | None = None,
        attended: bool | None = None,
    ) -> list[AttendanceRecord]:
        """Records matching every given filter, by student, offer, date."""


class FeedbackRepository(abc.ABC):
    """What follows a placement besides attendance: the employer's pre-interview decisions, the
    students' reflections and whether providers would host again. Each is one row per key, the
    last write winning."""

    @abc.abstractmethod
    def decide_interview(self, decision: InterviewRecord) -> None:
        """Insert or replace the (student, offer) decision. Conflict if either is unknown."""

    @abc.abstractmethod
    def interviews(
        self, *, offer_id: str | None = None, student_id: str | None = None
    ) -> list[InterviewRecord]:
        """Decisions matching every given filter, by offer, student."""

    @abc.abstractmethod
    def reflect(self, reflection: ReflectionRecord) -> None:
        """Insert or replace the (student, offer) reflection. Conflict if either is unknown."""

    @abc.abstractmethod
    def reflections(
        self, *, student_id: str | None = None, offer_id: str | None = None
    ) -> list[ReflectionRecord]:
        """Reflections matching every given filter, by student, offer."""

    @abc.abstractmethod
    def answer_host_again(self, answer: HostAgainRecord) -> None:
        """Insert or replace the offer's answer. Conflict if the offer is unknown."""

    @abc.abstractmethod
    def host_again(self, offer_id: str) -> HostAgainRecord | None: ...


class RiskFlagRepository(abc.ABC):
    """Risk flags keyed by (student or None, offer, code): one row, flagged or cleared."""

    @abc.abstractmethod
    def flag(self, student_id: str | None, offer_id: str, code: RiskCode, detail: str) -> bool:
        """Flag the risk; True if that is a change (it was absent or cleared)."""

    @abc.abstractmethod
    def clear(self, student_id: str | None, offer_id: str, code: RiskCode) -> bool:
        """Clear the risk; True if it was flagged."""

    @abc.abstractmethod
    def get(
        self, student_id: str | None, offer_id: str, code: RiskCode
    ) -> RiskFlagRecord | None: ...

    @abc.abstractmethod
    def find(
        self,
        *,
        offer_id: str | None = None,
        student_id: str | None = None,
        status: RiskStatus | None = None,
    ) -> list[RiskFlagRecord]:
        """Flags matching every given filter (student_id None matches any), by offer, student,
        code; offer-level flags first."""


class ProcessedEventRepository(abc.ABC):
    @abc.abstractmethod
    def seen(self, event_id: str) -> bool:
        """Whether a committed (or this transaction's) application of the event exists."""

    @abc.abstractmethod
    def mark(self, event_id: str, topic: str) -> bool:
        """Record the event as applied in this transaction. True if this transaction claimed it,
        False if it was already applied: then the handler must do nothing. Never raises for a
        duplicate; on PostgreSQL a concurrent claim of the same id waits for the other
        transaction and returns False if it commits."""

    def mark_many(self, event_ids: Sequence[str], topic: str) -> set[str]:
        """`mark` each (a batch consumer's form); returns the ids this transaction claimed. The
        SQL adapter claims them all in one statement."""
        return {event_id for event_id in event_ids if self.mark(event_id, topic)}


class Outbox(abc.ABC):
    def add(self, event: Envelope, topic: str, key: str) -> None:
        """Queue the event for publication when (and only if) the transaction commits.
        `topic` is the logical name ("allocations"). Conflict if the event_id is queued already."""
        self.add_serialised([(event.event_id, topic, key, event.model_dump_json())])

    def add_many(self, entries: Iterable[tuple[Envelope, str, str]]) -> None:
        """`add` each (event, topic, key) in order; the SQL adapter inserts them at once."""
        self.add_serialised(
            (e.event_id, topic, key, e.model_dump_json()) for e, topic, key in entries
        )

    @abc.abstractmethod
    def add_serialised(self, entries: Iterable[tuple[str, str, str, str]]) -> None:
        """`add` each (event_id, topic, key, payload) in order: events already in their wire
        form (the compact `model_dump_json()`)."""

    @abc.abstractmethod
    def unpublished(self, limit: int, after: int | None = None) -> list[OutboxMessage]:
        """Up to `limit` unpublished messages in id order (with an id above `after`, when
        given: a relay reads a long backlog in parts). On PostgreSQL the rows stay locked
        until the transaction ends, so two relays never publish the same row at once."""

    @abc.abstractmethod
    def mark_published(self, ids: Collection[int]) -> None: ...

    @abc.abstractmethod
    def get(self, event_id: str) -> OutboxMessage | None: ...
