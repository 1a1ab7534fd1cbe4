"""Min-cost-flow relaxation: exact for everything but clashes between two allocations.

Two kinds of network, each solved on its own:

* Benchmark 8 (L1 and L2/L3 together). Per student four nodes: r_in -> r_out carries the
  student's L1 side, o_in -> o_out their L2/L3 side, each capacity 1. A flow path
  S -> L1 offer -> r_in -> r_out -> o_in -> o_out -> L2/L3 offer -> T is a student completing
  the pair; attended (or pinned) encounters enter as arcs S -> r_in and o_out -> T. Single
  placements are circulations: S -> L1 offer -> r_in -> r_out -> S, and
  T -> o_in -> o_out -> L2/L3 offer -> T. `solve_max_flow_with_min_cost` maximises the S-T
  flow first, which is objective level 1 exactly, then minimises cost among maximum flows.
* Further education (one network per group): S -> offer -> student -> S circulations.

Levels 2-4 become one integer cost with weights large enough that a higher level always
dominates every possible change of the lower ones (see `weights`), so the minimum-cost flow is
the lexicographic optimum. The weights are shared by all networks, so their costs add up to
one scalar (`scalar`), which the Lagrangian certificate in `matching/lagrange.py` relies on.

OR-Tools refuses an arc cost above int64_max / (2 * (nodes + 1)), and stops with
BAD_COST_RANGE when node potentials drift that far during the solve; so weights are kept as
small as the lexicographic argument allows.

Smaller still is faster: the cost-scaling solver runs one phase per factor of five in the cost
range. An unpenalised network is first solved with much smaller weights (`_fast_weights`),
then proven optimal for the exact ones by node potentials (matching/potentials.py); when that
proof fails it is solved with weights eight times larger, proven the same way, and with the
exact weights only when that fails too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from matching.errors import InvalidInstance, MatchingError
from matching.objective import Objective, objective
from matching.potentials import potentials, residual
from matching.problem import FE_INTERACTION, FE_VISIT, L1, L23, BoolArray, IntArray, Problem

# OR-Tools' cost scaling multiplies costs by (nodes + 1); keep well inside int64.
_COST_LIMIT = 2**62
_TOO_LARGE = "round too large for exact lexicographic weights; split it into school clusters"

NETWORKS: tuple[tuple[int, ...], ...] = ((L1, L23), (FE_VISIT,), (FE_INTERACTION,))
FAST_FACTORS = (8, 64)  # fast weights tried in turn before the exact ones: see `_fast_weights`
# Bellman-Ford rounds allowed to prove a fast solve optimal; the networks seen settle in < 100
# (a flow that is not optimal never settles).
CHECK_ROUNDS = 300


@dataclass(frozen=True)
class Weights:
    placement: int  # per unit of placement weight (level 3), shared by every network
    below_target: int  # per below-target pair (level 2) over all networks: the exact scalar
    below_target_b8: int  # the same, enough inside the Benchmark 8 network alone


@dataclass(frozen=True)
class Network:
    """A solved network. Its first len(arcs) arcs are the candidate arcs `arcs`, in order.

    `costs` are always the exact lexicographic costs of `weights` with level 2 at the global
    weight (`Weights.below_target`), whatever weights the solver was given (see
    `_solve_checked`)."""

    arcs: IntArray
    tails: IntArray
    heads: IntArray
    caps: IntArray
    costs: IntArray
    flows: IntArray
    n_nodes: int
    potential: IntArray | None = None  # proves `flows` optimal for `costs`, when known

    def closing(self, forbid: BoolArray) -> IntArray:
        """The capacities with every candidate arc in `forbid` (over all candidate arcs) at
        0: `caps` itself when they are all closed already."""
        n = len(self.arcs)
        shut = forbid[self.arcs] & (self.caps[:n] > 0)
        if not shut.any():
            return self.caps
        caps = self.caps.copy()
        caps[:n][shut] = 0
        return caps

    def positions(self, n_arcs: int) -> IntArray:
        """Each of the round's `n_arcs` candidate arcs' index in this network, -1 if absent."""
        position = np.full(n_arcs, -1, dtype=np.int64)
        position[self.arcs] = np.arange(len(self.arcs))
        return position


@dataclass(frozen=True)
class FlowSolution:
    selected: BoolArray  # per candidate arc
    max_pairs: int  # S-T flow of the Benchmark 8 network: new pairs (level 1 minus constants)
    networks: dict[int, Network]

    def locate(self, n_arcs: int) -> tuple[IntArray, IntArray]:
        """Each of the round's `n_arcs` candidate arcs' network and its index there, -1 and
        -1 when no network holds it."""
        network = np.full(n_arcs, -1, dtype=np.int64)
        position = np.full(n_arcs, -1, dtype=np.int64)
        for k, net in self.networks.items():
            network[net.arcs] = k
            position[net.arcs] = np.arange(len(net.arcs))
        return network, position


def weights(problem: Problem, arcs: IntArray | None = None) -> Weights:
    """Weights that make one integer cost lexicographic over levels 2-4 (of `arcs`, default all).

    With P student-group slots that have a candidate, any allocation's level-4 cost lies in
    [0, P * max_cost], so a placement weight above that outranks every rank trade-off; the
    below-target weight likewise exceeds the largest possible level-3 + level-4 change.
    Level 2 lives in the Benchmark 8 network only, so its flow needs a weight that outweighs
    that network's own lower levels (`below_target_b8`); the scalar that compares whole
    allocations (`scalar`) uses the larger, global one. Python integers: no overflow there.

    The whole round's weights (`arcs` None) also cover the pins, whose placements and rank
    costs every allocation's objective holds as constants: `decode` reads a whole
    allocation's levels back from its scalar only when the lower levels, constants
    included, stay inside their weights. They are computed once per problem (0.4 s at
    150,000 students) and kept in `Problem.memo`.

    A sub-problem over fewer arcs (a local re-solve, `solve_local`) needs only its own arcs'
    weights: smaller costs, so fewer cost-scaling phases in OR-Tools.
    """
    if arcs is None:
        return problem.cached("weights", lambda: _weights(problem, np.arange(problem.n_arcs), True))
    return _weights(problem, arcs, False)


def _weights(problem: Problem, arcs: IntArray, pins: bool) -> Weights:
    pin_cost = pin_weight = 0
    if pins:
        rules = problem.instance.rules
        for s, o in problem.pinned:
            pin_cost += rules.rank_cost(problem.ranked.get(s, {}).get(o))
            pin_weight += int(problem.weight[s])
    if len(arcs) == 0 and not pin_cost and not pin_weight:
        return Weights(1, 1, 1)
    max_cost = int(problem.arc_cost[arcs].max()) if len(arcs) else 0
    slots = np.unique(problem.arc_student[arcs] * 4 + problem.arc_group[arcs])
    spread = len(slots) * max_cost + pin_cost  # the largest level-4 cost
    placement = spread + 1
    b8 = slots[np.isin(slots % 4, (L1, L23))]
    return Weights(
        placement,
        placement * (int(problem.weight[slots // 4].sum()) + pin_weight) + spread + 1,
        placement * int(problem.weight[b8 // 4].sum()) + len(b8) * max_cost + 1,
    )


def scalar(w: Weights, value: Objective) -> int:
    """Levels 2-4 as the one number the flows optimise (level 1 is the max flow)."""
    return w.below_target * value[1] + w.placement * value[2] + value[3]


def decode(w: Weights, value: int) -> tuple[int, int, int]:
    """Levels 2-4 of the largest objective whose scalar is `value`."""
    below, rest = divmod(value, w.below_target)
    placements = -(-rest // w.placement)
    return below, placements, rest - placements * w.placement


def level4_range(problem: Problem) -> tuple[int, int]:
    """The least and the greatest level 4 any allocation can have: the pins' rank costs, less
    up to the dearest candidate of every student-group slot. Kept in `Problem.memo`."""

    def build() -> tuple[int, int]:
        dearest = np.zeros(problem.n_students * 4, dtype=np.int64)
        np.maximum.at(dearest, problem.arc_student * 4 + problem.arc_group, problem.arc_cost)
        constant = objective(problem, [])[3]
        return constant - int(dearest.sum()), constant

    return problem.cached("level4_range", build)


def tighten(problem: Problem, w: Weights, value: int) -> int:
    """The largest scalar at most `value` that an allocation can have: a bound on the scalar
    read level by level.

    `decode` lets level 4 go as low as the weights allow, which is every slot at the
    dearest cost of the whole round. A bound whose placements an allocation could meet only
    with rank costs beyond what its slots can cost (`level4_range`) holds one placement
    fewer, at any rank cost. (150,000 students: the certificate's 376,946 placements needed
    4.83 million of rank costs, and no allocation can cost more than 3.83 million.)
    """
    lowest, highest = level4_range(problem)
    below, placements, rank = decode(w, value)
    if rank >= lowest:
        return value
    return w.below_target * below + w.placement * (placements - 1) + highest


def solve_relaxation(problem: Problem, seed: int) -> FlowSolution:
    """Solve every network, unpenalised: the relaxation whose optimum bounds the round.

    (Penalised and forbidding variants re-optimise these networks, matching/reoptimise.py,
    or solve a neighbourhood, `solve_local`.)
    """
    w = weights(problem)
    fast = _fast_weights(problem, None)
    extra = np.zeros(problem.n_arcs, dtype=np.int64)
    selected = np.zeros(problem.n_arcs, dtype=np.bool_)
    members = np.arange(problem.n_students, dtype=np.int64)
    max_pairs = 0
    solved: dict[int, Network] = {}
    for k in range(len(NETWORKS)):
        arcs = _seeded(problem, in_network(problem, k), seed, k)
        if k == 0:
            net, max_pairs = _solve_b8(problem, arcs, members, problem.capacity, w, extra, 1, fast)
        else:
            net = _solve_single(problem, arcs, members, problem.capacity, w, extra, 1, fast)
        solved[k] = net
        selected[net.arcs[net.flows[: len(net.arcs)] > 0]] = True
    return FlowSolution(selected, max_pairs, solved)


def in_network(problem: Problem, network: int) -> BoolArray:
    """Which candidate arcs belong to `network`: kept in `Problem.memo`, since every local
    re-solve of the repair and the certificate asks."""

    def build() -> BoolArray:
        mask: BoolArray = np.isin(problem.arc_group, NETWORKS[network])
        mask.flags.writeable = False  # shared: nobody may change it
        return mask

    return problem.cached(f"in_network_{network}", build)


def solve_local(
    problem: Problem,
    selected: BoolArray,
    forbid: BoolArray,
    members: IntArray,
    network: int,
    seed: int,
    penalty: IntArray | None = None,
    scale: int = 1,
) -> BoolArray:
    """Re-optimise `network` for the students `members` (sorted) alone, all others fixed.

    The students outside keep their allocations in `selected`, which take their places out
    of each offer's capacity; the members' arcs in the network are free (except `forbid`).
    Returns `selected` with the members' arcs in the network replaced by the sub-problem's
    lexicographic optimum, so the result is never worse than the members' part of `selected`
    minus forbidden arcs: that part is feasible for the sub-problem.
    """
    in_net = in_network(problem, network)
    member = np.zeros(problem.n_students, dtype=np.bool_)
    member[members] = True
    inside = in_net & member[problem.arc_student]
    outside_taken = problem.arc_offer[selected & in_net & ~inside]
    capacity = problem.capacity - np.bincount(outside_taken, minlength=len(problem.offers))
    arcs = _seeded(problem, inside & ~forbid, seed, network)
    extra = penalty if penalty is not None else np.zeros(problem.n_arcs, dtype=np.int64)
    w = _penalised(weights(problem, arcs), None if penalty is None else penalty[arcs], scale)
    fast = () if penalty is not None else _fast_weights(problem, arcs, scale)
    if network == 0:
        net, _ = _solve_b8(problem, arcs, members, capacity, w, extra, scale, fast)
    else:
        net = _solve_single(problem, arcs, members, capacity, w, extra, scale, fast)
    out = selected & ~inside
    out[net.arcs[net.flows[: len(net.arcs)] > 0]] = True
    return out


def _seeded(problem: Problem, mask: BoolArray, seed: int, network: int) -> IntArray:
    """The arcs of `mask` in the seeded order that breaks ties between equal optima."""
    arcs: IntArray = np.random.default_rng(seed + network).permutation(np.flatnonzero(mask))
    return arcs


def _penalised(w: Weights, penalty: IntArray | None, scale: int) -> Weights:
    """`w` in units of 1/`scale`, with a Benchmark 8 level-2 weight that outweighs `penalty`."""
    b8 = w.below_target_b8 * scale
    if penalty is not None:
        # A penalised flow must maximise the exact Lagrangian (matching/lagrange.py). With the
        # global weight its cost is that Lagrangian; with a smaller weight that still outweighs
        # every lower level and penalty it maximises level 2 first, which is as good. Take the
        # smaller of the two: costs must stay small for OR-Tools.
        b8 = min(w.below_target * scale, b8 + int(np.abs(penalty).sum()))
    return Weights(w.placement * scale, w.below_target * scale, b8)


def _fast_weights(problem: Problem, arcs: IntArray | None, scale: int = 1) -> tuple[Weights, ...]:
    """Weights far smaller than `weights`, one set per factor of `FAST_FACTORS`, smallest first
    (in units of 1/`scale`). The first gives the same optimum on every round seen.

    `weights` must outweigh every change of the lower levels any allocation could make; the
    changes an optimum actually trades are a few students' worth. OR-Tools' cost scaling runs
    one phase per factor of five in the cost range, so these solve two to three times faster
    (the Benchmark 8 network of 150,000 students: 14-19 s with a factor of 8, 15 s with 64,
    39-43 s with the exact weights). `_solve_checked` proves the result optimal for the exact
    weights, and solves again with the next set when it is not, then with the exact weights:
    a round on which the first set fails costs one more fast solve, not an exact one.
    """
    costs = problem.arc_cost if arcs is None else problem.arc_cost[arcs]
    max_cost = int(costs.max()) if len(costs) else 0
    most = int(problem.weight.max(initial=1))
    ladder = []
    for factor in FAST_FACTORS:
        placement = factor * max_cost + 1
        b8 = factor * (placement * most + max_cost) + 1
        ladder.append(_penalised(Weights(placement, b8, b8), None, scale))
    return tuple(ladder)


def _solve_checked(
    tails: IntArray,
    heads: IntArray,
    caps: IntArray,
    costs_of: Callable[[Weights], IntArray],
    w: Weights,
    fast: tuple[Weights, ...],
    n_nodes: int,
    supply: int,
    what: str,
) -> tuple[min_cost_flow.SimpleMinCostFlow, IntArray, IntArray, IntArray | None]:
    """Solve with the first `fast` weights whose result is provably optimal for `w` (node
    potentials for `w`'s costs exist: matching/potentials.py), else with `w`.

    Returns the solver, the flows, the costs kept (`Network.costs`) and the potentials when
    computed.
    """
    # The costs kept, and proven optimal: level 2 at the global weight, so that every
    # network's costs add up to the scalar (`scalar`) and the certificate's penalised costs
    # differ from them on the penalised arcs alone. The optimal flows are the same for both
    # weights (each makes level 2 dominate), but OR-Tools takes the smaller.
    costs = costs_of(dataclasses.replace(w, below_target_b8=w.below_target))
    for rung in fast:
        if rung.placement >= w.placement:
            break  # no faster than the exact weights
        mcf, flows = _run(tails, heads, caps, costs_of(rung), n_nodes, supply, what)
        found = potentials(*residual(tails, heads, caps, costs, flows), n_nodes, CHECK_ROUNDS)
        if found is not None:
            return mcf, flows, costs, found
    mcf, flows = _run(tails, heads, caps, costs_of(w), n_nodes, supply, what)
    return mcf, flows, costs, None


def _arc_costs(
    problem: Problem, arcs: IntArray, w: Weights, extra: IntArray, scale: int
) -> IntArray:
    costs: IntArray = (
        scale * problem.arc_cost[arcs] - w.placement * problem.weight[problem.arc_student[arcs]]
    ) + extra[arcs]
    return costs


def _run(
    tails: IntArray,
    heads: IntArray,
    caps: IntArray,
    costs: IntArray,
    n_nodes: int,
    supply: int,
    what: str,
) -> tuple[min_cost_flow.SimpleMinCostFlow, IntArray]:
    if len(costs) and int(np.abs(costs).max()) * (n_nodes + 1) >= _COST_LIMIT:
        raise InvalidInstance(_TOO_LARGE)
    mcf = min_cost_flow.SimpleMinCostFlow()
    if len(tails):
        mcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    if supply:
        mcf.set_node_supply(0, supply)
        mcf.set_node_supply(1, -supply)
        status = mcf.solve_max_flow_with_min_cost()
    else:
        status = mcf.solve()
    if status == mcf.BAD_COST_RANGE:
        raise InvalidInstance(_TOO_LARGE)
    if status != mcf.OPTIMAL:
        raise MatchingError(f"min-cost flow ({what}) ended with status {status!r}")
    flows: IntArray = mcf.flows(np.arange(len(tails), dtype=np.int64)).astype(np.int64)
    return mcf, flows


def _solve_b8(
    problem: Problem,
    arcs: IntArray,
    members: IntArray,
    capacity: IntArray,
    w: Weights,
    extra: IntArray,
    scale: int,
    fast: tuple[Weights, ...] = (),
) -> tuple[Network, int]:
    """The Benchmark 8 network of the students `members` (sorted; they own every arc)."""
    n_off = len(problem.offers)
    n = len(members)
    source, sink, off0, stu0 = 0, 1, 2, 2 + n_off
    students = np.arange(n, dtype=np.int64)  # local student numbers
    r_in, r_out = stu0 + 4 * students, stu0 + 4 * students + 1
    o_in, o_out = stu0 + 4 * students + 2, stu0 + 4 * students + 3
    s_arc = np.searchsorted(members, problem.arc_student[arcs])
    o_arc = problem.arc_offer[arcs]
    is_l1 = problem.arc_group[arcs] == L1

    offers = np.arange(n_off, dtype=np.int64)
    l1_off = offers[problem.offer_group == L1]
    l23_off = offers[problem.offer_group == L23]
    has_l1, has_l23 = problem.has_l1[members], problem.has_l23[members]
    att1 = students[has_l1]
    att23 = students[has_l23]
    pair_ok = students[~(has_l1 & has_l23)]
    below = problem.below_target[members]
    ones = np.ones(n, dtype=np.int64)

    parts: list[tuple[IntArray, IntArray, IntArray]] = [
        # candidate arcs first, so their ids are 0..len(arcs)-1
        (
            np.where(is_l1, off0 + o_arc, o_out[s_arc]),
            np.where(is_l1, r_in[s_arc], off0 + o_arc),
            np.ones(len(arcs), dtype=np.int64),
        ),
        (np.full(len(l1_off), source), off0 + l1_off, capacity[l1_off]),
        (off0 + l23_off, np.full(len(l23_off), sink), capacity[l23_off]),
        (np.full(len(att1), source), r_in[att1], ones[att1]),
        (r_in, r_out, ones),
        (r_out[pair_ok], o_in[pair_ok], ones[pair_ok]),  # the pair arcs
        (r_out, np.full(n, source), ones),
        (np.full(n, sink), o_in, ones),
        (o_in, o_out, ones),
        (o_out[att23], np.full(len(att23), sink), ones[att23]),
    ]
    tails, heads, caps = (np.concatenate([p[i] for p in parts]) for i in range(3))
    before_pairs = sum(len(p[0]) for p in parts[1:5])
    after_pairs = sum(len(p[0]) for p in parts[6:])
    below_pair = below[pair_ok].astype(np.int64)

    def costs_of(wt: Weights) -> IntArray:
        return np.concatenate(
            [
                _arc_costs(problem, arcs, wt, extra, scale),
                np.zeros(before_pairs, dtype=np.int64),
                -wt.below_target_b8 * below_pair,
                np.zeros(after_pairs, dtype=np.int64),
            ]
        )

    n_nodes = stu0 + 4 * n
    mcf, flows, costs, found = _solve_checked(
        tails, heads, caps, costs_of, w, fast, n_nodes, n, "Benchmark 8"
    )
    net = Network(arcs, tails, heads, caps, costs, flows, n_nodes, found)
    return net, int(mcf.maximum_flow())


def _solve_single(
    problem: Problem,
    arcs: IntArray,
    members: IntArray,
    capacity: IntArray,
    w: Weights,
    extra: IntArray,
    scale: int,
    fast: tuple[Weights, ...] = (),
) -> Network:
    """A further-education network of the students `members` (sorted; they own every arc)."""
    n_off = len(problem.offers)
    off0, stu0 = 1, 1 + n_off  # node 0 is the source
    s_arc = np.searchsorted(members, problem.arc_student[arcs])  # local student numbers
    o_arc = problem.arc_offer[arcs]
    offers = np.unique(o_arc)
    students = np.unique(s_arc)
    tails = np.concatenate([off0 + o_arc, np.zeros(len(offers), np.int64), stu0 + students])
    heads = np.concatenate([stu0 + s_arc, off0 + offers, np.zeros(len(students), np.int64)])
    caps = np.concatenate(
        [np.ones(len(arcs), np.int64), capacity[offers], np.ones(len(students), np.int64)]
    )
    zeros = np.zeros(len(offers) + len(students), np.int64)

    def costs_of(wt: Weights) -> IntArray:
        return np.concatenate([_arc_costs(problem, arcs, wt, extra, scale), zeros])

    n_nodes = stu0 + len(members)
    _, flows, costs, found = _solve_checked(
        tails, heads, caps, costs_of, w, fast, n_nodes, 0, "further education"
    )
    return Network(arcs, tails, heads, caps, costs, flows, n_nodes, found)
