"""The solver's output: allocations, unmatched students with reasons, explanations, metrics."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from schemas.common import Frozen, Id, LevelGroup, OfferKind


class RiskCode(StrEnum):
    L3_NO_PREVISIT = "l3_no_previsit"
    INSURANCE_MISSING = "insurance_missing"
    INSURANCE_EXPIRES = "insurance_expires_before_session"
    NO_CONSENT = "no_parental_consent"
    PREREQUISITE_CHANGED = "prerequisite_no_longer_met"
    OFFER_WITHDRAWN = "offer_withdrawn"


class ReasonCode(StrEnum):
    INELIGIBLE = "ineligible"
    FORBIDDEN = "forbidden"
    FULL = "full"
    CLASH = "clash"
    GROUP_TAKEN = "group_taken"
    OBJECTIVE = "objective"
    NO_PREFERENCES = "no_preferences"
    NO_CANDIDATES = "no_candidates"
    LOTTERY = "lottery"


class Reason(Frozen):
    code: ReasonCode
    message: str
    offer_id: Id | None = None


class Allocation(Frozen):
    student_id: Id
    offer_id: Id
    kind: OfferKind
    group: LevelGroup
    rank: int | None = None  # None: not ranked (pinned, or placed by interests)
    pinned: bool = False
    pending_interview: bool = False
    risks: tuple[RiskCode, ...] = ()


class Explanation(Frozen):
    student_id: Id
    summary: str
    reasons: tuple[Reason, ...] = ()


class SchoolCoverage(Frozen):
    school_id: Id
    students: int
    completed: int  # Benchmark 8 pair: one L1 and one L2-or-L3, counting attended encounters
    coverage_pct: float
    target_pct: float
    below_target_before: bool


class Metrics(Frozen):
    students: int
    offers: int
    placements: int
    matched_students: int
    b8_completed: int
    b8_coverage_pct: float
    lowest_school_coverage_pct: float
    schools: tuple[SchoolCoverage, ...]
    rank_distribution: dict[str, int]  # "1".."k" and "unranked"
    first_choice_share: float  # of students who ranked something and got a ranked allocation
    mean_rank: float | None
    risk_flags: int
    objective: tuple[int, ...]  # the lexicographic vector, maximised level by level
    bound: tuple[int, ...]  # the relaxation's vector: no feasible allocation beats it
    proven_optimal: bool
    method: str
    solve_seconds: float


class Result(Frozen):
    round_id: Id
    mode: str
    seed: int
    allocations: tuple[Allocation, ...]
    unmatched: tuple[Explanation, ...]
    explanations: tuple[Explanation, ...] = Field(
        default=(), description="every student not given their first choice, with reasons"
    )
    metrics: Metrics
