"""What the system of record keeps beyond the schema entities: lifecycle and bookkeeping.

Students, offers, preference lists and allocations go in and come out as the `schemas` models.
The records here wrap them with what only the service knows (status, timestamps, deadlines) or
describe rows that have no entity in `schemas` (rounds, attendance, risk flags, outbox messages).
All are frozen; a change is a new record written through a repository.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from schemas import Allocation, Metrics, Offer, RiskCode, RoundRules
from schemas.common import Frozen, Id
from schemas.entities import Hours
from schemas.events import (
    AttendanceRecorded,
    HostAgainAnswered,
    InterviewDecided,
    ReflectionSubmitted,
    RoundRequested,
    RoundScope,
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


Clock = Callable[[], dt.datetime]  # injected into units of work: tests fix the time


class RoundStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (RoundStatus.DONE, RoundStatus.FAILED)


class AllocationStatus(StrEnum):
    ACTIVE = "active"
    HELD = "held"  # a risk is flagged: the placement waits until it is cleared
    REVOKED = "revoked"


class RiskStatus(StrEnum):
    FLAGGED = "flagged"
    CLEARED = "cleared"


class OfferRecord(Frozen):
    """An offer as last submitted, with its preference deadline and withdrawal, if any."""

    offer: Offer
    preference_deadline: dt.datetime | None = None
    withdrawn_at: dt.datetime | None = None
    withdrawal_reason: str = ""

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class RoundRecord(Frozen):
    round_id: Id
    scope: RoundScope = "all"
    school_ids: tuple[Id, ...] = ()
    student_ids: tuple[Id, ...] = ()  # scope "students": a re-match of just these
    mode: Literal["preview", "commit"] = "preview"
    matching_mode: Literal["optimal", "stable"] = "optimal"
    seed: int = 0
    rules: RoundRules = RoundRules()
    status: RoundStatus = RoundStatus.QUEUED
    progress: Annotated[float, Field(ge=0, le=1)] = 0.0  # fraction of the round's work done
    message: str = ""
    requested_at: dt.datetime = Field(default_factory=utcnow)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    metrics: Metrics | None = None

    def moved_to(
        self,
        status: RoundStatus,
        at: dt.datetime,
        *,
        progress: float | None = None,
        message: str | None = None,
        metrics: Metrics | None = None,
    ) -> RoundRecord:
        """The round in `status` at `at`: running stamps started_at (once), done and failed
        stamp finished_at, done means progress 1."""
        update: dict[str, object] = {"status": status}
        if progress is not None:
            update["progress"] = progress
        if message is not None:
            update["message"] = message
        if metrics is not None:
            update["metrics"] = metrics
        if status is RoundStatus.RUNNING and self.started_at is None:
            update["started_at"] = at
        if status.finished:
            update["finished_at"] = at
        if status is RoundStatus.DONE:
            update["progress"] = 1.0
        return RoundRecord.model_validate({**dict(self), **update})  # validates progress

    @classmethod
    def requested(cls, event: RoundRequested, rules: RoundRules | None = None) -> RoundRecord:
        return cls(
            round_id=event.round_id,
            scope=event.scope,
            school_ids=event.school_ids,
            student_ids=event.student_ids,
            mode=event.mode,
            matching_mode=event.matching_mode,
            seed=event.seed,
            rules=rules or event.rules or RoundRules(),
            message=event.reason,
            requested_at=event.occurred_at,
        )


class StoredAllocation(Frozen):
    round_id: Id
    allocation: Allocation
    status: AllocationStatus = AllocationStatus.ACTIVE
    reason: str = ""  # why it was held or revoked
    created_at: dt.datetime = Field(default_factory=utcnow)


class AttendanceRecord(Frozen):
    """One session of an offer for one student: whether they came, and whether they debriefed."""

    student_id: Id
    offer_id: Id
    date: dt.date
    attended: bool
    hours: Hours = 0.0
    debriefed: bool = False
    recorded_at: dt.datetime = Field(default_factory=utcnow)
    # When a debrief was first recorded (Benchmark 9 asks for feedback within a week). The
    # repository keeps the earliest; leave it None when writing.
    debriefed_at: dt.datetime | None = None

    def stored_over(self, previous: AttendanceRecord | None) -> AttendanceRecord:
        """This record as it replaces `previous` (same student, offer and date): a debrief, once
        recorded, stays recorded with its first time."""
        first = previous.debriefed_at if previous is not None else None
        debriefed_at = first or (self.recorded_at if self.debriefed else None)
        return self.model_copy(
            update={"debriefed": debriefed_at is not None, "debriefed_at": debriefed_at}
        )

    @classmethod
    def from_event(cls, event: AttendanceRecorded) -> AttendanceRecord:
        return cls(
            student_id=event.student_id,
            offer_id=event.offer_id,
            date=event.date,
            attended=event.attended,
            hours=event.hours,
            debriefed=event.debriefed,
            recorded_at=event.occurred_at,
        )


class InterviewRecord(Frozen):
    """The employer's decision after a student's pre-interview for its offer (the last one)."""

    student_id: Id
    offer_id: Id
    outcome: Literal["confirmed", "declined"]
    note: str = ""
    decided_at: dt.datetime

    @classmethod
    def from_event(cls, event: InterviewDecided) -> InterviewRecord:
        return cls(
            student_id=event.student_id,
            offer_id=event.offer_id,
            outcome=event.outcome,
            note=event.note,
            decided_at=event.occurred_at,
        )


class ReflectionRecord(Frozen):
    """A student's reflection on an encounter they attended (the last one submitted)."""

    student_id: Id
    offer_id: Id
    text: str
    submitted_at: dt.datetime

    @classmethod
    def from_event(cls, event: ReflectionSubmitted) -> ReflectionRecord:
        return cls(
            student_id=event.student_id,
            offer_id=event.offer_id,
            text=event.text,
            submitted_at=event.occurred_at,
        )


class HostAgainRecord(Frozen):
    """Whether the provider would host its offer again (the last answer)."""

    offer_id: Id
    would_host_again: bool
    comment: str = ""
    answered_at: dt.datetime

    @classmethod
    def from_event(cls, event: HostAgainAnswered) -> HostAgainRecord:
        return cls(
            offer_id=event.offer_id,
            would_host_again=event.would_host_again,
            comment=event.comment,
            answered_at=event.occurred_at,
        )


class RiskFlagRecord(Frozen):
    """A risk on an offer (student_id None) or on one student's placement in it."""

    student_id: Id | None
    offer_id: Id
    code: RiskCode
    detail: str = ""
    status: RiskStatus = RiskStatus.FLAGGED
    flagged_at: dt.datetime
    cleared_at: dt.datetime | None = None


class OutboxMessage(Frozen):
    """An event waiting to be published (or already published) from the outbox."""

    id: int
    event_id: str
    topic: str  # the logical topic name ("allocations"); the transport adds any prefix
    key: str
    payload: bytes  # the event as UTF-8 JSON
    created_at: dt.datetime
    published_at: dt.datetime | None = None
