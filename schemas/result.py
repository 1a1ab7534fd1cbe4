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


# The objective's levels, in the order they are maximised (matching/objective.py): placements
# count a priority student's by their weight, and the last is minus the summed rank cost.
OBJECTIVE_LEVELS = (
    "Benchmark 8 pairs",
    "pairs at below-target schools",
    "weighted placements",
    "ranks",
)
RANK_LEVEL = 3


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
    optimality: str = Field(
        default="",
        description="the objective read against its bound, level by level, in words "
        "(`describe_optimality`); empty on rounds solved before it was kept",
    )

    def optimality_text(self) -> str:
        """`optimality`, or worked out from the metrics for a round that has none kept."""
        return self.optimality or describe_optimality(
            self.objective, self.bound, self.proven_optimal, self.method
        )


def describe_optimality(
    objective: tuple[int, ...], bound: tuple[int, ...], proven_optimal: bool, method: str
) -> str:
    """How near the best possible an allocation is, level by level, in words.

    The bound is lexicographic: the levels it shares with the objective are proven the best
    possible, and at the first level where they part no allocation as good above it reaches
    further than the bound. Levels below that one are not known.
    """
    if proven_optimal:
        return "proven optimal"
    levels = min(len(objective), len(bound), len(OBJECTIVE_LEVELS))
    first = next((i for i in range(levels) if bound[i] != objective[i]), None)
    if first is None:
        return f"no bound: {method}"  # stable mode reports its own value as bound
    parts = []
    if first:
        parts.append(f"{_listed(OBJECTIVE_LEVELS[:first])} proven the best possible")
    gap = bound[first] - objective[first]
    if first == RANK_LEVEL:
        parts.append(f"rank cost {-objective[first]:,}, at most {gap:,} above the least possible")
    else:
        value = objective[first]
        share = f" ({100 * gap / value:.2g}%)" if value > 0 else ""
        name = OBJECTIVE_LEVELS[first]
        parts.append(f"{name} {value:,}, at most {gap:,}{share} below the best possible")
    if first + 1 < levels:
        parts.append(f"{_listed(OBJECTIVE_LEVELS[first + 1 : levels])} not proven yet")
    return "; ".join(parts)


def _listed(names: tuple[str, ...]) -> str:
    """The names as a sentence lists them: the last two joined by "and", the rest by commas."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


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
