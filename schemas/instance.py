"""A matching instance (the solver's input) and the rules of a round."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from schemas.common import Frozen, Id
from schemas.entities import Offer, PreferenceList, Student

Pct = Annotated[float, Field(ge=0, le=100)]


class RoundRules(Frozen):
    """What a careers team sets for a round.

    The objective is lexicographic (see matching/objective.py); these weights act inside its
    levels: `rank_costs[r-1]` is the cost of an allocation at rank r, `unranked_cost` that of an
    interest-matched offer given to a student who ranked nothing, and `priority_weight` how much
    a priority student's placement counts against anyone else's.
    """

    target_pct: Pct = 90.0
    school_targets: dict[Id, Pct] = Field(default_factory=dict)
    max_ranks: Annotated[int, Field(ge=1, le=30)] = 10
    rank_costs: tuple[Annotated[int, Field(ge=0, le=1000)], ...] = ()
    unranked_cost: Annotated[int, Field(ge=0, le=1000)] | None = None
    priority_weight: Annotated[int, Field(ge=1, le=10)] = 2
    fill_unranked: bool = True  # place students who ranked nothing by their interests

    @model_validator(mode="after")
    def _check_costs(self) -> Self:
        if self.rank_costs and len(self.rank_costs) < self.max_ranks:
            raise ValueError(
                f"rank_costs: {len(self.rank_costs)} costs for max_ranks={self.max_ranks}; "
                "give one cost per rank"
            )
        if list(self.rank_costs) != sorted(self.rank_costs):
            raise ValueError("rank_costs: must not decrease (a worse rank cannot cost less)")
        return self

    def target_for(self, school_id: str) -> float:
        return self.school_targets.get(school_id, self.target_pct)

    def rank_cost(self, rank: int | None) -> int:
        """Cost of an allocation at 1-based `rank`; None means unranked (interest match)."""
        if rank is None:
            return self.unranked_cost if self.unranked_cost is not None else self.max_ranks + 1
        return self.rank_costs[rank - 1] if self.rank_costs else rank


class StudentOffer(Frozen):
    student_id: Id
    offer_id: Id


class Instance(Frozen):
    round_id: Id = "round"
    students: tuple[Student, ...]
    offers: tuple[Offer, ...]
    preferences: tuple[PreferenceList, ...] = ()
    pinned: tuple[StudentOffer, ...] = ()  # a careers team's decision: must be allocated
    forbidden: tuple[StudentOffer, ...] = ()  # must not be allocated
    rules: RoundRules = RoundRules()

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        students = {s.student_id for s in self.students}
        offers = {o.offer_id for o in self.offers}
        _unique("students", [s.student_id for s in self.students])
        _unique("offers", [o.offer_id for o in self.offers])
        _unique("preferences", [p.student_id for p in self.preferences])
        for i, p in enumerate(self.preferences):
            if p.student_id not in students:
                raise ValueError(f"preferences[{i}].student_id: unknown student {p.student_id}")
            for j, offer_id in enumerate(p.ranked):
                if offer_id not in offers:
                    raise ValueError(
                        f"preferences[{i}].ranked[{j}]: student {p.student_id} ranks unknown "
                        f"offer {offer_id}"
                    )
            if len(p.ranked) > self.rules.max_ranks:
                raise ValueError(
                    f"preferences[{i}].ranked: student {p.student_id} ranks {len(p.ranked)} "
                    f"offers; this round allows {self.rules.max_ranks}"
                )
        for name in ("pinned", "forbidden"):
            for i, pair in enumerate(getattr(self, name)):
                if pair.student_id not in students:
                    raise ValueError(f"{name}[{i}].student_id: unknown student {pair.student_id}")
                if pair.offer_id not in offers:
                    raise ValueError(f"{name}[{i}].offer_id: unknown offer {pair.offer_id}")
        both = {(p.student_id, p.offer_id) for p in self.pinned} & {
            (p.student_id, p.offer_id) for p in self.forbidden
        }
        if both:
            s, o = sorted(both)[0]
            raise ValueError(f"pinned: student {s} is both pinned to and forbidden from offer {o}")
        return self


def _unique(field: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, record_id in enumerate(ids):
        if record_id in seen:
            raise ValueError(f"{field}[{i}]: duplicate id {record_id}")
        seen.add(record_id)


Mode = Literal["optimal", "stable"]


class SolveOptions(Frozen):
    mode: Mode = "optimal"
    seed: int = 0
    # Up to this many students, a round whose flow relaxation is not tight is re-solved exactly
    # with CP-SAT; above it the result reports its gap to the relaxation bound.
    exact_fallback_students: Annotated[int, Field(ge=0)] = 3000
    # Work budgets, not wall-clock limits, so the result never depends on machine speed:
    # node expansions of the certificate's shortest-path searches (matching/lagrange.py;
    # each of its nodes' assignment bounds may expand 12 times as many more, and 0 turns
    # the certificate off), and CP-SAT's deterministic time for the exact fallback.
    certificate_effort: Annotated[int, Field(ge=0)] = 3_000_000
    exact_deterministic_time: Annotated[float, Field(gt=0)] = 60.0
    # Whether to explain each unmatched student and each one not given a first choice. A
    # caller that keeps only the allocations and metrics (the service's rounds: teachers ask
    # for a student's explanation when they need it) saves that work; unmatched students are
    # then listed with no reasons.
    explain: bool = True
