"""Re-optimise a solved network after a few arcs change cost or capacity, from where it is.

The Lagrangian certificate (matching/lagrange.py) changes the costs of a few dozen clashing
arcs per round, out of hundreds of thousands. Solving the whole network again from nothing
costs the same every round (0.25 s for 10,000 students, measured); starting from the last
optimum costs only the few paths the changed arcs need.

The last optimum comes with node potentials: every residual arc (u, v) has a non-negative
reduced cost c + p[u] - p[v]. After the change, an arc that breaks this is saturated (reduced
cost below zero) or emptied (above zero), which leaves some nodes with more flow in than out
and others with less. Shortest paths then route each surplus to a deficit, in phases
(`augment`: Dijkstra over reduced costs from all surpluses and back from all deficits at
once, then every path of reduced cost 0 it opened), updating the potentials so that every
reduced cost stays non-negative. The result is of minimum cost for the new costs, with the
same flow between source and sink, and comes with the potentials that prove it
(matching/potentials.py), ready for the next round.
"""

from __future__ import annotations

import dataclasses
import heapq

import numpy as np

from matching.compiled import kernel
from matching.errors import MatchingError
from matching.flow import Network
from matching.potentials import by_tail, potentials, residual
from matching.problem import IntArray

_FAR = 1 << 62


def reoptimise(
    net: Network,
    costs: IntArray,
    caps: IntArray | None = None,
    incidence: tuple[IntArray, IntArray] | None = None,
    forward_only: bool = False,
) -> Network | None:
    """`net` re-solved for new arc `costs` (and `caps`), from its current flow, which must be
    of minimum cost for its own costs and capacities (as every solved or re-optimised
    `Network` is): its potentials (`potential_of`) are the starting proof.

    None when the new capacities leave no flow of the same value between source and sink
    (a forbidden arc nothing can replace), and the caller must solve afresh. `incidence`
    (of `incidence_of`) may be passed in by callers that re-optimise one network often: it
    depends on the arcs alone. `forward_only`: see `augment`.
    """
    caps = net.caps if caps is None else caps
    flows = net.flows.copy()
    potential = potential_of(net).copy()
    ptr, incident = incidence_of(net) if incidence is None else incidence
    # The potentials prove `net` optimal, so only the arcs whose cost or capacity changed can
    # break the optimality conditions: `augment` checks those alone. Looking at every arc took
    # 27 ms of a 60 ms re-optimisation at 150,000 students (1.7 million arcs, each reading
    # two potentials at random), and a round's solve takes about a hundred of them.
    changed = np.flatnonzero((costs != net.costs) | (caps != net.caps))
    ok = kernel(augment, len(net.tails))(
        net.n_nodes,
        net.tails,
        net.heads,
        caps,
        costs,
        flows,
        potential,
        changed,
        ptr,
        incident,
        forward_only,
    )
    if not ok:
        return None
    return dataclasses.replace(net, caps=caps, costs=costs, flows=flows, potential=potential)


def with_less_flow(net: Network, amount: int) -> Network:
    """`net` carrying `amount` fewer units from its source (node 0) to its sink (node 1): of
    minimum cost among flows of that value, with potentials that prove it.

    The units come off along the cheapest residual paths from sink back to source: an arc
    from source to sink of `amount` units, priced below every path, is added, re-optimised
    for (`reoptimise`), and taken away again. Its flow is all that passes it; the potentials
    still prove the rest, whose residual arcs are theirs.

    The search goes from the sink alone: both ends are hubs, and the search back from the
    source only adds its hub's hundreds of thousands of arcs to every phase. Giving up 11
    pairs at 150,000 students (tie-break seed 1, the same inputs in turn): 2.75 s against
    3.45 s from both ends.
    """
    if amount <= 0:
        return net
    bypass = -(_FAR >> 4)  # below every path's cost, with room for the potentials to move
    # The arc is added closed, which the potentials prove optimal, then opened at its price.
    extended = dataclasses.replace(
        net,
        tails=np.append(net.tails, 0),
        heads=np.append(net.heads, 1),
        caps=np.append(net.caps, 0),
        costs=np.append(net.costs, 0),
        flows=np.append(net.flows, 0),
        potential=potential_of(net),
    )
    costs, caps = np.append(net.costs, bypass), np.append(net.caps, amount)
    moved = reoptimise(extended, costs, caps, forward_only=True)
    if moved is None or moved.flows[-1] != amount:
        raise MatchingError(f"a flow cannot give up {amount} units: it carries fewer")
    return dataclasses.replace(net, flows=moved.flows[:-1], potential=moved.potential)


def potential_of(net: Network) -> IntArray:
    """The potentials proving `net`'s flow optimal, computed when the solve gave none."""
    if net.potential is not None:
        return net.potential
    found = potentials(*residual(net.tails, net.heads, net.caps, net.costs, net.flows), net.n_nodes)
    if found is None:
        raise RuntimeError("residual graph has a negative cycle: the flow was not optimal")
    return found


def reduced_graph(
    net: Network,
    caps: IntArray | None = None,
    flows: IntArray | None = None,
    potential: IntArray | None = None,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """`net`'s residual graph (for `caps` and `flows`, default its own) at reduced costs of
    its potentials (`potential`, when the caller has them already), as CSR by tail:
    (indptr, heads, reduced costs, the residual arcs' tails in the same order). The reduced
    costs are non-negative where the flows are `net`'s."""
    tails, heads, costs = residual(
        net.tails,
        net.heads,
        net.caps if caps is None else caps,
        net.costs,
        net.flows if flows is None else flows,
    )
    if potential is None:
        potential = potential_of(net)
    reduced = costs + potential[tails] - potential[heads]
    indptr, order = by_tail(tails, net.n_nodes)
    return indptr, heads[order], reduced[order], tails[order]


def cached_incidence(
    cache: dict[int, tuple[IntArray, IntArray]], k: int, net: Network
) -> tuple[IntArray, IntArray]:
    """Network `k`'s `incidence_of`, computed once into `cache`: it depends on the network's
    arcs alone, which re-optimising and giving up flow leave as they are."""
    if k not in cache:
        cache[k] = incidence_of(net)
    return cache[k]


def incidence_of(net: Network) -> tuple[IntArray, IntArray]:
    """Every node's arcs, out and in, as CSR: arc i appears as 2i at its tail, 2i+1 at its head."""
    ends = np.concatenate([net.tails, net.heads])
    ids = np.concatenate(
        [2 * np.arange(len(net.tails), dtype=np.int64), 2 * np.arange(len(net.heads)) + 1]
    )
    ptr, order = by_tail(ends, net.n_nodes)
    incident: IntArray = ids[order]
    return ptr, incident


def augment(
    n_nodes: int,
    tails: IntArray,
    heads: IntArray,
    caps: IntArray,
    costs: IntArray,
    flows: IntArray,
    potential: IntArray,
    check: IntArray,
    ptr: IntArray,
    incident: IntArray,
    forward_only: bool,
) -> bool:
    """Make `flows` (in place) a minimum-cost flow for `costs` and `caps`, and `potential`
    (in place) its proof, given that `potential` proves `flows` optimal for the old costs
    and capacities, which differ from these only on the arcs `check` (distinct). False
    when some surplus can reach no deficit. Compiled by numba.

    Primal-dual, in phases. A phase finds the shortest path from any surplus to any deficit
    by Dijkstra from both ends at once, moves the potentials so that its shortest paths cost
    nothing, and routes as much surplus as it can along residual arcs of reduced cost 0
    between the nodes it touched, depth first, before the next phase.

    Both ends, because most residual arcs of a territory's network have reduced cost 0: a
    search from the surpluses alone settles every node of that plateau nearer than the
    deficit, hundreds of thousands of them per phase, while the search back from the deficit
    often meets it within a few thousand. Each step goes to the side whose queue is shorter,
    and the search stops once the two least unsettled distances add up to the best path
    found. With radii r0 + r1 equal to that path (each at most its side's least unsettled
    distance), a node d0 < r0 from a surplus moves down by r0 - d0 and one d1 < r1 from a
    deficit up by r1 - d1: no node is both (it would lie on a shorter path), every residual
    reduced cost stays non-negative, and those along shortest paths become 0. Measured at 150,000
    students (tie-break seed 1, the eight re-optimisations of a round, on the same inputs):
    17.5 s from the surpluses alone, 8.2 s from both ends; the first global re-optimisation,
    208 forbidden arcs, 8.9 s against 2.5 s. Giving up pairs (`with_less_flow`), whose two
    ends are hubs, searches from one end only (`forward_only`, below).

    Routing keeps to the nodes the search touched, where the path it found lies, so it never
    walks the whole plateau. A depth-first search that finds no deficit leaves its nodes
    marked: none of them can reach one, and routing elsewhere does not change that. One that
    found a deficit unmarks only its path, and nodes it left marked may still reach one, so
    rounds with fresh marks repeat until one routes nothing. Nodes found at the distance
    being settled go to a plain queue, not the heap.

    `forward_only` searches from the surpluses alone: the deficits stay at distance 0 and
    are never expanded, so r1 = 0 and the search stops once the least unsettled distance
    from the surpluses reaches the best path, plain Dijkstra.

    A node found farther than the best path so far is not touched at all: no shorter path
    passes it, and were it the least unsettled node of its side, that side's least
    distance would exceed the best path either way, so the radii are the same. The first
    global re-optimisation of a 150,000-student round relaxes 30 million arcs, mostly the
    hubs' (the source's and the sink's); the re-optimisations of a round after it gives up
    pairs, the same inputs in turn: 4.2-4.4 s before, 3.3-3.5 s after, the same result.
    """
    excess = np.zeros(n_nodes, dtype=np.int64)
    for i in check:
        t, h = tails[i], heads[i]
        if flows[i] > caps[i]:
            d = flows[i] - caps[i]
            flows[i] = caps[i]
            excess[t] += d
            excess[h] -= d
        reduced = costs[i] + potential[t] - potential[h]
        if reduced < 0 and flows[i] < caps[i]:
            d = caps[i] - flows[i]
            flows[i] = caps[i]
            excess[t] -= d
            excess[h] += d
        elif reduced > 0 and flows[i] > 0:
            d = flows[i]
            flows[i] = 0
            excess[t] += d
            excess[h] -= d
    sources = np.flatnonzero(excess > 0)
    sinks = np.flatnonzero(excess < 0)
    # Per direction (0: forward from the surpluses, 1: backward from the deficits): tentative
    # distances, settled flags, the nodes touched, and the queue of nodes found at the
    # distance being settled.
    dist = np.full((2, n_nodes), _FAR, dtype=np.int64)
    settled = np.zeros((2, n_nodes), dtype=np.bool_)
    touched = np.empty((2, n_nodes), dtype=np.int64)
    level = np.empty((2, n_nodes), dtype=np.int64)
    n_touched = np.zeros(2, dtype=np.int64)
    q_head = np.zeros(2, dtype=np.int64)
    q_tail = np.zeros(2, dtype=np.int64)
    current = np.zeros(2, dtype=np.int64)  # the distance being settled
    top = np.zeros(2, dtype=np.int64)  # the least distance not yet settled
    stale = np.zeros(2, dtype=np.bool_)  # sides whose least unsettled distance moved
    seen = np.zeros(n_nodes, dtype=np.int64)  # the routing round that last entered the node
    path_node = np.empty(n_nodes + 1, dtype=np.int64)  # the depth-first search's stack
    path_arc = np.empty(n_nodes + 1, dtype=np.int64)  # incidence id that entered each node
    next_k = np.empty(n_nodes + 1, dtype=np.int64)  # each stacked node's next incidence
    phase = 0
    searched = np.zeros(n_nodes, dtype=np.int64)  # the search that last touched the node
    search = 0
    while True:
        search += 1
        forward = [(np.int64(0), np.int64(0))]
        forward.pop()
        backward = [(np.int64(0), np.int64(0))]
        backward.pop()
        n_touched[:] = 0
        q_head[:] = 0
        q_tail[:] = 0
        current[:] = 0
        for side in range(2):
            ends = sources if side == 0 else sinks
            for s in ends:
                if (excess[s] > 0) if side == 0 else (excess[s] < 0):
                    dist[side, s] = 0
                    touched[side, n_touched[side]] = s
                    n_touched[side] += 1
                    level[side, q_tail[side]] = s
                    q_tail[side] += 1
        if n_touched[0] == 0:
            return True
        if n_touched[1] == 0:
            return False
        best = _FAR  # the shortest path from a surplus to a deficit found so far
        stale[:] = True
        while True:
            for side in range(2):  # the least unsettled distance on each side, exactly
                if not stale[side]:
                    continue
                stale[side] = False
                heap = forward if side == 0 else backward
                while q_head[side] < q_tail[side] and settled[side, level[side, q_head[side]]]:
                    q_head[side] += 1
                while heap and (heap[0][0] > dist[side, heap[0][1]] or settled[side, heap[0][1]]):
                    heapq.heappop(heap)
                if q_head[side] < q_tail[side]:
                    top[side] = current[side]
                elif heap:
                    top[side] = heap[0][0]
                else:
                    top[side] = _FAR
            if top[0] == _FAR or top[1] == _FAR:
                if best == _FAR:
                    return False
                break
            if top[0] + top[1] >= best:
                break
            side = (
                0
                if forward_only
                or q_tail[0] - q_head[0] + len(forward) <= q_tail[1] - q_head[1] + len(backward)
                else 1
            )
            heap = forward if side == 0 else backward
            if q_head[side] < q_tail[side]:
                node = level[side, q_head[side]]
                q_head[side] += 1
            else:
                q_head[side] = 0
                q_tail[side] = 0
                node = heapq.heappop(heap)[1]
                current[side] = dist[side, node]
            d = dist[side, node]
            settled[side, node] = True
            stale[side] = True
            other = 1 - side
            sign = 1 if side == 0 else -1
            for k in range(ptr[node], ptr[node + 1]):
                e = incident[k]
                i = e >> 1
                if (e & 1) == side:  # out of the node along arc i, or into it (backward)
                    if flows[i] >= caps[i]:
                        continue
                    nxt = heads[i] if side == 0 else tails[i]
                    nd = d + costs[i]
                else:  # against arc i, or into the node against it (backward)
                    if flows[i] <= 0:
                        continue
                    nxt = tails[i] if side == 0 else heads[i]
                    nd = d - costs[i]
                nd += sign * (potential[node] - potential[nxt])
                if nd > best:  # on no path shorter than the best found: see above
                    continue
                if nd < dist[side, nxt]:
                    if dist[side, nxt] == _FAR:
                        touched[side, n_touched[side]] = nxt
                        n_touched[side] += 1
                    dist[side, nxt] = nd
                    if nd == d:  # an arc of reduced cost 0: most of them, on these networks
                        level[side, q_tail[side]] = nxt
                        q_tail[side] += 1
                    else:
                        heapq.heappush(heap, (nd, nxt))
                    if dist[other, nxt] < _FAR and nd + dist[other, nxt] < best:
                        best = nd + dist[other, nxt]
        # Potentials, by the radii r0 + r1 = best (see above).
        radius0 = min(top[0], best)
        radius1 = best - radius0
        for side in range(2):
            radius = radius0 if side == 0 else radius1
            for j in range(n_touched[side]):
                v = touched[side, j]
                if dist[side, v] < radius:
                    if side == 0:
                        potential[v] -= radius - dist[side, v]
                    else:
                        potential[v] += radius - dist[side, v]
                dist[side, v] = _FAR
                settled[side, v] = False
                searched[v] = search
        # Route surpluses to deficits along residual arcs of reduced cost 0 between nodes
        # this search touched: any such flow keeps every reduced cost non-negative, so the
        # flow stays optimal. The path found lies there, so each phase routes some.
        routed = True
        while routed:  # until a round with fresh marks routes nothing
            routed = False
            phase += 1
            for s in sources:
                while excess[s] > 0:
                    depth = 0
                    path_node[0] = s
                    next_k[0] = ptr[s]
                    seen[s] = phase
                    found = False
                    while depth >= 0:
                        u = path_node[depth]
                        if depth > 0 and excess[u] < 0:
                            found = True
                            break
                        k = next_k[depth]
                        advanced = False
                        while k < ptr[u + 1]:
                            e = incident[k]
                            k += 1
                            i = e >> 1
                            if e & 1 == 0:
                                if flows[i] >= caps[i]:
                                    continue
                                v = heads[i]
                                reduced = costs[i] + potential[u] - potential[v]
                            else:
                                if flows[i] <= 0:
                                    continue
                                v = tails[i]
                                reduced = potential[u] - potential[v] - costs[i]
                            if reduced != 0 or seen[v] == phase or searched[v] != search:
                                continue
                            seen[v] = phase
                            next_k[depth] = k
                            depth += 1
                            path_node[depth] = v
                            path_arc[depth] = e
                            next_k[depth] = ptr[v]
                            advanced = True
                            break
                        if not advanced:
                            depth -= 1
                    if not found:
                        break
                    end = path_node[depth]
                    amount = min(excess[s], -excess[end])
                    for j in range(1, depth + 1):
                        e = path_arc[j]
                        i = e >> 1
                        amount = min(amount, caps[i] - flows[i] if e & 1 == 0 else flows[i])
                    for j in range(1, depth + 1):
                        e = path_arc[j]
                        i = e >> 1
                        flows[i] += amount if e & 1 == 0 else -amount
                    excess[s] -= amount
                    routed = True
                    excess[end] += amount
                    for j in range(depth + 1):
                        seen[path_node[j]] = 0
