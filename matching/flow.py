"""Min-cost-flow relaxation: exact for everything but clashes between two allocations.

Two kinds of network, each solved once per call:

* Benchmark 8 (L1 and L2/L3 together). Per student four nodes: r_in -> r_out carries the
  student's L1 side, o_in -> o_out their L2/L3 side, each capacity 1. A flow path
  S -> L1 offer -> r_in -> r_out -> o_in -> o_out -> L2/L3 offer -> T is a student completing
  the pair; attended (or pinned) encounters enter as arcs S -> r_in and o_out -> T. Single
  placements are circulations: S -> L1 offer -> r_in -> r_out -> S, and
  T -> o_in -> o_out -> L2/L3 offer -> T. `solve_max_flow_with_min_cost` maximises the S-T
  flow first, which is objective level 1 exactly, then minimises cost among maximum flows.
* Further education (one network per group): S -> offer -> student -> S circulations.

Levels 2-4 become one integer cost with weights large enough that a higher level always
dominates every possible change of the lower ones (see `_weights`), so the minimum-cost
flow is the lexicographic optimum. Arc costs stay exact integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from matching.errors import InvalidInstance, MatchingError
from matching.problem import FE_INTERACTION, FE_VISIT, L1, L23, BoolArray, IntArray, Problem

# OR-Tools' cost scaling multiplies costs by (nodes + 1); keep well inside int64.
_COST_LIMIT = 2**62

NETWORKS: tuple[tuple[int, ...], ...] = ((L1, L23), (FE_VISIT,), (FE_INTERACTION,))


@dataclass(frozen=True)
class FlowSolution:
    selected: BoolArray  # per candidate arc
    max_pairs: int  # new Benchmark 8 pairs from the S-T flow (level 1, minus constants)


@dataclass(frozen=True)
class _Weights:
    placement: int  # per unit of placement weight (level 3)
    below_target: int  # per pair completed in a below-target school (level 2)


def _weights(problem: Problem, arcs: IntArray, groups: tuple[int, ...]) -> _Weights:
    """Weights that make the single cost lexicographic.

    With P student-group slots that have a candidate, any allocation's level-4 cost lies in
    [0, P * max_cost], so a placement weight above that outranks every rank trade-off; the
    below-target weight likewise exceeds the largest possible level-3 + level-4 change.
    """
    if len(arcs) == 0:
        return _Weights(1, 1)
    max_cost = int(problem.arc_cost[arcs].max())
    slots = np.unique(problem.arc_student[arcs] * 4 + problem.arc_group[arcs])
    n_slots = len(slots)
    placement = n_slots * max_cost + 1
    slot_weight = int(problem.weight[slots // 4].sum())
    below = placement * slot_weight + n_slots * max_cost + 1 if L23 in groups else 0
    return _Weights(placement, below)


def solve_relaxation(
    problem: Problem, forbid: BoolArray, seed: int, networks: tuple[int, ...] = (0, 1, 2)
) -> FlowSolution:
    """Solve the chosen networks; `forbid` masks candidate arcs out."""
    selected = np.zeros(problem.n_arcs, dtype=np.bool_)
    max_pairs = 0
    for k in networks:
        groups = NETWORKS[k]
        arcs = np.flatnonzero(np.isin(problem.arc_group, groups) & ~forbid)
        if k == 0:
            chosen, max_pairs = _solve_b8(problem, arcs, seed)
        else:
            chosen = _solve_single(problem, arcs, seed + k)
        selected[chosen] = True
    return FlowSolution(selected, max_pairs)


def _shuffled(arcs: IntArray, seed: int) -> IntArray:
    """The seeded tie-break: arc order decides between equal-cost optima, deterministically."""
    return np.random.default_rng(seed).permutation(arcs)


def _check_costs(costs: IntArray, n_nodes: int) -> None:
    if len(costs) and int(np.abs(costs).max()) * (n_nodes + 1) >= _COST_LIMIT:
        raise InvalidInstance(
            "round too large for exact lexicographic weights; split it into school clusters"
        )


def _solve_b8(problem: Problem, arcs: IntArray, seed: int) -> tuple[IntArray, int]:
    arcs = _shuffled(arcs, seed)
    w = _weights(problem, arcs, (L1, L23))
    n_off = len(problem.offers)
    n = problem.n_students
    source, sink, off0, stu0 = 0, 1, 2, 2 + n_off
    students = np.arange(n, dtype=np.int64)
    r_in, r_out = stu0 + 4 * students, stu0 + 4 * students + 1
    o_in, o_out = stu0 + 4 * students + 2, stu0 + 4 * students + 3
    s_arc = problem.arc_student[arcs]
    o_arc = problem.arc_offer[arcs]
    is_l1 = problem.arc_group[arcs] == L1
    arc_cost = problem.arc_cost[arcs] - w.placement * problem.weight[s_arc]

    offers = np.arange(n_off, dtype=np.int64)
    l1_off = offers[problem.offer_group == L1]
    l23_off = offers[problem.offer_group == L23]
    complete = problem.has_l1 & problem.has_l23
    att1 = students[problem.has_l1]
    att23 = students[problem.has_l23]
    pair_ok = students[~complete]
    ones = np.ones(n, dtype=np.int64)

    parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = [
        # candidate arcs first, so their ids are 0..len(arcs)-1
        (
            np.where(is_l1, off0 + o_arc, o_out[s_arc]),
            np.where(is_l1, r_in[s_arc], off0 + o_arc),
            np.ones(len(arcs), dtype=np.int64),
            arc_cost,
        ),
        (np.full(len(l1_off), source), off0 + l1_off, problem.capacity[l1_off], 0 * l1_off),
        (off0 + l23_off, np.full(len(l23_off), sink), problem.capacity[l23_off], 0 * l23_off),
        (np.full(len(att1), source), r_in[att1], ones[att1], 0 * att1),
        (r_in, r_out, ones, 0 * ones),
        (
            r_out[pair_ok],
            o_in[pair_ok],
            ones[pair_ok],
            -w.below_target * problem.below_target[pair_ok].astype(np.int64),
        ),
        (r_out, np.full(n, source), ones, 0 * ones),
        (np.full(n, sink), o_in, ones, 0 * ones),
        (o_in, o_out, ones, 0 * ones),
        (o_out[att23], np.full(len(att23), sink), ones[att23], 0 * att23),
    ]
    tails, heads, caps, costs = (np.concatenate([p[i] for p in parts]) for i in range(4))
    n_nodes = stu0 + 4 * n
    _check_costs(costs, n_nodes)
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    mcf.set_node_supply(source, n)
    mcf.set_node_supply(sink, -n)
    status = mcf.solve_max_flow_with_min_cost()
    if status != mcf.OPTIMAL:
        raise MatchingError(f"min-cost flow (Benchmark 8) ended with status {status!r}")
    flows = mcf.flows(np.arange(len(arcs), dtype=np.int64))
    return arcs[flows > 0], int(mcf.maximum_flow())


def _solve_single(problem: Problem, arcs: IntArray, seed: int) -> IntArray:
    if len(arcs) == 0:
        return arcs
    arcs = _shuffled(arcs, seed)
    w = _weights(problem, arcs, ())
    n_off = len(problem.offers)
    off0, stu0 = 1, 1 + n_off  # node 0 is the source
    s_arc = problem.arc_student[arcs]
    o_arc = problem.arc_offer[arcs]
    offers = np.unique(o_arc)
    students = np.unique(s_arc)
    tails = np.concatenate([off0 + o_arc, np.zeros(len(offers), np.int64), stu0 + students])
    heads = np.concatenate([stu0 + s_arc, off0 + offers, np.zeros(len(students), np.int64)])
    caps = np.concatenate(
        [np.ones(len(arcs), np.int64), problem.capacity[offers], np.ones(len(students), np.int64)]
    )
    costs = np.concatenate(
        [
            problem.arc_cost[arcs] - w.placement * problem.weight[s_arc],
            np.zeros(len(offers) + len(students), np.int64),
        ]
    )
    _check_costs(costs, stu0 + problem.n_students)
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    status = mcf.solve()
    if status != mcf.OPTIMAL:
        raise MatchingError(f"min-cost flow (further education) ended with status {status!r}")
    flows = mcf.flows(np.arange(len(arcs), dtype=np.int64))
    chosen: IntArray = arcs[flows > 0]
    return chosen
