"""`solve`: instance in, validated result out. No I/O."""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import numpy as np

from matching.clashes import selected_pairs
from matching.collector import collection_paused
from matching.explain import explain_all
from matching.objective import value_of
from matching.optimal import Outcome, solve_optimal
from matching.problem import L1, L23, Problem, Progress, _noop, build_problem
from matching.risk import offer_findings
from matching.stable import solve_stable
from matching.validate import validate_result
from schemas import (
    Allocation,
    Explanation,
    Instance,
    Metrics,
    Result,
    RiskCode,
    SchoolCoverage,
    SolveOptions,
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
    allocations = _allocations(problem, outcome.selected)
    elapsed = time.perf_counter() - started
    result = _result(problem, options, allocations, outcome, elapsed)
    validate_result(instance, result)
    report("done", 1.0)
    return result


def _allocations(problem: Problem, selected: np.ndarray) -> list[Allocation]:
    pairs = [(s, o, True) for s, o in problem.pinned] + [
        (s, o, False) for s, o in selected_pairs(problem, selected)
    ]
    out = []
    # Allocations pass eligibility (consent, prerequisites, insurance), so only offer-level
    # risks remain: an L3 without a teacher's pre-visit is made, but held until a teacher visits.
    risks_of: dict[int, tuple[RiskCode, ...]] = {}
    for s, o, pinned in sorted(pairs):
        offer = problem.offers[o]
        risks = risks_of.get(o)
        if risks is None:
            risks = risks_of[o] = tuple(f.code for f in offer_findings(offer))
        out.append(
            Allocation.trusted(  # built from validated records: skip re-validating
                student_id=problem.students[s].student_id,
                offer_id=offer.offer_id,
                kind=offer.kind,
                group=offer.kind.group,
                rank=problem.ranked.get(s, {}).get(o),
                pinned=pinned,
                pending_interview=offer.requires_interview,
                risks=risks,
            )
        )
    return out


def _result(
    problem: Problem,
    options: SolveOptions,
    allocations: list[Allocation],
    outcome: Outcome,
    elapsed: float,
) -> Result:
    unmatched: list[Explanation] = []
    explanations: list[Explanation] = []
    placed = {a.student_id for a in allocations}
    found = (
        explain_all(problem, allocations, options.mode)
        if options.explain
        else [None] * len(problem.students)
    )
    for student, e in zip(problem.students, found, strict=True):
        if student.student_id not in placed:
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
        allocations=tuple(allocations),
        unmatched=tuple(unmatched),
        explanations=tuple(explanations),
        metrics=_metrics(problem, allocations, outcome, elapsed),
    )


def _metrics(
    problem: Problem, allocations: list[Allocation], outcome: Outcome, elapsed: float
) -> Metrics:
    rules = problem.instance.rules
    l1 = problem.has_l1.copy()
    l23 = problem.has_l23.copy()
    for a in allocations:
        s = problem.student_index[a.student_id]
        g = int(problem.offer_group[problem.offer_index[a.offer_id]])
        l1[s] |= g == L1
        l23[s] |= g == L23
    done = l1 & l23
    per_school: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for s, student in enumerate(problem.students):
        row = per_school[student.school_id]
        row[0] += 1
        row[1] += int(done[s])
        row[2] = int(problem.below_target[s])
    schools = tuple(
        SchoolCoverage(
            school_id=school,
            students=n,
            completed=c,
            coverage_pct=round(100.0 * c / n, 2),
            target_pct=rules.target_for(school),
            below_target_before=bool(below),
        )
        for school, (n, c, below) in sorted(per_school.items())
    )
    ranks = Counter(str(a.rank) if a.rank is not None else "unranked" for a in allocations)
    ranked_ranks = [a.rank for a in allocations if a.rank is not None]
    with_prefs = set(
        problem.instance.preferences
        and [p.student_id for p in problem.instance.preferences if p.ranked]
    )
    first = {a.student_id for a in allocations if a.rank == 1}
    n = problem.n_students
    return Metrics(
        students=n,
        offers=len(problem.offers),
        placements=len(allocations),
        matched_students=len({a.student_id for a in allocations}),
        b8_completed=int(done.sum()),
        b8_coverage_pct=round(100.0 * int(done.sum()) / n, 2) if n else 0.0,
        lowest_school_coverage_pct=min((c.coverage_pct for c in schools), default=0.0),
        schools=schools,
        rank_distribution=dict(sorted(ranks.items(), key=lambda kv: _rank_key(kv[0]))),
        first_choice_share=round(len(first & with_prefs) / len(with_prefs), 4)
        if with_prefs
        else 0.0,
        mean_rank=round(sum(ranked_ranks) / len(ranked_ranks), 4) if ranked_ranks else None,
        risk_flags=sum(len(a.risks) for a in allocations),
        objective=outcome.value,
        bound=outcome.bound,
        proven_optimal=outcome.proven,
        method=outcome.method,
        solve_seconds=round(elapsed, 3),
    )


def _rank_key(label: str) -> tuple[int, int]:
    return (1, 0) if label == "unranked" else (0, int(label))
