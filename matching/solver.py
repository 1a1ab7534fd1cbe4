"""`solve`: instance in, validated result out. No I/O."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from matching.collector import collection_paused
from matching.explain import explain_all
from matching.objective import value_of
from matching.optimal import Outcome, solve_optimal
from matching.problem import L1, L23, UNRANKED, IntArray, Problem, Progress, _noop, build_problem
from matching.risk import offer_findings
from matching.stable import solve_stable
from matching.validate import validate_result
from schemas import (
    Allocation,
    Explanation,
    Instance,
    LevelGroup,
    Metrics,
    OfferKind,
    Result,
    RiskCode,
    SchoolCoverage,
    SolveOptions,
    describe_optimality,
)


def solve(
    instance: Instance, options: SolveOptions | None = None, progress: Progress | None = None
) -> Result:
    with collection_paused():  # see matching/collector.py
        return _solve(instance, options or SolveOptions(), progress or _noop)


def _solve(instance: Instance, options: SolveOptions, report: Progress) -> Result:
    started = time.perf_counter()
    problem = build_problem(instance, options.seed, report)
    if options.mode == "stable":
        report("deferred acceptance", 0.0)
        selected = solve_stable(problem, options.seed)
        value = value_of(problem, selected)
        outcome = Outcome(selected, value, value, False, "deferred acceptance (lottery)")
    else:
        outcome = solve_optimal(problem, options, report)
    report("explanations" if options.explain else "results", 0.95)
    placed = _allocations(problem, outcome.selected)
    elapsed = time.perf_counter() - started
    result = _result(problem, options, placed, outcome, elapsed)
    validate_result(instance, result)
    report("done", 1.0)
    return result


@dataclass(frozen=True)
class _Placed:
    """The allocations, with each one's student, offer and rank as problem indices."""

    allocations: list[Allocation]
    student: IntArray
    offer: IntArray
    rank: IntArray  # UNRANKED for an offer the student did not rank


def _allocations(problem: Problem, selected: np.ndarray) -> _Placed:
    pinned = problem.pinned
    arcs = np.flatnonzero(selected)
    student = np.concatenate(
        [np.array([s for s, _ in pinned], dtype=np.int64), problem.arc_student[arcs]]
    )
    offer = np.concatenate(
        [np.array([o for _, o in pinned], dtype=np.int64), problem.arc_offer[arcs]]
    )
    # An arc's rank is its student's rank of the offer (UNRANKED: they ranked nothing).
    pin_ranks = [problem.ranked.get(s, {}).get(o, UNRANKED) for s, o in pinned]
    rank = np.concatenate([np.array(pin_ranks, dtype=np.int64), problem.arc_rank[arcs]])
    is_pin = np.arange(len(student)) < len(pinned)
    order = np.lexsort((is_pin, offer, student))
    student, offer, is_pin, rank = student[order], offer[order], is_pin[order], rank[order]
    # Allocations pass eligibility (consent, prerequisites, insurance), so only offer-level
    # risks remain: an L3 without a teacher's pre-visit is made, but held until a teacher visits.
    # What an allocation takes from its offer is worked out once per offer: 350,000
    # allocations at 150,000 students share 47,000 offers.
    facts: dict[int, tuple[str, OfferKind, LevelGroup, bool, tuple[RiskCode, ...]]] = {}
    offers = problem.offers
    student_ids = [st.student_id for st in problem.students]

    def rows() -> Iterator[dict[str, Any]]:
        columns = (student.tolist(), offer.tolist(), is_pin.tolist(), rank.tolist())
        for s, o, pin, r in zip(*columns, strict=True):
            known = facts.get(o)
            if known is None:
                of = offers[o]
                risks = tuple(f.code for f in offer_findings(of))
                known = facts[o] = (
                    of.offer_id,
                    of.kind,
                    of.kind.group,
                    of.requires_interview,
                    risks,
                )
            yield {
                "student_id": student_ids[s],
                "offer_id": known[0],
                "kind": known[1],
                "group": known[2],
                "rank": r if r != UNRANKED else None,
                "pinned": pin,
                "pending_interview": known[3],
                "risks": known[4],
            }

    out = Allocation.trusted_many(rows())  # built from validated records: skip re-validating
    return _Placed(out, student, offer, rank)


def _result(
    problem: Problem,
    options: SolveOptions,
    placed: _Placed,
    outcome: Outcome,
    elapsed: float,
) -> Result:
    unmatched: list[Explanation] = []
    explanations: list[Explanation] = []
    held = np.zeros(problem.n_students, dtype=np.bool_)
    held[placed.student] = True
    found = (
        explain_all(problem, placed.student, placed.offer, placed.rank, options.mode)
        if options.explain
        else [None] * len(problem.students)
    )
    for student, e, placed_somewhere in zip(problem.students, found, held.tolist(), strict=True):
        if not placed_somewhere:
            summary = "not placed" if options.explain else "not placed (not explained)"
            unmatched.append(
                e or Explanation(student_id=student.student_id, summary=summary, reasons=())
            )
        elif e is not None:
            explanations.append(e)
    return Result(
        round_id=problem.instance.round_id,
        mode=options.mode,
        seed=options.seed,
        allocations=tuple(placed.allocations),
        unmatched=tuple(unmatched),
        explanations=tuple(explanations),
        metrics=_metrics(problem, placed, outcome, elapsed),
    )


def _metrics(problem: Problem, placed: _Placed, outcome: Outcome, elapsed: float) -> Metrics:
    """The result's summary, counted with numpy over the allocations' indices."""
    rules = problem.instance.rules
    group = problem.offer_group[placed.offer]
    l1 = problem.has_l1.copy()
    l23 = problem.has_l23.copy()
    l1[placed.student[group == L1]] = True
    l23[placed.student[group == L23]] = True
    done = l1 & l23
    names, school = np.unique([st.school_id for st in problem.students], return_inverse=True)
    size = np.bincount(school, minlength=len(names))
    completed = np.bincount(school, weights=done, minlength=len(names)).astype(np.int64)
    below = np.zeros(len(names), dtype=np.bool_)
    below[school[problem.below_target]] = True  # a school's students all share the flag
    schools = tuple(
        SchoolCoverage(
            school_id=name,
            students=n,
            completed=c,
            coverage_pct=round(100.0 * c / n, 2),
            target_pct=rules.target_for(name),
            below_target_before=b,
        )
        for name, n, c, b in zip(
            names.tolist(), size.tolist(), completed.tolist(), below.tolist(), strict=True
        )
    )
    values, counts = np.unique(placed.rank, return_counts=True)
    ranks = {
        str(v) if v != UNRANKED else "unranked": c
        for v, c in zip(values.tolist(), counts.tolist(), strict=True)
    }
    ranked_ranks = placed.rank[placed.rank != UNRANKED]
    with_prefs = np.zeros(problem.n_students, dtype=np.bool_)
    for p in problem.instance.preferences:
        if p.ranked:
            with_prefs[problem.student_index[p.student_id]] = True
    first = np.zeros(problem.n_students, dtype=np.bool_)
    first[placed.student[placed.rank == 1]] = True
    n = problem.n_students
    n_prefs = int(with_prefs.sum())
    return Metrics(
        students=n,
        offers=len(problem.offers),
        placements=len(placed.allocations),
        matched_students=len(np.unique(placed.student)),
        b8_completed=int(done.sum()),
        b8_coverage_pct=round(100.0 * int(done.sum()) / n, 2) if n else 0.0,
        lowest_school_coverage_pct=min((c.coverage_pct for c in schools), default=0.0),
        schools=schools,
        rank_distribution=dict(sorted(ranks.items(), key=lambda kv: _rank_key(kv[0]))),
        first_choice_share=round(int((first & with_prefs).sum()) / n_prefs, 4) if n_prefs else 0.0,
        mean_rank=round(int(ranked_ranks.sum()) / len(ranked_ranks), 4)
        if len(ranked_ranks)
        else None,
        risk_flags=sum(len(a.risks) for a in placed.allocations),
        objective=outcome.value,
        bound=outcome.bound,
        proven_optimal=outcome.proven,
        method=outcome.method,
        solve_seconds=round(elapsed, 3),
        optimality=describe_optimality(
            outcome.value, outcome.bound, outcome.proven, outcome.method
        ),
    )


def _rank_key(label: str) -> tuple[int, int]:
    return (1, 0) if label == "unranked" else (0, int(label))
