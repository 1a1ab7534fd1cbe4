"""Offer prices from the relaxation's duals: a bound that prices every clash at once.

The flow relaxation (matching/flow.py) leaves out one constraint: a student's allocations must
not overlap in time. Its node potentials p prove it optimal (matching/potentials.py). Read
them as prices, and relax every constraint that couples students (each offer's capacity, and
the source and sink of the Benchmark 8 network, whose flow is the round's pair count) with
those prices as Lagrange multipliers. What is left falls apart into one small problem per
student: pick the cheapest bundle (at most one arc per level group, an L1 and an L2/L3 place
joined into a pair or not), every arc priced at its cost plus its offer's potential. Node
potentials cancel along a path, so the bundle's cost needs the offers', source's and sink's
potentials alone:

  pair of L1 arc a (offer o) and L2/L3 arc b (offer o')   c_a + p[o] + c_b - p[o'] + c_pair
  single L1 place on a                                     c_a + p[o] - p[source]
  single L2/L3 place on b                                  p[sink] + c_b - p[o']
  further-education arc f (offer o, network k)             c_f + p_k[o] - p_k[source]

with an attended encounter standing in for an arc as p[source] (L1) or -p[sink] (L2/L3).

Since the potentials are optimal, each student's cheapest bundle is the one the flow gives
them, and the prices add up to the relaxation's own optimum: the Lagrangian dual meets the
primal (complementary slackness). Now demand what the relaxation did not: each student's
bundle must be clash-free. The dual stays a bound on every clash-free allocation with the
relaxation's pairs (a Lagrangian relaxation of the true problem), and it moves by exactly
what each student loses by picking their cheapest clash-free bundle instead: one small
enumeration per student whose flow bundle clashes, and no search of the network at all.

That loss is the cheapest local way out of each clash at fixed prices; where the freed place
really can be refilled at the same price, it is zero. So the bound is weaker than the true
loss where many clashes compete for the same way out, but it costs milliseconds where one
shortest-path search per clash (matching/lagrange.py) costs seconds on a territory round.
Each student's best clash-free bundle also says which side of their clash to give up
(`Prices.keep`, used by matching/pairs.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from matching.clashes import find_clashes, sessions_of
from matching.flow import FlowSolution, decode, scalar, tighten, weights
from matching.objective import Objective
from matching.problem import FE_INTERACTION, FE_VISIT, L1, L23, Problem
from matching.reoptimise import potential_of

SOURCE, SINK = 0, 1  # of the Benchmark 8 network; a further-education network's source is 0
_ATTENDED = -1  # an attended encounter in place of an arc
_OFFER0 = {0: 2, 1: 1, 2: 1}  # per network: the node of offer 0 (flow._solve_b8, _solve_single)


@dataclass(frozen=True)
class Prices:
    loss: int  # summed over students: cheapest clash-free bundle minus cheapest bundle
    keep: dict[int, frozenset[int]]  # per student looked at: the arcs of that clash-free bundle


@dataclass(frozen=True)
class _Option:
    cost: int
    arcs: tuple[int, ...]


def price_bundles(problem: Problem, relaxation: FlowSolution, students: Iterable[int]) -> Prices:
    """What `students` (those the relaxation gives clashing allocations) lose at the
    relaxation's prices, and their cheapest clash-free bundles.

    `relaxation.networks` must be optimal flows of the whole round (`solve_relaxation`, or a
    Benchmark 8 network with fewer pairs, `pairs.fewer_pairs`): the bound is then
    `scalar(relaxation's value) - loss` for every clash-free allocation with its pairs.
    """
    chosen = sorted(set(students))
    if not chosen:
        return Prices(0, {})
    priced = _Priced(problem, relaxation)
    options = {s: priced.options(s) for s in chosen}
    clash = _clash_table(problem, options)
    loss = 0
    keep: dict[int, frozenset[int]] = {}
    for s in chosen:
        groups = options[s]
        cheapest = sum(g[0].cost for g in groups)
        cost, arcs = _clash_free(groups, clash)
        loss += cost - cheapest
        keep[s] = frozenset(arcs)
    return Prices(loss, keep)


def price_bound(problem: Problem, relaxation: FlowSolution, value: Objective) -> Objective:
    """`value`, the relaxation's own, lowered by what its clashing students lose at its
    prices (`price_bundles`): a bound on every clash-free allocation with its pairs."""
    students = problem.arc_student[[a for a, _ in find_clashes(problem, relaxation.selected)]]
    loss = price_bundles(problem, relaxation, students.tolist()).loss
    w = weights(problem)
    return (value[0], *decode(w, tighten(problem, w, scalar(w, value) - loss)))


class _Priced:
    """Each candidate arc's priced cost, from the networks' costs and potentials."""

    def __init__(self, problem: Problem, relaxation: FlowSolution) -> None:
        self.problem = problem
        self.pair_weight = weights(problem).below_target  # the pair arc's cost, per flow.py
        self.cost = np.zeros(problem.n_arcs, dtype=np.int64)  # c_a + p[offer], signed per side
        self.present = np.zeros(problem.n_arcs, dtype=np.bool_)
        self.ends: dict[int, tuple[int, int]] = {}  # network -> (p[source], p[sink])
        for k, net in relaxation.networks.items():
            p = potential_of(net)
            arcs = net.arcs
            node = _OFFER0[k] + problem.arc_offer[arcs]
            own = net.costs[: len(arcs)]
            # L1 and further-education arcs leave their offer, L2/L3 arcs enter it.
            enters = problem.arc_group[arcs] == L23
            self.cost[arcs] = np.where(enters, own - p[node], own + p[node])
            self.present[arcs] = True
            self.ends[k] = (int(p[SOURCE]), int(p[SINK]) if k == 0 else 0)

    def options(self, s: int) -> tuple[list[_Option], ...]:
        """Student s's bundle options per part (Benchmark 8, each further-education group),
        cheapest first, doing nothing included."""
        problem = self.problem
        arcs = [a for a in problem.arcs_of(s) if self.present[a]]
        by_group: dict[int, list[int]] = {g: [] for g in (L1, L23, FE_VISIT, FE_INTERACTION)}
        for a in arcs:
            by_group[int(problem.arc_group[a])].append(a)
        source, sink = self.ends.get(0, (0, 0))
        l1 = [(a, int(self.cost[a])) for a in by_group[L1]]
        l23 = [(a, int(self.cost[a])) for a in by_group[L23]]
        if problem.has_l1[s]:
            l1.append((_ATTENDED, source))
        if problem.has_l23[s]:
            l23.append((_ATTENDED, -sink))
        pair_cost = -self.pair_weight * int(problem.below_target[s])
        can_pair = not (problem.has_l1[s] and problem.has_l23[s])
        b8 = [_Option(0, ())]
        b8 += [_Option(c - source, _real(a)) for a, c in l1]
        b8 += [_Option(sink + c, _real(b)) for b, c in l23]
        for a, ca in l1:
            for b, cb in l23:
                b8.append(_Option(ca - source + sink + cb, _real(a, b)))
                if can_pair:
                    b8.append(_Option(ca + cb + pair_cost, _real(a, b)))
        parts = [b8]
        for k, group in ((1, FE_VISIT), (2, FE_INTERACTION)):
            own = self.ends.get(k, (0, 0))[0]
            fe = [_Option(int(self.cost[a]) - own, (a,)) for a in by_group[group]]
            parts.append([_Option(0, ()), *fe])
        return tuple(sorted(part, key=lambda o: (o.cost, o.arcs)) for part in parts)


def _real(*arcs: int) -> tuple[int, ...]:
    return tuple(a for a in arcs if a != _ATTENDED)


def _clash_table(
    problem: Problem, options: dict[int, tuple[list[_Option], ...]]
) -> set[tuple[int, int]]:
    """Every clashing pair (lower arc first) among the arcs of each student's options, tested
    at once (`Sessions.clash`)."""
    firsts: list[int] = []
    seconds: list[int] = []
    for groups in options.values():
        arcs = sorted({a for part in groups for o in part for a in o.arcs})
        for i, a in enumerate(arcs):
            for b in arcs[i + 1 :]:
                if problem.arc_group[a] != problem.arc_group[b]:
                    firsts.append(a)
                    seconds.append(b)
    if not firsts:
        return set()
    first = np.array(firsts, dtype=np.int64)
    second = np.array(seconds, dtype=np.int64)
    hit = sessions_of(problem).clash(problem.arc_offer[first], problem.arc_offer[second])
    return set(zip(first[hit].tolist(), second[hit].tolist(), strict=True))


def _clash_free(
    parts: tuple[list[_Option], ...], clash: set[tuple[int, int]]
) -> tuple[int, tuple[int, ...]]:
    """The cheapest choice of one option per part whose arcs do not clash (depth first, each
    part cheapest first, cut off once it cannot beat the best found). Doing nothing is always
    an option, so there is one."""
    rest = [0] * (len(parts) + 1)  # cheapest possible cost of parts i.. on
    for i in range(len(parts) - 1, -1, -1):
        rest[i] = rest[i + 1] + parts[i][0].cost
    best: list[tuple[int, tuple[int, ...]]] = []

    def fits(arcs: tuple[int, ...], more: tuple[int, ...]) -> bool:
        """Do the arcs `more` clash neither with `arcs` nor with each other?"""
        return not any(
            (min(a, b), max(a, b)) in clash for i, b in enumerate(more) for a in arcs + more[:i]
        )

    def walk(i: int, cost: int, arcs: tuple[int, ...]) -> None:
        if i == len(parts):
            best[:] = [(cost, arcs)]
            return
        for option in parts[i]:
            if best and cost + option.cost + rest[i + 1] >= best[0][0]:
                return
            if fits(arcs, option.arcs):
                walk(i + 1, cost + option.cost, arcs + option.arcs)

    walk(0, 0, ())
    return best[0]
