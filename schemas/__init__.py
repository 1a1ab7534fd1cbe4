"""pydantic v2 models: entities, the event envelope and topic unions, solver input and output."""

from schemas.common import District, Form, LevelGroup, OfferKind, Period, Sector
from schemas.entities import (
    AttendedEncounter,
    Insurance,
    Offer,
    PreferenceList,
    Prerequisites,
    Session,
    Student,
)
from schemas.instance import Instance, RoundRules, SolveOptions, StudentOffer
from schemas.result import (
    Allocation,
    Explanation,
    Metrics,
    Reason,
    ReasonCode,
    Result,
    RiskCode,
    SchoolCoverage,
    describe_optimality,
)

__all__ = [
    "Allocation",
    "AttendedEncounter",
    "District",
    "Explanation",
    "Form",
    "Instance",
    "Insurance",
    "LevelGroup",
    "Metrics",
    "Offer",
    "OfferKind",
    "Period",
    "PreferenceList",
    "Prerequisites",
    "Reason",
    "ReasonCode",
    "Result",
    "RiskCode",
    "RoundRules",
    "SchoolCoverage",
    "Sector",
    "Session",
    "SolveOptions",
    "Student",
    "StudentOffer",
    "describe_optimality",
]
