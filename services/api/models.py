"""The API's request and response bodies (the entities themselves come from `schemas`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from schemas import Form, Offer, OfferKind, RoundRules, Session
from schemas.common import District, Frozen, Id, Period, Sector
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
    ranked: tuple[Id, ...] = Field(default=(), description="offer ids, best first")

    @field_validator("ranked")
    @classmethod
    def _unique(cls, ranked: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for offer_id in ranked:
            if offer_id in seen:
                raise ValueError(f"offer {offer_id} is ranked twice")
            seen.add(offer_id)
        return ranked


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
