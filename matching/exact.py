"""The full model in CP-SAT, solved level by level: the exact fallback for small rounds.

One boolean per candidate arc; at most one per student and level group; capacity; clashing
arcs exclusive; a pair indicator per student bounded by both sides of Benchmark 8. Each level
is maximised with one worker and a fixed seed (CP-SAT with several workers is not
deterministic), then fixed before the next.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from ortools.sat.python import cp_model

from matching.objective import Objective, objective
from matching.problem import L1, L23, BoolArray, Problem


def solve_exact(
    problem: Problem,
    hint: BoolArray,
    seed: int,
    deterministic_time: float,
    bound: Objective | None = None,
) -> BoolArray | None:
    """The lexicographic optimum as an arc mask, or None if a level is not proven within
    `deterministic_time` (CP-SAT's machine-independent work measure, roughly seconds).

    `bound`, the flow relaxation's objective, caps each level while the levels before it
    meet theirs: a valid cut, and often all CP-SAT needs to prove a level at once.
    """
    model = cp_model.CpModel()
    n_arcs = problem.n_arcs
    x = [model.new_bool_var(f"x{a}") for a in range(n_arcs)]
    slots: dict[tuple[int, int], list[int]] = defaultdict(list)
    by_offer: dict[int, list[int]] = defaultdict(list)
    students = problem.arc_student.tolist()
    offers = problem.arc_offer.tolist()
    groups = problem.arc_group.tolist()
    for a in range(n_arcs):
        slots[(students[a], groups[a])].append(a)
        by_offer[offers[a]].append(a)
    for arcs in slots.values():
        model.add_at_most_one(x[a] for a in arcs)
    for o, arcs in by_offer.items():
        model.add(sum(x[a] for a in arcs) <= int(problem.capacity[o]))
    for a, b in problem.clash_pairs():
        model.add_bool_or([x[a].Not(), x[b].Not()])

    complete = problem.has_l1 & problem.has_l23
    pair_terms = []
    below_terms = []
    pair_hints: list[tuple[cp_model.IntVar, list[int], list[int]]] = []
    for s in {students[a] for a in range(n_arcs)}:
        if complete[s]:
            continue
        l1 = slots.get((s, L1), [])
        l23 = slots.get((s, L23), [])
        if not (problem.has_l1[s] or l1) or not (problem.has_l23[s] or l23):
            continue
        z = model.new_bool_var(f"z{s}")
        l1 = [] if problem.has_l1[s] else l1
        l23 = [] if problem.has_l23[s] else l23
        if l1:
            model.add(z <= sum(x[a] for a in l1))
        if l23:
            model.add(z <= sum(x[a] for a in l23))
        pair_hints.append((z, l1, l23))
        pair_terms.append(z)
        if problem.below_target[s]:
            below_terms.append(z)
    weight = problem.weight[problem.arc_student].tolist()
    cost = problem.arc_cost.tolist()
    levels = [
        sum(pair_terms),
        sum(below_terms),
        sum(weight[a] * x[a] for a in range(n_arcs)),
        -sum(cost[a] * x[a] for a in range(n_arcs)),
    ]
    constant = objective(problem, [])  # attended encounters and pins
    current = hint.astype(bool).tolist()
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.linearization_level = 2
    tight = bound is not None
    for k, level in enumerate(levels):
        if isinstance(level, int):
            continue  # an empty sum: nothing to optimise at this level
        model.clear_hints()  # type: ignore[no-untyped-call]
        for a in range(n_arcs):
            model.add_hint(x[a], current[a])
        for z, l1, l23 in pair_hints:
            model.add_hint(z, all(any(current[a] for a in side) for side in (l1, l23) if side))
        model.maximize(level)
        cap = None
        if tight and bound is not None:
            cap = model.add(level <= bound[k] - constant[k])
        solver.parameters.max_deterministic_time = deterministic_time
        status = solver.solve(model)
        if status != cp_model.OPTIMAL:
            return None
        best = round(solver.objective_value)
        current = [bool(solver.boolean_value(x[a])) for a in range(n_arcs)]
        if cap is not None and bound is not None and best < bound[k] - constant[k]:
            tight = False  # below the bound here: later levels are no longer capped by it
        model.add(level >= best)
    return np.array(current, dtype=np.bool_)
