"""The assignment bound: the least that the clashes a Lagrangian's prices leave open cost.

At clash prices lam, the penalised flow x (of minimum cost in every network, with node
potentials) has the Lagrangian value UB(lam). Every clash-free allocation y with the same
pairs is a flow too, and y - x is a circulation: a sum of cycles in x's residual graph, whose
reduced costs add up to what y loses against UB(lam). Besides that, y

* drops an arc of every clash x takes both arcs of (and gives up its price if it drops both);
* takes an arc of every priced clash x takes neither arc of, or gives up its price;
* keeps the arc x takes of a priced clash it takes one arc of, or gives up its price unless
  it takes the other arc instead (and never takes both).

Each arc y changes lies on one of those cycles, and between two changed clash arcs a cycle
runs through no clash arc. So the loss is at least the cheapest way to choose the clash arcs
to change and join them into cycles, each join (from where one changed arc leaves the cycle
to where the next enters it) costing at least the shortest path in the residual graph with
every such clash arc taken out. Choosing and joining is a small assignment problem with side
constraints, solved exactly as a MIP (OR-Tools' SCIP): at 150,000 students, 58 clash arcs.

A join's distance may be capped at any value, or left at the cap where the search stops
early: a lower join cost only lowers the bound, which stays valid. Capping at the gap
between the Lagrangian and the best allocation found loses nothing: a loss that large
proves that allocation optimal.

Where the Lagrangian alone leaves a duality gap (a clash its prices cannot settle, the flow
taking both arcs at one price and neither one unit above), this counts what the two sides
of every such clash really cost together, with the cycles they share.

The clashes x takes one arc of need not be there for the bound to hold: each one left out
only lets y change its two arcs for free. Put in (the dearest first, while the joins'
searches can still walk their whole networks), they close cycles that ran through them for
nothing: of 242 small contested rounds that reach the certificate (30-120 students, exact
fallback off), 227 are proven with them and 224 without, each bound still at or above the
HiGHS optimum. They cost a second pass, taken only where the first falls short: one
70,000-student round (generator seed 3, 19 bounds) was solved in 55 s with them in every
bound's only pass, 38 s without them, and 44 s with the second pass.
Joins at the cap are not in the MIP one by one: an assignment that takes any of them loses
the cap or more, which is as much as the bound can say, so one way out of every element
and one way into every element, at the cap, stand for them all, and the MIP has only the
joins below the cap.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from ortools.linear_solver import pywraplp

from matching.compiled import kernel
from matching.flow import FlowSolution
from matching.potentials import by_tail, tight_components
from matching.problem import IntArray
from matching.reoptimise import potential_of, reduced_graph

# Clash arcs beyond which no bound is sought: the MIP has a join for every two of them in
# one network. Rounds seen have up to a few dozen.
MAX_ELEMENTS = 400
# Branch-and-bound nodes SCIP may take: its best bound so far is valid wherever it stops,
# and a node count, unlike a time limit, stops it at the same place on every machine.
MIP_NODES = 20_000
JOIN_THREADS = 2  # the machines this runs on have two cores or more
_FAR = 1 << 62


@dataclass(frozen=True)
class Element:
    """A clash arc the flow must change: the residual arc that changes it runs from `enter`
    to `leave` in its network, at reduced cost `own`."""

    arc: int
    network: int
    position: int  # its index in the network
    insert: bool  # taken by the clash-free allocation where the flow leaves it out
    own: int
    enter: int
    leave: int


@dataclass(frozen=True)
class Spent:
    """What the bound cost: nodes popped by the joins' searches, and the MIP's size."""

    pops: int
    elements: int
    joins: int


def assignment_loss(
    flow: FlowSolution,
    taken: list[tuple[int, int]],
    open_: list[tuple[int, int]],
    prices: dict[tuple[int, int], int],
    cap: int,
    n_arcs: int,
    allowance: int,
    held: Sequence[tuple[int, int]] = (),
) -> tuple[int, Spent]:
    """A lower bound on what every clash-free allocation loses against `flow`'s Lagrangian,
    in `flow`'s cost units, at most `cap` (or 0 when the round has too many clash arcs).

    `taken`: the clashes `flow` takes both arcs of. `open_`: the priced clashes it takes
    neither arc of. `held`: the priced clashes it takes one arc of; when the bound
    without them falls short of `cap`, it is sought again with those that fit put in, the
    dearest first, and the larger of the two holds. `prices`: every clash's price (0 when
    absent).
    `allowance`: the nodes each pass's joins' searches may pop together; a search stopped
    early bounds the targets it has not reached by the distance it got to.
    """
    network_of, position = flow.locate(n_arcs)
    elements: list[Element] = []
    index: dict[int, int] = {}

    def add(arcs: tuple[int, ...]) -> None:
        for arc in arcs:
            if arc in index:
                continue
            k, i = int(network_of[arc]), int(position[arc])
            if k < 0 or flow.networks[k].flows[i] == flow.networks[k].caps[i] == 0:
                continue  # in no network, or forbidden: no allocation here takes it
            net = flow.networks[k]
            potential = potential_of(net)
            u, v = int(net.tails[i]), int(net.heads[i])
            reduced = int(net.costs[i]) + int(potential[u]) - int(potential[v])
            insert = bool(net.flows[i] == 0)
            enter, leave = (u, v) if insert else (v, u)
            index[arc] = len(elements)
            own = reduced if insert else -reduced
            elements.append(Element(arc, k, i, insert, own, enter, leave))

    for pair in [*taken, *open_]:
        add(pair)
    if not elements or len(elements) > MAX_ELEMENTS or cap <= 0:
        return 0, Spent(0, len(elements), 0)
    joins, pops = _joins(flow, elements, cap, allowance)
    loss = _least_loss(elements, index, joins, taken, open_, prices, cap)
    if loss >= cap:
        return cap, Spent(pops, len(elements), len(joins))
    # Short of the cap: again with held clashes, while every search may still walk its
    # whole network (a search stopped early bounds its joins by where it got to, and more
    # elements sharing one allowance weaken the joins of all of them).
    before = len(elements)
    largest = max(flow.networks[k].n_nodes for k in {e.network for e in elements})
    room = min(MAX_ELEMENTS, allowance // max(largest, 1))
    kept: list[tuple[int, int, int]] = []  # (the arc the flow takes, the other, the price)
    for pair in sorted(held, key=lambda p: (-prices[p], p)):
        if len(elements) + sum(a not in index for a in pair) > room:
            break
        add(pair)
        keep, other = pair if flow.selected[pair[0]] else pair[::-1]
        if keep in index:  # otherwise forbidden, and nothing to keep
            kept.append((keep, other, prices[pair]))
    if not kept:
        return loss, Spent(pops, before, len(joins))
    joins, more = _joins(flow, elements, cap, allowance)
    loss = max(loss, _least_loss(elements, index, joins, taken, open_, prices, cap, kept))
    return min(loss, cap), Spent(pops + more, len(elements), len(joins))


def _joins(
    flow: FlowSolution, elements: list[Element], cap: int, allowance: int
) -> tuple[dict[tuple[int, int], int], int]:
    """Each join's cost (s, t) -> own reduced cost of s plus a lower bound on the distance
    from where s leaves to where t enters (exact where the search settles t), at most
    `cap`, within each network; and the nodes popped, at most about `allowance`."""
    joins: dict[tuple[int, int], int] = {}
    pops = 0
    each = max(allowance // len(elements), 1)  # nodes one search may pop
    for k in sorted({e.network for e in elements}):
        members = [j for j, e in enumerate(elements) if e.network == k]
        graph, component = _closed(flow, k, [elements[j] for j in members])
        sources = component[[elements[j].leave for j in members]]
        limits = np.array([max(cap - elements[j].own, 0) for j in members], dtype=np.int64)
        targets = component[[elements[j].enter for j in members]]
        dist, popped = _matrix(graph, sources, limits, targets, each)
        pops += popped
        for a, s in enumerate(members):
            own = elements[s].own
            for b, t in enumerate(members):
                joins[(s, t)] = min(cap, own + int(dist[a, b]))
    return joins, pops


class Graph(NamedTuple):
    """A graph as `distances` takes it: node u's arcs go to heads[indptr[u]:indptr[u + 1]],
    at non-negative `reduced` costs."""

    indptr: IntArray
    heads: IntArray
    reduced: IntArray

    def reversed(self) -> Graph:
        """The same arcs, each turned round."""
        n = len(self.indptr) - 1
        tails = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.indptr))
        indptr, order = by_tail(self.heads, n)
        return Graph(indptr, tails[order], self.reduced[order])


def _matrix(
    graph: Graph, sources: IntArray, limits: IntArray, targets: IntArray, each: int
) -> tuple[IntArray, int]:
    """What `distances` finds with `each` pops a source, from one search per distinct
    source, or per distinct target over the arcs reversed where those are fewer: several
    clash arcs leave or enter at one offer, or one component of reduced cost 0 (at 70,000
    students, 88 clash arcs leave from 67 places and enter at 47). A search serving several
    rows or columns pops that many times `each` at most, and goes as far as the largest
    limit it serves; each entry is capped at its own row's limit after."""
    from_s, row = np.unique(sources, return_inverse=True)
    into_t, col = np.unique(targets, return_inverse=True)
    allowance = each * len(sources)
    if len(into_t) < len(from_s):
        reach = np.full(len(into_t), int(limits.max()), dtype=np.int64)
        each_t = max(allowance // len(into_t), 1)
        back, pops = _search_all(graph.reversed(), into_t, reach, from_s, each_t)
        found = back.T
    else:
        reach = np.zeros(len(from_s), dtype=np.int64)
        np.maximum.at(reach, row, limits)
        each_s = max(allowance // len(from_s), 1)
        found, pops = _search_all(graph, from_s, reach, into_t, each_s)
    dist: IntArray = np.minimum(found[row][:, col], limits[:, None])
    return dist, pops


def _closed(flow: FlowSolution, k: int, members: list[Element]) -> tuple[Graph, IntArray]:
    """Network `k`'s residual graph at reduced costs with the clash arcs `members` taken
    out, condensed: each strongly connected component of its arcs of reduced cost 0 is one
    node (its nodes are at distance 0 from each other). Returns the condensed graph and each
    node's component.

    At 150,000 students the searches walk nearly all of it: condensed, 550,000 nodes
    instead of 650,000, and half the time."""
    net = flow.networks[k]
    caps, flows = net.caps.copy(), net.flows.copy()
    for e in members:
        caps[e.position] = 0
        flows[e.position] = 0
    indptr, heads, reduced, tails = reduced_graph(net, caps, flows)
    component = kernel(tight_components, len(heads))(indptr, heads, reduced)
    outer, inner = component[tails], component[heads]
    between = outer != inner
    c_indptr, c_order = by_tail(outer[between], int(component.max()) + 1)
    return Graph(c_indptr, inner[between][c_order], reduced[between][c_order]), component


def _search_all(
    graph: Graph, sources: IntArray, limits: IntArray, targets: IntArray, each: int
) -> tuple[IntArray, int]:
    """`distances` from every source, the sources split between JOIN_THREADS threads (the
    compiled search releases the GIL); the same result as one call."""
    search = kernel(distances, len(graph.heads) * len(sources))
    if search is distances or len(sources) < 2 * JOIN_THREADS:
        dist, pops = search(*graph, sources, limits, targets, each)
        return dist, int(pops)
    chunks = np.array_split(np.arange(len(sources)), JOIN_THREADS)
    with ThreadPoolExecutor(JOIN_THREADS) as pool:
        parts = list(
            pool.map(lambda c: search(*graph, sources[c], limits[c], targets, each), chunks)
        )
    return np.vstack([d for d, _ in parts]), sum(int(p) for _, p in parts)


def _least_loss(
    elements: list[Element],
    index: dict[int, int],
    joins: dict[tuple[int, int], int],
    taken: list[tuple[int, int]],
    open_: list[tuple[int, int]],
    prices: dict[tuple[int, int], int],
    cap: int,
    held: Sequence[tuple[int, int, int]] = (),
) -> int:
    """The assignment MIP's optimum (or its best bound, where SCIP stops early), at most
    `cap`. `held`: the clashes the flow takes one arc of, as (the arc taken, the other, the
    price), both arcs' elements in `index` except an other arc no allocation can take."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:  # pragma: no cover - OR-Tools ships SCIP
        return 0
    solver.SetNumThreads(1)
    solver.SetSolverSpecificParametersAsString(f"limits/totalnodes = {MIP_NODES}\n")
    use = [solver.BoolVar(f"y{j}") for j in range(len(elements))]
    objective = solver.Objective()
    partner: dict[int, int] = {}  # insertion arcs of one open clash: never on one cycle
    for a, b in open_:
        if a in index and b in index:
            partner[index[a]] = index[b]
            partner[index[b]] = index[a]
    outgoing: list[list[pywraplp.Variable]] = [[] for _ in elements]
    incoming: list[list[pywraplp.Variable]] = [[] for _ in elements]
    for (s, t), cost in joins.items():
        if partner.get(s) == t or cost >= cap:
            continue
        z = solver.BoolVar(f"z{s}_{t}")
        objective.SetCoefficient(z, cost)
        outgoing[s].append(z)
        incoming[t].append(z)
    # Every join at the cap or beyond, through one hub: out of an element at the cap, into
    # one for nothing (see the module's docstring).
    far_out = [solver.BoolVar(f"out{j}") for j in range(len(elements))]
    far_in = [solver.BoolVar(f"in{j}") for j in range(len(elements))]
    for j in range(len(elements)):
        objective.SetCoefficient(far_out[j], cap)
        outgoing[j].append(far_out[j])
        incoming[j].append(far_in[j])
    solver.Add(solver.Sum(far_out) == solver.Sum(far_in))
    for j, var in enumerate(use):
        solver.Add(solver.Sum(outgoing[j]) == var)
        solver.Add(solver.Sum(incoming[j]) == var)
    for a, b in taken:
        ya, yb = use[index[a]], use[index[b]]
        solver.Add(ya + yb >= 1)
        price = prices.get((a, b), 0)
        if price > 0:
            both = solver.BoolVar(f"both{a}_{b}")
            solver.Add(both >= ya + yb - 1)
            objective.SetCoefficient(both, price)
    for a, b in open_:
        pay = solver.BoolVar(f"pay{a}_{b}")
        objective.SetCoefficient(pay, prices[(a, b)])
        sides = [use[index[x]] for x in (a, b) if x in index]
        solver.Add(pay + solver.Sum(sides) == 1)
    for keep, other, price in held:
        out = use[index[keep]]  # the allocation leaves out the arc the flow takes
        pay = solver.BoolVar(f"held{keep}_{other}")
        objective.SetCoefficient(pay, price)
        if other in index:
            into = use[index[other]]  # and takes the other instead, or pays
            solver.Add(into <= out)
            solver.Add(pay >= out - into)
        else:
            solver.Add(pay >= out)
    objective.SetMinimization()
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(pywraplp.MPSolverParameters.RELATIVE_MIP_GAP, 0.0)
    status = solver.Solve(params)
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return 0
    # Integer costs: the optimum is an integer at or above the best bound, which SCIP
    # reports within its floating-point tolerances (relative, on costs of 10^8 and more).
    bound = objective.BestBound()
    return max(0, min(cap, int(np.ceil(bound - max(1e-6, 1e-9 * abs(bound))))))


def distances(
    indptr: IntArray,
    heads: IntArray,
    reduced: IntArray,
    sources: IntArray,
    limits: IntArray,
    targets: IntArray,
    each: int,
) -> tuple[IntArray, int]:
    """dist[a, b]: a lower bound on the distance from sources[a] to targets[b], at most
    limits[a], in the graph whose node u has arcs to heads[indptr[u]:indptr[u + 1]] of
    non-negative `reduced` costs; with the nodes popped. Compiled by numba.

    Dijkstra from each source, until every target is settled (its distance exact), nothing
    nearer than the limit is left (the rest are at the limit or beyond), or it has popped
    `each` nodes: then every unsettled node is at least as far as the distance it was
    settling. Nodes reached at the distance being settled (arcs of reduced cost 0, most of
    them on these networks) go to a plain queue, not the heap.
    """
    n = len(indptr) - 1
    m = len(targets)
    out = np.zeros((len(sources), m), dtype=np.int64)
    dist = np.full(n, _FAR, dtype=np.int64)
    settled = np.zeros(n, dtype=np.bool_)
    wanted = np.zeros(n, dtype=np.bool_)
    touched = np.empty(n, dtype=np.int64)
    level = np.empty(n, dtype=np.int64)
    pops = 0
    for a in range(len(sources)):
        limit = limits[a]
        left = 0  # distinct targets not settled yet
        for b in range(m):
            if not wanted[targets[b]]:
                wanted[targets[b]] = True
                left += 1
        heap = [(np.int64(0), np.int64(0))]
        heap.pop()
        n_touched = 0
        q_head = q_tail = 0
        if limit > 0:
            dist[sources[a]] = 0
            touched[0] = level[0] = sources[a]
            n_touched = q_tail = 1
        current = 0  # the distance being settled
        reached = limit  # every unsettled node is at least this far
        popped = 0
        while left > 0:
            if popped >= each:
                reached = current
                break
            if q_head < q_tail:
                node = level[q_head]
                q_head += 1
            else:
                q_head = q_tail = 0
                node = -1
                while heap:
                    d, v = heapq.heappop(heap)
                    if d == dist[v] and not settled[v]:
                        node = v
                        current = int(d)
                        break
                if node < 0:
                    break
            if settled[node]:
                continue
            settled[node] = True
            popped += 1
            if wanted[node]:
                left -= 1
            for i in range(indptr[node], indptr[node + 1]):
                nxt = heads[i]
                nd = current + reduced[i]
                if nd >= limit or nd >= dist[nxt]:
                    continue
                if dist[nxt] == _FAR:
                    touched[n_touched] = nxt
                    n_touched += 1
                dist[nxt] = nd
                if nd == current:
                    level[q_tail] = nxt
                    q_tail += 1
                else:
                    heapq.heappush(heap, (nd, nxt))
        pops += popped
        for b in range(m):
            t = targets[b]
            out[a, b] = dist[t] if settled[t] else min(reached, limit)
            wanted[t] = False
        for j in range(n_touched):
            v = touched[j]
            dist[v] = _FAR
            settled[v] = False
    return out, pops
