"""The naive CP-SAT model: the whole round in one model with one weighted objective.

The same candidate arcs as the engine (`build_problem`): one boolean per arc, AtMostOne per
student and level group, a capacity sum per offer, AtMostOne per clashing pair, and a pair
indicator per student bounded by both sides of Benchmark 8. The four lexicographic levels are
folded into one objective with weights large enough that a higher level outweighs every
possible change of the lower ones. When those weights do not fit CP-SAT's 64-bit integers the
lowest levels are left out of the objective (reported in `levels_in_objective`).

This is the approach DESIGN.md measured and found unable to prove optimality at 10,000
students; it is here to be measured again, side by side with the engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from benchmarks.highs_mip import Objective, evaluate
from matching.problem import L1, L23, Problem

# CP-SAT needs every partial sum of the objective to fit in int64; keep a wide margin.
_WEIGHT_LIMIT = 2**60


@dataclass(frozen=True)
class CpSatResult:
    objective: Objective | None  # of the best allocation found, recomputed from it
    pairs: list[tuple[int, int]]  # (student, offer), pins included
    proven: bool  # CP-SAT proved the weighted objective optimal
    status: str
    weighted_objective: float | None
    weighted_bound: float | None
    gap: float | None  # (bound - objective) / |objective| of the weighted objective
    weights: tuple[int, int, int, int]  # per level; 0 = left out of the objective
    levels_in_objective: int
    build_seconds: float
    solve_seconds: float
    seconds: float
    n_vars: int
    n_constraints: int


def level_weights(problem: Problem) -> tuple[tuple[int, int, int, int], int]:
    """Weights that make the weighted sum lexicographic, and how many levels they keep.

    Each weight exceeds the largest possible swing of all lower levels together: level 4
    ranges over the summed worst cost of every (student, group) slot, level 3 over the summed
    placement weight of the slots, levels 1 and 2 over the students who could complete the pair.
    """
    slot = problem.arc_student * 4 + problem.arc_group
    slots, first = np.unique(slot, return_index=True)
    max_cost = np.zeros(len(slots), dtype=np.int64)
    np.maximum.at(max_cost, np.searchsorted(slots, slot), problem.arc_cost)
    r4 = int(max_cost.sum())
    r3 = int(problem.weight[problem.arc_student[first]].sum())
    z = _pair_candidates(problem)
    r1 = len(z)
    r2 = int(problem.below_target[z].sum())
    for kept in (4, 3, 2, 1):
        ranges = [r1, r2, r3, r4][:kept]
        weights = [0, 0, 0, 0]
        swing = 0  # the largest change of the levels below the current one, weighted
        for level in range(kept - 1, -1, -1):
            weights[level] = swing + 1
            swing += weights[level] * ranges[level]
        if swing < _WEIGHT_LIMIT:
            return (weights[0], weights[1], weights[2], weights[3]), kept
    raise ValueError("even level 1 alone does not fit in 64-bit weights")


def _pair_candidates(problem: Problem) -> np.ndarray:
    l1 = problem.has_l1.copy()
    l23 = problem.has_l23.copy()
    l1[problem.arc_student[problem.arc_group == L1]] = True
    l23[problem.arc_student[problem.arc_group == L23]] = True
    complete = problem.has_l1 & problem.has_l23
    return np.flatnonzero(l1 & l23 & ~complete)


def solve_naive(
    problem: Problem, time_limit_s: float, seed: int = 0, workers: int = 2
) -> CpSatResult:
    started = time.perf_counter()
    model = cp_model.CpModel()
    n_arcs = problem.n_arcs
    x = [model.new_bool_var(f"x{a}") for a in range(n_arcs)]
    students = problem.arc_student
    groups = problem.arc_group
    offers = problem.arc_offer

    slot = students * 4 + groups
    order = np.argsort(slot, kind="stable")
    bounds = np.flatnonzero(np.r_[True, slot[order][1:] != slot[order][:-1], True])
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if hi - lo > 1:
            model.add_at_most_one([x[a] for a in order[lo:hi].tolist()])

    order = np.argsort(offers, kind="stable")
    bounds = np.flatnonzero(np.r_[True, offers[order][1:] != offers[order][:-1], True])
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        arcs = order[lo:hi].tolist()
        cap = int(problem.capacity[offers[arcs[0]]])
        if len(arcs) > cap:
            model.add(sum(x[a] for a in arcs) <= cap)

    for a, b in problem.clash_pairs():
        model.add_at_most_one([x[a], x[b]])

    z_students = _pair_candidates(problem)
    z = {int(s): model.new_bool_var(f"z{s}") for s in z_students.tolist()}
    for side, attended in ((L1, problem.has_l1), (L23, problem.has_l23)):
        side_arcs: dict[int, list[int]] = {}
        for a in np.flatnonzero(groups == side).tolist():
            s = int(students[a])
            if s in z and not attended[s]:
                side_arcs.setdefault(s, []).append(a)
        for s, arcs in side_arcs.items():
            model.add(z[s] <= sum(x[a] for a in arcs))

    weights, kept = level_weights(problem)
    w1, w2, w3, w4 = weights
    z_vars = list(z.values())
    z_coef = [w1 + w2 * int(problem.below_target[s]) for s in z]
    x_coef = (w3 * problem.weight[students] - w4 * problem.arc_cost).tolist()
    model.maximize(
        cp_model.LinearExpr.weighted_sum(z_vars, z_coef)
        + cp_model.LinearExpr.weighted_sum(x, x_coef)
    )
    proto = model.proto
    n_vars, n_constraints = len(proto.variables), len(proto.constraints)
    build_seconds = time.perf_counter() - started

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = max(0.01, time_limit_s)
    solve_started = time.perf_counter()
    status = solver.solve(model)
    solve_seconds = time.perf_counter() - solve_started
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    pairs: list[tuple[int, int]] = list(problem.pinned)
    objective: Objective | None = None
    value = bound = gap = None
    if found:
        chosen = np.array([solver.boolean_value(v) for v in x], dtype=np.bool_)
        arcs = np.flatnonzero(chosen)
        pairs += list(zip(students[arcs].tolist(), offers[arcs].tolist(), strict=True))
        objective = evaluate(problem, chosen)
        value = float(solver.objective_value)
        bound = float(solver.best_objective_bound)
        gap = (bound - value) / max(1.0, abs(value))
    return CpSatResult(
        objective=objective,
        pairs=sorted(pairs),
        proven=status == cp_model.OPTIMAL and kept == 4,
        status=solver.status_name(status),
        weighted_objective=value,
        weighted_bound=bound,
        gap=gap,
        weights=weights,
        levels_in_objective=kept,
        build_seconds=build_seconds,
        solve_seconds=solve_seconds,
        seconds=time.perf_counter() - started,
        n_vars=n_vars,
        n_constraints=n_constraints,
    )
