"""Clashes between two allocations of one student, and the repair that removes them."""

from __future__ import annotations

import numpy as np

from matching.flow import NETWORKS, FlowSolution, solve_relaxation
from matching.problem import (
    FE_INTERACTION,
    FE_VISIT,
    L1,
    L23,
    BoolArray,
    IntArray,
    Problem,
)

MAX_REPAIR_PASSES = 3

# When two allocations clash, keep the one in the scarcer group: L2/L3 places are rare and
# decide the Benchmark 8 pair, L1 visits and further-education events are plentiful.
KEEP_ORDER = (L23, L1, FE_VISIT, FE_INTERACTION)
_KEEP_RANK = {g: i for i, g in enumerate(KEEP_ORDER)}


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


def network_of(group: int) -> int:
    return next(k for k, groups in enumerate(NETWORKS) if group in groups)


def repair(
    problem: Problem,
    start: FlowSolution,
    seed: int,
    penalty: IntArray | None = None,
    scale: int = 1,
    prefer: dict[tuple[int, int], int] | None = None,
    forbid: BoolArray | None = None,
) -> tuple[BoolArray, int]:
    """Forbid clashing arcs and re-solve the touched networks until nothing clashes.

    `prefer` names, for a clash (keep, drop), the arc to give up when known to be cheaper.
    Re-solving can move other students into new clashes; after MAX_REPAIR_PASSES the
    remaining clashing allocations are simply withdrawn, which is always feasible. (On a
    150,000-student round, unbounded passes were measured at 19 whole-network solves.)
    """
    prefer = prefer or {}
    forbid = np.zeros(problem.n_arcs, dtype=np.bool_) if forbid is None else forbid.copy()
    selected = start.selected.copy()
    passes = 0
    while clashes := find_clashes(problem, selected):
        if passes == MAX_REPAIR_PASSES:
            for pair in clashes:
                selected[prefer.get(pair, pair[1])] = False
            continue
        passes += 1
        touched = set()
        for pair in clashes:
            drop = prefer.get(pair, pair[1])
            forbid[drop] = True
            touched.add(network_of(int(problem.arc_group[drop])))
        networks = tuple(sorted(touched))
        resolved = solve_relaxation(problem, forbid, seed, networks, penalty, scale)
        for k in networks:
            mask = np.isin(problem.arc_group, NETWORKS[k])
            selected[mask] = resolved.selected[mask]
    return selected, passes
