"""Optimal mode: the flow relaxation, clash repair, a certificate, and an exact fallback.

1. Solve the flow relaxation (every hard constraint but clashes between two allocations).
   Its objective is an upper bound for the real problem.
2. While some student holds two allocations that overlap in time, forbid that student the
   arcs in the less scarce group that clash with the allocation kept, and re-solve only the
   networks touched. Each pass forbids at least one arc, so this ends.
3. If the repaired objective equals the bound, it is optimal: proven.
4. Otherwise, on rounds up to `exact_fallback_students`, CP-SAT solves the full model
   lexicographically from the repaired allocation as a hint; else the gap is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matching.exact import solve_exact
from matching.flow import NETWORKS, solve_relaxation
from matching.objective import Objective, objective
from matching.problem import FE_INTERACTION, FE_VISIT, L1, L23, BoolArray, Problem, Progress
from schemas import SolveOptions

# When two allocations clash, keep the one in the scarcer group: L2/L3 places are rare and
# decide the Benchmark 8 pair, L1 visits and further-education events are plentiful.
KEEP_ORDER = (L23, L1, FE_VISIT, FE_INTERACTION)
_KEEP_RANK = {g: i for i, g in enumerate(KEEP_ORDER)}


@dataclass(frozen=True)
class Outcome:
    selected: BoolArray
    value: Objective
    bound: Objective
    proven: bool
    method: str


def selected_pairs(problem: Problem, selected: BoolArray) -> list[tuple[int, int]]:
    arcs = np.flatnonzero(selected)
    return list(
        zip(problem.arc_student[arcs].tolist(), problem.arc_offer[arcs].tolist(), strict=True)
    )


def find_clashes(problem: Problem, selected: BoolArray) -> list[tuple[int, int]]:
    """(kept arc, dropped arc) for every clashing pair of one student's allocations."""
    arcs = np.flatnonzero(selected)
    students = problem.arc_student[arcs]
    order = np.argsort(students, kind="stable")
    arcs, students = arcs[order], students[order]
    starts = np.flatnonzero(np.r_[True, students[1:] != students[:-1]])
    ends = np.r_[starts[1:], len(arcs)]
    multi = np.flatnonzero(ends - starts > 1)
    offer = problem.arc_offer
    group = problem.arc_group
    out = []
    for i in multi.tolist():
        own = arcs[starts[i] : ends[i]].tolist()
        own.sort(key=lambda a: _KEEP_RANK[int(group[a])])
        for j, keep in enumerate(own):
            for drop in own[j + 1 :]:
                if problem.clash(int(offer[keep]), int(offer[drop])):
                    out.append((keep, drop))
    return out


def _network_of(group: int) -> int:
    return next(k for k, groups in enumerate(NETWORKS) if group in groups)


def solve_optimal(problem: Problem, options: SolveOptions, progress: Progress) -> Outcome:
    forbid = np.zeros(problem.n_arcs, dtype=np.bool_)
    progress("flow relaxation", 0.0)
    relaxed = solve_relaxation(problem, forbid, options.seed)
    bound = objective(problem, selected_pairs(problem, relaxed.selected))
    selected = relaxed.selected.copy()
    passes = 0
    while clashes := find_clashes(problem, selected):
        passes += 1
        progress(f"clash repair pass {passes} ({len(clashes)} clashes)", min(0.9, 0.2 * passes))
        touched = set()
        for keep, drop in clashes:
            s = int(problem.arc_student[keep])
            kept_offer = int(problem.arc_offer[keep])
            kept_group = int(problem.arc_group[keep])
            for a in problem.arcs_of(s):
                if int(problem.arc_group[a]) != kept_group and problem.clash(
                    kept_offer, int(problem.arc_offer[a])
                ):
                    forbid[a] = True
                    touched.add(_network_of(int(problem.arc_group[a])))
            assert forbid[drop]
        networks = tuple(sorted(touched))
        resolved = solve_relaxation(problem, forbid, options.seed, networks)
        for k in networks:
            mask = np.isin(problem.arc_group, NETWORKS[k])
            selected[mask] = resolved.selected[mask]
    value = objective(problem, selected_pairs(problem, selected))
    method = "min-cost flow" + (f" + {passes} clash repair passes" if passes else "")
    if value == bound:
        return Outcome(selected, value, bound, True, method)
    if problem.n_students <= options.exact_fallback_students:
        progress("exact CP-SAT", 0.9)
        exact = solve_exact(problem, selected, options.seed, options.exact_time_limit_s)
        if exact is not None:
            value = objective(problem, selected_pairs(problem, exact))
            return Outcome(exact, value, value, True, method + " + exact CP-SAT")
    return Outcome(selected, value, bound, False, method)
