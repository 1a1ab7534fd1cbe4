"""The lexicographic objective, computed from allocations alone (no solver involved).

Levels, each maximised before the next is looked at:
  1. students holding the Benchmark 8 pair (an L1 and an L2-or-L3, attended or allocated);
  2. of those, students whose school started the round below its target: below-target
     schools are raised first;
  3. placements, a priority student's counting `rules.priority_weight` times;
  4. minus the summed rank cost (rules.rank_cost: rank r costs r by default, an
     interest-matched offer for a student who ranked nothing costs max_ranks + 1).
A seeded tie-break decides between allocations equal on all four levels.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from matching.problem import L1, L23, BoolArray, Problem

Objective = tuple[int, int, int, int]
LEVELS = ("b8_pairs", "below_target_pairs", "placements", "minus_rank_cost")


def objective(problem: Problem, allocations: Iterable[tuple[int, int]]) -> Objective:
    """`allocations` are (student index, offer index) pairs, pins included."""
    rules = problem.instance.rules
    l1 = problem.has_l1.copy()
    l23 = problem.has_l23.copy()
    pinned = set(problem.pinned)
    placements = 0
    rank_cost = 0
    for s, o in allocations:
        g = int(problem.offer_group[o])
        if g == L1:
            l1[s] = True
        elif g == L23:
            l23[s] = True
        if (s, o) in pinned:
            continue  # pins are constants: counted once below
        placements += int(problem.weight[s])
        rank_cost += rules.rank_cost(problem.ranked.get(s, {}).get(o))
    for s, o in problem.pinned:
        placements += int(problem.weight[s])
        rank_cost += rules.rank_cost(problem.ranked.get(s, {}).get(o))
    pairs = l1 & l23
    return (
        int(pairs.sum()),
        int((pairs & problem.below_target).sum()),
        placements,
        -rank_cost,
    )


def value_of(problem: Problem, selected: BoolArray) -> Objective:
    """`objective` of the candidate arcs `selected` (pins included), vectorised: the repair and
    the certificate value every candidate allocation, 150,000 students at a time."""
    constant = objective(problem, [])  # attended encounters and pins
    arcs = np.flatnonzero(selected)
    students, groups = problem.arc_student[arcs], problem.arc_group[arcs]
    l1 = problem.has_l1.copy()
    l23 = problem.has_l23.copy()
    l1[students[groups == L1]] = True
    l23[students[groups == L23]] = True
    pairs = l1 & l23
    return (
        int(pairs.sum()),
        int((pairs & problem.below_target).sum()),
        constant[2] + int(problem.weight[students].sum()),
        constant[3] - int(problem.arc_cost[arcs].sum()),
    )
