"""The API's request and response bodies (the entities themselves come from `schemas`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field

from matching.coverage import CoverageRow
from schemas import Form, Offer, OfferKind, RoundRules, Session
from schemas.common import District, Frozen, Id, Period, Sector
from schemas.entities import Hours, RankedOffers
from services.persistence import AllocationStatus


class Accepted(BaseModel):
    """The write was published; the worker applies it shortly."""

    event_id: str


class RoundAccepted(Accepted):
    round_id: str
    status_url: str


class ImportAccepted(BaseModel):
    students: int
    event_ids: list[str]


# -- careers -----------------------------------------------------------------------------------


class RoundRequest(Frozen):
    scope: Literal["school", "cluster", "all"] = "school"
    school_ids: tuple[Id, ...] = Field(
        default=(), description="scope school: one (a careers token's own, if left out)"
    )
    mode: Literal["preview", "commit"] = "preview"
    matching_mode: Literal["optimal", "stable"] = "optimal"
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    rules: RoundRules | None = None


class AttendanceIn(Frozen):
    """One session of a placement: whether the student came, for how long, and whether the
    debrief was held."""

    student_id: Id
    offer_id: Id
    date: dt.date
    attended: bool
    hours: Hours = 0.0
    debriefed: bool = False


class OverdueFeedback(BaseModel):
    """An encounter attended more than a week ago without a debrief on record."""

    student_id: str
    student_name: str | None
    form: Form
    offer_id: str
    offer_title: str
    provider_name: str
    last_attended: dt.date
    days_since: int
    hours: float


class OverrideIn(Frozen):
    kind: Literal["pinned", "forbidden"] = Field(
        description="pinned: the next round must allocate the pair; forbidden: never"
    )


class OverrideOut(BaseModel):
    student_id: str
    offer_id: str
    kind: Literal["pinned", "forbidden"]


class CoverageOut(BaseModel):
    school_id: str
    form: Form
    students: int
    b8_projected: int
    b8_achieved: int
    projected_pct: float
    achieved_pct: float
    target_pct: float
    below_target: bool
    fe_visits: int
    fe_interactions: int

    @classmethod
    def from_row(cls, row: CoverageRow) -> CoverageOut:
        return cls(
            school_id=row.school_id,
            form=row.form,
            students=row.students,
            b8_projected=row.b8_projected,
            b8_achieved=row.b8_achieved,
            projected_pct=round(row.projected_pct, 2),
            achieved_pct=round(row.achieved_pct, 2),
            target_pct=row.target_pct,
            below_target=row.below_target,
            fe_visits=row.fe_visits,
            fe_interactions=row.fe_interactions,
        )


# -- employers ---------------------------------------------------------------------------------


class OfferSubmission(Offer):
    """An offer, with the deadline for students to rank it."""

    preference_deadline: AwareDatetime | None = None

    def as_offer(self) -> Offer:
        return Offer.model_validate(self.model_dump(exclude={"preference_deadline"}))


class Withdrawal(Frozen):
    reason: str = Field(default="", max_length=500)


class ProviderAllocation(BaseModel):
    """A student placed in one of the provider's offers: only what hosting needs. Contact goes
    through the school."""

    offer_id: str
    offer_title: str
    first_day: dt.date
    student_name: str
    school_id: str
    status: AllocationStatus


class InterviewDecision(Frozen):
    outcome: Literal["confirmed", "declined"] = Field(
        description="declined gives the place up: the student is re-matched"
    )
    note: str = Field(default="", max_length=500)


class HostAgain(Frozen):
    would_host_again: bool
    comment: str = Field(default="", max_length=1000)


# -- students ----------------------------------------------------------------------------------


class OfferSummary(BaseModel):
    offer_id: str
    title: str
    provider_name: str
    kind: OfferKind
    sector: Sector
    district: District
    period: Period
    sessions: tuple[Session, ...]
    capacity: int
    requires_interview: bool
    preference_deadline: dt.datetime | None
    deadline_passed: bool
    reasons: list[str] = Field(
        default=[], description="why the student may not take it; empty when eligible"
    )


class StudentOffers(BaseModel):
    student_id: str
    eligible: list[OfferSummary]
    ineligible: list[OfferSummary]


class Ranking(Frozen):
    ranked: RankedOffers = Field(default=(), description="offer ids, best first")


class Reflection(Frozen):
    offer_id: Id = Field(description="the offer of an encounter the student attended")
    text: str = Field(min_length=1, max_length=4000)


class HigherChoice(BaseModel):
    """An offer the student ranked above the one they got, and why they did not get it."""

    offer_id: str
    rank: int
    title: str
    reasons: list[str]


class Explanation(BaseModel):
    rank: int | None = Field(description="the rank the student gave the offer; None if unranked")
    first_choice: bool
    summary: str
    higher_choices: list[HigherChoice] = Field(
        default=[], description="offers of the same level group ranked higher, with the reasons"
    )


class StudentAllocation(BaseModel):
    round_id: str
    offer_id: str
    offer_title: str
    provider_name: str
    kind: OfferKind
    sessions: tuple[Session, ...]
    rank: int | None
    pending_interview: bool
    status: AllocationStatus
    reason: str
    risks: list[str]
    interview: Literal["pending", "confirmed", "declined"] | None = Field(
        default=None, description="the pre-interview, when the offer has one"
    )
    explanation: Explanation | None = None
