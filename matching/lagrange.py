"""A Lagrangian certificate for the clash constraints the flow relaxation leaves out.

For clash pairs K (two arcs of one student that overlap in time) and multipliers lam >= 0,

    UB(lam) = max over flows x of  V(x) - sum_k lam_k * (x_a + x_b - 1)

bounds the best clash-free value V from above (V is the scalar of levels 2-4, see
`flow.scalar`; level 1 is the maximum flow, which penalties do not change). A clash-free
allocation reaching UB(lam) is optimal.

Good multipliers come from the relaxation's own duals. Node potentials are shortest-path
distances in the residual graph (Bellman-Ford, vectorised); with them every residual arc has
a non-negative reduced cost, and the exact cost of taking one arc out of the optimum is the
cheapest cycle through its reverse, found by Dijkstra. Each clash gets lam_k one unit above
the cheaper of its two removals, so the penalised flow gives up the cheaper side. Each
penalised flow is re-optimised from the last one (matching/reoptimise.py): a round changes
the costs of a few dozen arcs, so this costs a few shortest paths, not a whole solve.

Where the prices cannot settle a clash (its price bracket closes with the flow taking both
arcs on one side and neither on the other: the Lagrangian's duality gap), the search
branches: every clash-free allocation leaves out one of the two arcs, so each side forbids
one and is priced on its own, depth first, and the larger of the two sides' bounds holds.
A side that forbids an arc the maximum flow cannot do without holds nothing better than an
allocation that keeps every pair.

Before it branches (or gives up), a node's bound is also lowered by what the clashes its
prices leave open cost together (matching/assignment.py): the Lagrangian's duality gap,
measured by cycles through the clash arcs. Of 214 small contested rounds that reach the
certificate (exact fallback off), it proves 193 with this bound and 178 without. With the
priced clashes the flow takes one arc of in the bound as well (`_Certifier.held`), the two
generated rounds of 55,000 and 70,000 students it left open are proven too (16 and 6
branches), and so all eleven of 20,000-100,000 students that the README lists.
"""

from __future__ import annotations

import dataclasses
import heapq
from dataclasses import dataclass

import numpy as np

from matching.assignment import Graph, Spent, assignment_loss
from matching.clashes import find_clashes, repair
from matching.compiled import kernel
from matching.errors import MatchingError
from matching.flow import (
    FlowSolution,
    Network,
    decode,
    scalar,
    tighten,
    weights,
)
from matching.objective import Objective, value_of
from matching.potentials import tight_components
from matching.problem import BoolArray, IntArray, Problem
from matching.reoptimise import cached_incidence, potential_of, reduced_graph, reoptimise

CERTIFICATE_ROUNDS = 6  # pricing rounds at the top
BRANCH_ROUNDS = 3  # pricing rounds in each branch
# Branches the search may take: more while the bound still holds more placements (or
# below-target pairs) than the best allocation, fewer once only ranks are left between them.
# Measured on generated rounds of 55,000-100,000 students: three whose bound held one to
# four placements more were proven with 48-122 branches; on one where only ranks were left
# (70,000 students), 200 branches did not close it and took 68 s. A branch costs more on a
# larger round, so the placement branches are also capped at PLACEMENT_BRANCH_STUDENTS
# over the round's students (100,000 students: 120 branches), never below MAX_BRANCHES.
MAX_BRANCHES = 24
MAX_PLACEMENT_BRANCHES = 200
PLACEMENT_BRANCH_STUDENTS = 12_000_000
# The nodes one node's assignment bound may pop in its searches, as a multiple of the
# certificate's budget (they are not charged to it): at 150,000 students the top node's
# bound pops 27 million, within 12 times the default budget of 3 million.
JOIN_EFFORT = 12
_REPAIR_AT_MOST = 3  # penalised flows with more clashes only tighten the bound
# Objective costs are doubled under penalties, so a price one unit above a removal cost sits
# half an objective unit above it: ties are broken strictly, and the bound is floored back.
_SCALE = 2


@dataclass(frozen=True)
class Certificate:
    selected: BoolArray  # the best clash-free allocation found
    value: Objective
    bound: Objective  # no clash-free allocation beats it
    proven: bool
    method: str


def certify(
    problem: Problem,
    root: FlowSolution,
    feasible: BoolArray,
    seed: int,
    effort: int,
    root_value: Objective | None = None,
) -> Certificate:
    """Tighten the bound and improve `feasible` until they meet, or the budget runs out.

    `root_value` is the relaxation's value when its flows do not tell it by their allocation
    (matching/pairs.py: a flow below the maximum, where a student may hold two single
    places the objective would count as a pair).

    `effort` caps the node expansions of the pricing's shortest-path searches, and each
    node's assignment bound may expand JOIN_EFFORT times as many in its own (0 turns the
    certificate off); with the fixed numbers of rounds and branches, the work done, and so
    the result, is the same on every machine.
    """
    cert = _Certifier(problem, root, feasible, seed, _Budget(effort), root_value)
    top = _Node(None, {}, cert.scaled)
    bound = cert.explore(top, scalar(cert.w, cert.root_value), CERTIFICATE_ROUNDS)
    cert.best_ub = bound
    proven = cert.done()
    bound_value = cert.best_value if proven else (cert.root_value[0], *decode(cert.w, bound))
    method = f"Lagrangian certificate ({top.rounds} rounds, {len(top.lam)} clashes priced"
    method += f", {cert.branches} branches" if cert.branches else ""
    method += f", {len(cert.assigned)} assignment bounds" if cert.assigned else ""
    method += ")"
    return Certificate(cert.best, cert.best_value, bound_value, proven, method)


@dataclass
class _Node:
    """A branch of the search: the arcs it forbids (None at the top), its own multipliers,
    and its last penalised flow."""

    forbid: BoolArray | None
    lam: dict[tuple[int, int], _Price]
    current: FlowSolution
    rounds: int = 0


class _Certifier:
    def __init__(
        self,
        problem: Problem,
        root: FlowSolution,
        feasible: BoolArray,
        seed: int,
        budget: _Budget,
        root_value: Objective | None = None,
    ) -> None:
        self.problem = problem
        # The root's flows with their costs (and potentials) in the certificate's doubled
        # units: every penalised flow starts from these costs, re-optimised.
        self.scaled = FlowSolution(
            root.selected, root.max_pairs, {k: _scaled(n) for k, n in root.networks.items()}
        )
        self.seed = seed
        self.budget = budget
        self.w = weights(problem)
        self.root_value = value_of(problem, root.selected) if root_value is None else root_value
        self.best_ub = scalar(self.w, self.root_value)
        self.best = feasible
        self.best_value = value_of(problem, feasible)
        self.branches = 0
        self.incidence: dict[int, tuple[IntArray, IntArray]] = {}  # per network
        self.effort = budget.left  # None: unlimited
        self.assigned: list[Spent] = []  # what each assignment bound cost

    def done(self) -> bool:
        return self.has_max_pairs() and self.best_scalar() >= self.best_ub

    def max_branches(self, ub: int) -> int:
        """The branches a node of bound `ub` may take the search to: up to
        MAX_PLACEMENT_BRANCHES (fewer on large rounds) while `ub` holds more placements (or
        below-target pairs) than the best allocation found, else MAX_BRANCHES."""
        if self.has_max_pairs() and decode(self.w, ub)[:2] > self.best_value[1:3]:
            scaled = PLACEMENT_BRANCH_STUDENTS // max(self.problem.n_students, 1)
            return max(MAX_BRANCHES, min(MAX_PLACEMENT_BRANCHES, scaled))
        return MAX_BRANCHES

    def has_max_pairs(self) -> bool:
        return self.best_value[0] == self.root_value[0]

    def best_scalar(self) -> int:
        return scalar(self.w, self.best_value) if self.has_max_pairs() else -_FAR

    def explore(self, node: _Node, ub: int, rounds: int) -> int:
        """A bound on every clash-free allocation with the maximum pairs in `node`'s branch,
        which is `ub` or tighter: up to `rounds` rounds of pricing, then (budget allowing) a
        split on one clash the prices could not settle, each side explored in turn.
        Depth first, so better allocations found on the way prune what is left."""
        while ub > self.best_scalar() and node.rounds < rounds:
            if not self.reprice(node):
                break
            ub = min(ub, self.evaluate(node, self.solve(node, node.forbid)))
        if ub > self.best_scalar() and self.effort != 0:
            ub = min(ub, self.assignment(node))
        if (
            ub <= self.best_scalar()
            or self.branches >= self.max_branches(ub)
            or self.budget.exhausted
        ):
            return ub
        stuck = self.stuck(node)
        if not stuck:
            return ub
        pair = stuck[0]
        bounds = []
        for arc in pair:
            forbid = np.zeros(self.problem.n_arcs, dtype=np.bool_)
            if node.forbid is not None:
                forbid |= node.forbid
            forbid[arc] = True
            self.branches += 1
            lam = {k: dataclasses.replace(p) for k, p in node.lam.items() if k != pair}
            child = _Node(forbid, lam, node.current)
            sol = self.solve(child, forbid)
            if sol is None:  # the branch loses a pair: worse than an allocation that has them
                if self.has_max_pairs():
                    continue
                return ub  # a bound on fewer pairs is beyond this method
            bounds.append(self.explore(child, min(ub, self.evaluate(child, sol)), BRANCH_ROUNDS))
        return min(ub, max(bounds, default=self.best_scalar()))

    def stuck(self, node: _Node) -> list[tuple[int, int]]:
        """The clashes `node`'s prices could not settle: those its flow takes both arcs of,
        then those priced but with neither taken (the bracket closed with no flow between).
        Every clash-free allocation leaves out one arc of each."""
        return find_clashes(self.problem, node.current.selected) + self.left_open(node)

    def left_open(self, node: _Node) -> list[tuple[int, int]]:
        """The priced clashes `node`'s flow takes neither arc of."""
        sel = node.current.selected
        return [
            (a, b) for (a, b), p in node.lam.items() if p.value > 0 and not sel[a] and not sel[b]
        ]

    def held(self, node: _Node) -> list[tuple[int, int]]:
        """The priced clashes `node`'s flow takes exactly one arc of."""
        sel = node.current.selected
        return [(a, b) for (a, b), p in node.lam.items() if p.value > 0 and sel[a] != sel[b]]

    def reprice(self, node: _Node) -> bool:
        """New multipliers from the node's flow's duals; False when nothing moves."""
        node.rounds += 1
        before = {pair: p.value for pair, p in node.lam.items()}
        horizons = (_SCALE * self.w.placement, _SCALE * self.w.below_target)
        if not _price(self.problem, node.current, node.lam, self.budget, horizons):
            return False
        return before != {pair: p.value for pair, p in node.lam.items()}

    def penalty(self, lam: dict[tuple[int, int], _Price]) -> IntArray:
        """Each arc's total price."""
        penalty = np.zeros(self.problem.n_arcs, dtype=np.int64)
        for (a, b), price in lam.items():
            penalty[a] += price.value
            penalty[b] += price.value
        return penalty

    def solve(self, node: _Node, forbid: BoolArray | None) -> FlowSolution | None:
        """The relaxation penalised by `node`'s prices, with `forbid`, re-optimised from
        `node`'s flow (matching/reoptimise.py): only penalised and forbidden arcs changed.
        Kept as the node's flow when `forbid` is the node's own; None when a forbidden arc
        costs a unit of maximum flow."""
        problem = self.problem
        penalty = self.penalty(node.lam)
        selected = np.zeros(problem.n_arcs, dtype=np.bool_)
        networks: dict[int, Network] = {}
        for k, net in node.current.networks.items():
            base = self.scaled.networks[k]
            n_arcs = len(base.arcs)
            costs = base.costs.copy()
            costs[:n_arcs] += penalty[base.arcs]
            caps = base.caps if forbid is None else base.closing(forbid)
            moved = reoptimise(net, costs, caps, cached_incidence(self.incidence, k, base))
            if moved is None:
                return None
            networks[k] = moved
            selected[moved.arcs[moved.flows[:n_arcs] > 0]] = True
        sol = FlowSolution(selected, self.scaled.max_pairs, networks)
        if forbid is node.forbid:
            node.current = sol
        return sol

    def lagrangian(self, node: _Node, sol: FlowSolution) -> int:
        """`sol`'s Lagrangian value at `node`'s prices, in the doubled units."""
        sel = sol.selected
        slack = sum(p.value * (int(sel[a]) + int(sel[b]) - 1) for (a, b), p in node.lam.items())
        return _SCALE * scalar(self.w, value_of(self.problem, sel)) - slack

    def assignment(self, node: _Node) -> int:
        """`node`'s Lagrangian bound at its last prices, less what the clashes they leave
        open cost at least (matching/assignment.py); its joins' searches may pop
        JOIN_EFFORT times the certificate's budget, which they are not charged to."""
        sol = self.solve(node, node.forbid)
        if sol is None:
            raise MatchingError("a penalty alone cannot change the maximum flow")
        ub = self.lagrangian(node, sol)
        prices = {pair: p.value for pair, p in node.lam.items()}
        # More loss than the gap to the best allocation proves it; without the maximum
        # pairs, a below-target pair's worth bounds every lower level.
        gap = ub - _SCALE * self.best_scalar()
        cap = gap if self.has_max_pairs() else _SCALE * self.w.below_target
        loss, spent = assignment_loss(
            sol,
            find_clashes(self.problem, sol.selected),
            self.left_open(node),
            prices,
            cap,
            self.problem.n_arcs,
            _FAR if self.effort is None else JOIN_EFFORT * self.effort,
            self.held(node),
        )
        self.assigned.append(spent)
        return tighten(self.problem, self.w, (ub - loss) // _SCALE)

    def evaluate(self, node: _Node, sol: FlowSolution | None) -> int:
        """Record `sol`'s clash-free repair as a candidate; return its Lagrangian bound."""
        problem = self.problem
        if sol is None:
            raise MatchingError("a penalty alone cannot change the maximum flow")
        sel = sol.selected
        ub = tighten(problem, self.w, self.lagrangian(node, sol) // _SCALE)
        if ub <= self.best_scalar():
            return ub  # a repair, in the branch, could be no better than the best found
        candidate = sel
        clashes = find_clashes(problem, sel)
        if len(clashes) > _REPAIR_AT_MOST:
            return ub  # too far from clash-free to be worth the re-solves a repair costs
        if clashes:
            prefer = {pair: p.drop for pair, p in node.lam.items() if p.drop is not None}
            penalty = self.penalty(node.lam)
            candidate, _ = repair(problem, sol, self.seed, penalty, _SCALE, prefer, node.forbid)
        cand_value = value_of(problem, candidate)
        if cand_value > self.best_value:
            self.best, self.best_value = candidate, cand_value
        return ub


def _scaled(net: Network) -> Network:
    """`net` with its costs (and potentials) in the certificate's units."""
    potential = None if net.potential is None else net.potential * _SCALE
    return dataclasses.replace(net, costs=net.costs * _SCALE, potential=potential)


@dataclass
class _Price:
    """A clash's multiplier, with the bracket bisection keeps: taken both below, neither above."""

    value: int = 0
    low: int = -1  # highest price at which the flow still took both arcs
    high: int | None = None  # lowest price at which it took neither
    drop: int | None = None  # the arc whose removal was cheaper, last time both were taken

    def settle(self) -> None:
        """A closed bracket: price at its low end, which adds no slack to the bound."""
        if self.high is not None and self.high - self.low <= 1:
            self.value = max(self.low, 0)


def _price(
    problem: Problem,
    current: FlowSolution,
    lam: dict[tuple[int, int], _Price],
    budget: _Budget,
    horizons: tuple[int, ...] = (),
) -> bool:
    """Update multipliers from the duals of `current`; False if a clash cannot be priced
    (or the budget is spent).

    `current`'s costs are in the doubled units the prices are in; `horizons` (in those
    units, increasing) are the costs searched within first (see `cheaper`).
    """
    network_of, position = current.locate(problem.n_arcs)
    residuals: dict[int, Residual] = {}

    def cost(arc: int, insert: bool, limit: int | None) -> int | None:
        k, i = int(network_of[arc]), int(position[arc])
        if k not in residuals:
            residuals[k] = Residual(current.networks[k], budget)
        r = residuals[k]
        return r.insertion_cost(i, limit) if insert else r.removal_cost(i, limit)

    def cheaper(pair: tuple[int, int], insert: bool) -> dict[int, int]:
        """The cost of each side of `pair` that can be the cheaper one (ties included).

        Only the cheaper side is ever used, so the second search stops at the first's cost:
        most of a search's work is spent far beyond it. For the same reason both sides are
        first searched within `horizons`, growing: a side that would cost a placement or a
        below-target pair is explored to the end of the graph before its target is reached,
        and needs no exploring at all when the other side costs a few ranks.
        """
        for horizon in (*horizons, None):
            first = cost(pair[0], insert, horizon)
            second = cost(pair[1], insert, horizon if first is None else first)
            if first is not None or second is not None:
                break
        return {a: c for a, c in zip(pair, (first, second), strict=True) if c is not None}

    sel = current.selected
    for pair in find_clashes(problem, sel):  # both arcs taken: price too low
        if budget.exhausted:
            return False
        price = lam.setdefault(pair, _Price())
        if price.high is not None and price.high - price.low <= 1:
            continue  # settled: the repair drops the cheaper side
        removal = cheaper(pair, insert=False)
        if not removal:
            return False  # giving up either arc would cost a Benchmark 8 pair
        price.drop = min(removal, key=lambda a: (removal[a], a))
        price.low = max(price.low, price.value)
        price.value += removal[price.drop] + 1
        if price.high is not None:
            price.value = min(price.value, (price.low + price.high + 1) // 2)
        price.settle()
    for (a, b), price in lam.items():  # neither taken: price too high, the bound is slack
        if price.value > 0 and not sel[a] and not sel[b]:
            price.high = price.value if price.high is None else min(price.high, price.value)
            known = cheaper((a, b), insert=True)
            step = min(known.values()) if known else price.value
            price.value = max(price.value - step, (price.low + price.high + 1) // 2, 0)
            price.settle()
    return True


class _Budget:
    """Node expansions left for shortest-path searches; None means unlimited."""

    def __init__(self, left: int | None) -> None:
        self.left = left

    @property
    def exhausted(self) -> bool:
        return self.left is not None and self.left <= 0

    def spend(self, expansions: int) -> None:
        if self.left is not None:
            self.left -= expansions


class Residual:
    """The residual graph of a solved network, with reduced costs from node potentials."""

    def __init__(self, net: Network, budget: _Budget | None = None) -> None:
        self.budget = budget or _Budget(None)
        self.potential = potential_of(net)
        self.indptr, self.heads, self.reduced, _ = reduced_graph(net, potential=self.potential)
        self.net = net
        self._component: IntArray | None = None
        self._into: Graph | None = None

    @property
    def into(self) -> Graph:
        """The same residual arcs grouped by head, for searches back from a target:
        (indptr, tails, reduced costs)."""
        if self._into is None:
            self._into = Graph(self.indptr, self.heads, self.reduced).reversed()
        return self._into

    @property
    def component(self) -> IntArray:
        """Each node's strongly connected component over the arcs of reduced cost 0.

        Two nodes of one component are at distance 0 both ways. Optima come in large ties
        (interchangeable students and places), so many searches ran through tens of
        thousands of nodes at distance 0 before meeting their target: now they need none.
        """
        if self._component is None:
            tight = kernel(tight_components, len(self.heads))
            self._component = tight(self.indptr, self.heads, self.reduced)
        return self._component

    def removal_cost(self, position: int, limit: int | None = None) -> int | None:
        """Exact cost increase of forcing network arc `position` (carrying flow) to zero.

        None when no cycle can reroute it: removing it would lose a unit of maximum flow;
        or, given `limit`, when it costs more than that.
        """
        net = self.net
        u, v = int(net.tails[position]), int(net.heads[position])
        own = int(net.costs[position]) + int(self.potential[u]) - int(self.potential[v])
        dist = self._dijkstra(u, v, None if limit is None else limit + own)
        return None if dist is None else dist - own

    def insertion_cost(self, position: int, limit: int | None = None) -> int | None:
        """Exact cost increase of forcing network arc `position` (carrying none) to one unit.

        None when nothing can make room for it, or, given `limit`, when it costs more.
        """
        net = self.net
        u, v = int(net.tails[position]), int(net.heads[position])
        own = int(net.costs[position]) + int(self.potential[u]) - int(self.potential[v])
        dist = self._dijkstra(v, u, None if limit is None else limit - own)
        return None if dist is None else dist + own

    def _dijkstra(self, source: int, target: int, limit: int | None) -> int | None:
        """Reduced-cost distance from source to target; None when target is unreachable
        (or farther than `limit`). Each node popped costs one unit of the budget."""
        beyond = _FAR if limit is None else limit + 1
        if beyond > 0 and self.component[source] == self.component[target]:
            self.budget.spend(1)
            return 0
        found, pops = self._search(source, target, beyond)
        self.budget.spend(pops)
        return found

    def _search(self, source: int, target: int, beyond: int) -> tuple[int | None, int]:
        """Dijkstra from both ends over distances below `beyond`: (distance or None, nodes
        popped)."""
        found, pops = kernel(search, len(self.heads))(
            self.indptr, self.heads, self.reduced, *self.into, source, target, min(beyond, _FAR)
        )
        return (None if found < 0 else int(found)), int(pops)


_FAR = 1 << 62  # beyond every reduced-cost path searched (costs stay below 2**62)


def search(
    indptr: IntArray,
    heads: IntArray,
    reduced: IntArray,
    into_ptr: IntArray,
    into_tails: IntArray,
    into_reduced: IntArray,
    source: int,
    target: int,
    beyond: int,
) -> tuple[int, int]:
    """The distance from `source` to `target`, or -1 when it is `beyond` (at most 2**62) or
    more, in the graph whose node u has arcs to heads[indptr[u]:indptr[u + 1]] of
    non-negative `reduced` costs; the same arcs by head are `into_*`. Returns it with the
    nodes popped. Compiled by numba (matching/compiled.py): in plain Python the
    certificate's searches took longer than all its flow solves.

    Dijkstra from both ends at once, each step on the side with the shorter queue; it stops
    once the two least queued distances add up to the best path found (each is at most its
    side's least unsettled distance, so no path is shorter). A territory's networks are
    large plateaus of equal cost: from one end alone, a search settled every node nearer
    than the target, often hundreds of thousands, where the two sides meet within a few
    thousand. Nodes at or beyond the best path so far are not queued.
    """
    n = len(indptr) - 1
    if source == target:
        return (0 if beyond > 0 else -1), 1
    dist = np.full((2, n), _FAR, dtype=np.int64)
    dist[0, source] = 0
    dist[1, target] = 0
    forward = [(np.int64(0), np.int64(source))]
    backward = [(np.int64(0), np.int64(target))]
    best = beyond  # the shortest path found, or `beyond`
    into = (into_ptr, into_tails, into_reduced)
    pops = 0
    while forward and backward:
        if forward[0][0] + backward[0][0] >= best:
            break
        side = 0 if len(forward) <= len(backward) else 1
        heap = forward if side == 0 else backward
        d, node = heapq.heappop(heap)
        pops += 1
        if d > dist[side, node]:
            continue  # queued again nearer since
        ptr, ends, costs = (indptr, heads, reduced) if side == 0 else into
        for i in range(ptr[node], ptr[node + 1]):
            nxt, nd = ends[i], d + costs[i]
            if nd < dist[side, nxt] and nd < best:
                dist[side, nxt] = nd
                heapq.heappush(heap, (nd, nxt))
                there = dist[1 - side, nxt]
                if there < _FAR and nd + there < best:
                    best = nd + there
    return (best if best < beyond else -1), pops
