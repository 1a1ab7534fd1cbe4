"""Events: a versioned envelope and one discriminated union per topic.

Every event is a frozen fact in the past tense, carries its own `event_id` (consumers are
idempotent on it) and is validated once, at the edge, with the topic's TypeAdapter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from schemas.common import Form, Frozen, Id, LevelGroup, OfferKind
from schemas.entities import Offer, PreferenceList, Student
from schemas.result import Allocation, RiskCode

SCHEMA_VERSION: Literal[1] = 1


def _new_id() -> str:
    return str(uuid.uuid4())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Envelope(Frozen):
    event_id: str = Field(default_factory=_new_id, min_length=1, max_length=64)
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: dt.datetime = Field(default_factory=_now)
    source: str = Field(default="placement", min_length=1, max_length=128)


class StudentRegistered(Envelope):
    type: Literal["student_registered"] = "student_registered"
    student: Student


class OfferSubmitted(Envelope):
    """Also used for an edit: a later submission of the same offer_id replaces it."""

    type: Literal["offer_submitted"] = "offer_submitted"
    offer: Offer
    preference_deadline: dt.datetime | None = None


class OfferWithdrawn(Envelope):
    type: Literal["offer_withdrawn"] = "offer_withdrawn"
    offer_id: Id
    reason: str = ""


class PreferencesRanked(Envelope):
    type: Literal["preferences_ranked"] = "preferences_ranked"
    preferences: PreferenceList


class AttendanceRecorded(Envelope):
    type: Literal["attendance_recorded"] = "attendance_recorded"
    student_id: Id
    offer_id: Id
    date: dt.date
    attended: bool
    hours: Annotated[float, Field(ge=0, le=8)] = 0.0
    debriefed: bool = False


RoundScope = Literal["school", "cluster", "all"]


class RoundRequested(Envelope):
    type: Literal["round_requested"] = "round_requested"
    round_id: Id
    scope: RoundScope = "all"
    school_ids: tuple[Id, ...] = ()  # for scope "school" (one) or "cluster" (several)
    mode: Literal["preview", "commit"] = "preview"
    matching_mode: Literal["optimal", "stable"] = "optimal"
    seed: int = 0


class AllocationMade(Envelope):
    type: Literal["allocation_made"] = "allocation_made"
    round_id: Id
    allocation: Allocation


class AllocationRevoked(Envelope):
    type: Literal["allocation_revoked"] = "allocation_revoked"
    round_id: Id
    student_id: Id
    offer_id: Id
    reason: str


class RiskFlagged(Envelope):
    type: Literal["risk_flagged"] = "risk_flagged"
    student_id: Id | None = None
    offer_id: Id
    code: RiskCode
    detail: str


class RiskCleared(Envelope):
    type: Literal["risk_cleared"] = "risk_cleared"
    student_id: Id | None = None
    offer_id: Id
    code: RiskCode


class CoverageUpdated(Envelope):
    type: Literal["coverage_updated"] = "coverage_updated"
    school_id: Id
    form: Form
    students: int
    b8_projected: int  # allocated L1 and L2/L3 (or attended)
    b8_achieved: int  # attended and debriefed
    target_pct: float
    fe_visits: int
    fe_interactions: int
    below_target: bool
    group: LevelGroup | None = None
    kinds: tuple[OfferKind, ...] = ()


StudentEvent = StudentRegistered
OfferEvent = Annotated[OfferSubmitted | OfferWithdrawn, Field(discriminator="type")]
PreferenceEvent = PreferencesRanked
AttendanceEvent = AttendanceRecorded
RoundEvent = RoundRequested
AllocationEvent = Annotated[AllocationMade | AllocationRevoked, Field(discriminator="type")]
RiskEvent = Annotated[RiskFlagged | RiskCleared, Field(discriminator="type")]
CoverageEvent = CoverageUpdated
AnyEvent = Annotated[
    StudentRegistered
    | OfferSubmitted
    | OfferWithdrawn
    | PreferencesRanked
    | AttendanceRecorded
    | RoundRequested
    | AllocationMade
    | AllocationRevoked
    | RiskFlagged
    | RiskCleared
    | CoverageUpdated,
    Field(discriminator="type"),
]

# One adapter per topic: decode and validate bytes at the edge with `TOPIC_ADAPTERS[t]`.
TOPIC_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "students": TypeAdapter(StudentEvent),
    "offers": TypeAdapter(OfferEvent),
    "preferences": TypeAdapter(PreferenceEvent),
    "attendance": TypeAdapter(AttendanceEvent),
    "rounds": TypeAdapter(RoundEvent),
    "allocations": TypeAdapter(AllocationEvent),
    "risks": TypeAdapter(RiskEvent),
    "coverage": TypeAdapter(CoverageEvent),
}
ANY_EVENT: TypeAdapter[Any] = TypeAdapter(AnyEvent)
