"""Benchmark 8 pairs that clashes cost every allocation: a certified bound below the flow's.

Level 1 of the flow relaxation is the maximum flow of the Benchmark 8 network
(matching/flow.py): each unit is a student with an L1 and an L2/L3 place. Clashes are not in
it, and on a territory-sized round some cost pairs that no allocation can keep.

An arc carrying flow is in every maximum flow (*essential*) exactly when its head cannot be
reached from its tail in the residual graph: a path there would close a cycle that reroutes
it. Take a set K of clashes, both arcs of each essential. A clash-free allocation leaves out
at least one arc of each; call those D. If one minimum cut holds every arc of D, taking D
away takes |D| from that cut, so the allocation has at most max - |K| pairs.

The source sides of minimum cuts are the sets closed under residual reach that hold the
source and not the sink. The smallest one holding the tails of D is the reach R of the
source and those tails, and it holds the arcs of D when no head of D is in R. R is the union
of the single reaches, so it is enough to check each arc against each other clash's arcs:
no head of one is reached from the tail of another (nor from its own tail, nor from the
source), and no reach holds the sink. Then every choice of D passes, and the bound holds.
Clashes that fail the check are left out of K, which only weakens the bound.

The same reaches tell, for a clash with one essential arc, that dropping the other keeps
the pair: the clash repair is told to do so (matching/clashes.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import max_flow

from matching.clashes import arcs_by_student, find_clashes, ranges, repair
from matching.compiled import kernel
from matching.errors import MatchingError
from matching.flow import FlowSolution, Network, decode, scalar, weights
from matching.objective import Objective, value_of
from matching.potentials import by_tail, residual
from matching.prices import price_bundles
from matching.problem import L23, BoolArray, IntArray, Problem
from matching.reoptimise import cached_incidence, potential_of, reoptimise, with_less_flow

SOURCE, SINK = 0, 1  # of the Benchmark 8 network
# Nodes a reach from one tail may visit beyond the source's reach; past it the arc counts as
# not essential, which is always safe (it can only leave a clash out of the bound).
REACH_LIMIT = 200_000
REPAIR_ROUNDS = 4  # global re-optimisations `keep_pairs` may spend on clashes it makes
CUT_ROUNDS = 12  # maximum flows `keep_pairs` may spend checking the sides it forbids
SWAP_TRIALS = 100  # re-optimisations `_swap_sides` may spend trying swaps
SWAP_AHEAD = True  # `_swap_sides` tries the next swap on a second thread (same result)


@dataclass(frozen=True)
class PairLoss:
    lost: int  # pairs every clash-free allocation has fewer than the maximum flow, certified
    prefer: dict[tuple[int, int], int]  # clash -> the arc to drop: the other's loss costs a pair


def pair_loss(problem: Problem, root: FlowSolution, clashes: list[tuple[int, int]]) -> PairLoss:
    """What the clashes (keep, drop) of `root`, a maximum flow, cost in Benchmark 8 pairs.

    On a flow below the maximum `lost` means nothing, but `prefer` still names the side
    whose loss a flow of that value can absorb when the other's cannot (`keep_pairs`)."""
    net = root.networks[0]
    position = net.positions(problem.n_arcs)
    inside = [(a, b) for a, b in clashes if position[a] >= 0 and position[b] >= 0]
    if not inside:
        return PairLoss(0, {})
    graph = _Residual(net)
    reach: dict[int, _Reached | None] = {}  # arc -> what its tail reaches
    for pair in inside:
        for arc in pair:
            if arc not in reach:
                reach[arc] = graph.reach(int(net.tails[position[arc]]))

    def head(arc: int) -> int:
        return int(net.heads[position[arc]])

    def essential(arc: int) -> bool:
        found = reach[arc]
        return found is not None and not graph.holds(found, head(arc))

    prefer: dict[tuple[int, int], int] = {}
    candidates: list[tuple[int, int]] = []
    for keep, drop in inside:
        if essential(keep) and essential(drop):
            candidates.append((keep, drop))
        elif essential(drop):
            prefer[(keep, drop)] = keep  # losing `drop` loses a pair; `keep` can be rerouted

    def apart(one: tuple[int, int], other: tuple[int, int]) -> bool:
        """No arc of `one` reaches the head of an arc of `other`."""
        return not any(
            graph.holds(found, head(h))
            for arc in one
            if (found := reach[arc]) is not None
            for h in other
        )

    certified: list[tuple[int, int]] = []
    for pair in candidates:  # greedily, in order: K of the module's argument
        if any(graph.source[head(arc)] for arc in pair) or any(
            graph.holds(found, SINK) for arc in pair if (found := reach[arc]) is not None
        ):
            continue  # no minimum cut holds the arc, or the reach is no cut's source side
        if all(apart(pair, k) and apart(k, pair) for k in certified):
            certified.append(pair)
    return PairLoss(len(certified), prefer)


def fewer_pairs(
    problem: Problem, root: FlowSolution, at_max: Objective, lost: int
) -> tuple[FlowSolution, Objective]:
    """`root` (a maximum flow, of value `at_max`) with `lost` fewer pairs, and its value: once
    `lost` is certified (`pair_loss`), a relaxation of the clash-free allocations and the
    bound they meet.

    The Benchmark 8 network gives up the `lost` pairs that cost least. Its value is read
    off the flows' costs, not their allocation: below the maximum flow a student may hold
    an L1 and an L2/L3 place as two singles, which the allocation would count as a pair. At
    the maximum flow the two agree (those singles would make one more pair), which gives
    the constants. The networks of further education are left as they are.
    """
    net = root.networks[0]
    lowered = with_less_flow(net, lost)
    selected = root.selected.copy()
    n = len(net.arcs)
    selected[net.arcs] = lowered.flows[:n] > 0
    w = weights(problem)
    gained = int((net.costs * net.flows).sum()) - int((lowered.costs * lowered.flows).sum())
    value = (at_max[0] - lost, *decode(w, scalar(w, at_max) + gained))
    return FlowSolution(selected, root.max_pairs - lost, {**root.networks, 0: lowered}), value


def keep_pairs(
    problem: Problem,
    lowered: FlowSolution,
    clashes: list[tuple[int, int]],
    prefer: dict[tuple[int, int], int],
    seed: int,
) -> BoolArray | None:
    """A clash-free allocation with the pairs of `lowered` (`fewer_pairs`) or, failing that,
    as few fewer as the sides found allow; None when a re-optimisation fails.

    The local clash repair re-solves small neighbourhoods, and on a territory-sized round
    loses pairs and places a global change would keep. Here every network is re-optimised
    (matching/reoptimise.py) from `lowered`'s flows, with one side of each clash forbidden:

    * inside the Benchmark 8 network, the drop side of each of the maximum flow's `clashes`
      where one side carries the pair (`prefer`, from `pair_loss`), and elsewhere the side
      the student's cheapest clash-free bundle at `lowered`'s prices gives up (as across
      networks, below);
    * across networks, the side the student's cheapest clash-free bundle at the flow's own
      prices gives up (matching/prices.py): an L1 visit that someone else can take costs
      less than a further-education place nobody else can. A maximum flow checks that the
      Benchmark 8 sides so forbidden leave the pairs; those on its minimum cut give way to
      their further-education side instead. When none is on it, clashes inside the network
      swap sides: the first sides forbidden may cost more pairs than `pair_loss` certified.
      If no choice found keeps every pair, the network gives up the fewest pairs found
      (`with_less_flow`) and goes on: fewer pairs than the bound, but more than the local
      repair keeps.

    The clashes that flow makes are settled the same way, until none is left or after
    REPAIR_ROUNDS, when the local repair takes the rest. Those later steps forbid a few
    sides each, unchecked; when the flow cannot keep its pairs without them, the step is
    taken again with the maximum flow's check, and when that finds no sides that keep every
    pair either, the local repair settles what is left of the global flow. A clash-free flow
    then reopens the sides whose clash the flow has since left (`_release`), and swaps the
    sides of the clashes where that gains (`_swap_sides`). None when a re-optimisation
    fails.
    """
    position = lowered.networks[0].positions(problem.n_arcs)
    forbid = np.zeros(problem.n_arcs, dtype=np.bool_)

    def inside(pair: tuple[int, int]) -> bool:
        return bool(position[pair[0]] >= 0 and position[pair[1]] >= 0)

    partner: dict[int, int] = {}  # a forbidden side of a clash inside the network -> the other

    def forbid_side(pair: tuple[int, int], drop: int) -> None:
        forbid[drop] = True
        partner[drop] = pair[0] if drop == pair[1] else pair[1]

    priced = _priced_sides(problem, lowered, [pair for pair in clashes if inside(pair)])
    for pair in clashes:
        if inside(pair):
            forbid_side(pair, prefer.get(pair, priced[pair]))
    current = lowered
    target = lowered.max_pairs
    incidence: dict[int, tuple[IntArray, IntArray]] = {}
    seen = list(clashes)  # every clash met, for `_release` and `_swap_sides`
    for step in range(REPAIR_ROUNDS + 1):
        found = find_clashes(problem, current.selected)
        if not found:
            released, closed = _release(problem, lowered, current, forbid, seen, incidence)
            return _swap_sides(problem, lowered, released, closed, seen, incidence)
        seen += found
        if step == REPAIR_ROUNDS:
            break
        within = [pair for pair in found if inside(pair) and not forbid[list(pair)].any()]
        across = [pair for pair in found if not inside(pair)]
        priced = _priced_sides(problem, current, within + across)  # one pricing per step
        again = pair_loss(problem, current, within).prefer if within else {}
        # The first step forbids hundreds of arcs: a failed re-optimisation would cost more
        # than the maximum flow that checks them. Later ones forbid a few, unchecked; when
        # those cost the flow a pair, the step is taken again from where it began, checked.
        began = forbid.copy(), dict(partner)
        moved = None
        handed_off = False
        for checked in (True,) if step == 0 else (False, True):
            if checked and step:
                forbid[:] = began[0]
                partner.clear()
                partner.update(began[1])
            for pair in within:
                forbid_side(pair, again.get(pair, priced[pair]))
            other, short = _settle_across(
                problem,
                current,
                across,
                priced,
                position,
                forbid,
                partner if checked else None,
                incidence,
            )
            if short and step:  # the local repair settles the last few instead
                forbid[:] = began[0]  # what the local repair must respect
                handed_off = True
                break
            if short:  # no sides found that keep every pair: give up the fewest found
                target -= short
                fewer = with_less_flow(current.networks[0], short)
                current = FlowSolution(current.selected, target, {**current.networks, 0: fewer})
            moved = _reoptimised(lowered, current, forbid, incidence)
            if moved is None and other:  # the Benchmark 8 network, first, lost its flow
                for arc, fe in other.items():  # their further-education sides give way
                    forbid[arc], forbid[fe] = False, True
                moved = _reoptimised(lowered, current, forbid, incidence)
            if moved is not None:
                break
        if handed_off:
            break
        if moved is None:
            return None
        current = moved
    kept, _ = repair(problem, current, seed, None, 1, None, forbid)
    return kept


def _release(
    problem: Problem,
    lowered: FlowSolution,
    current: FlowSolution,
    forbid: BoolArray,
    clashes: list[tuple[int, int]],
    incidence: dict[int, tuple[IntArray, IntArray]],
) -> tuple[FlowSolution, BoolArray]:
    """`current` (clash-free, with the arcs `forbid` closed), or a better clash-free flow
    with the same pairs that reopens some of them, with the arcs it closes.

    A side forbidden early often outlives its reason: later re-optimisations moved the
    flow off the other side of its clash (`clashes`, every one met). Every such side is
    reopened and every network re-optimised. Where that makes a clash, the side not
    reopened gives way, since the reopened one is where the flow found more (of two sides
    alike, the one its student's cheapest bundle at the flow's prices gives up,
    `_priced_sides`), and the networks are re-optimised once more. The result is kept only
    when clash-free and better. Re-optimising keeps each network's flow between source and
    sink, so the pairs stay. (Measured at 150,000 students, tie-break seeds 0-3: 5-6 more
    placements on three, 4 s each; a second pass found nothing more.)
    """
    partners: dict[int, list[int]] = {}
    for a, b in dict.fromkeys(clashes):
        partners.setdefault(a, []).append(b)
        partners.setdefault(b, []).append(a)
    held = current.selected
    freed = [
        arc
        for arc in np.flatnonzero(forbid).tolist()
        if not any(held[other] for other in partners.get(arc, ()))
    ]
    if not freed:
        return current, forbid
    trial = forbid.copy()
    trial[freed] = False
    moved = _reoptimised(lowered, current, trial, incidence)
    if moved is None:
        return current, forbid
    made = find_clashes(problem, moved.selected)
    if made:
        reopened = set(freed)
        alike = [pair for pair in made if (pair[0] in reopened) == (pair[1] in reopened)]
        priced = _priced_sides(problem, moved, alike)
        for a, b in made:
            trial[priced.get((a, b), b if a in reopened else a)] = True
        moved = _reoptimised(lowered, moved, trial, incidence)
        if moved is None or find_clashes(problem, moved.selected):
            return current, forbid
    if value_of(problem, moved.selected) <= value_of(problem, held):
        return current, forbid
    return moved, trial


def _swap_sides(
    problem: Problem,
    lowered: FlowSolution,
    current: FlowSolution,
    forbid: BoolArray,
    clashes: list[tuple[int, int]],
    incidence: dict[int, tuple[IntArray, IntArray]],
) -> BoolArray:
    """`current`'s allocation (clash-free, with the arcs `forbid` closed), or a better one
    with the same pairs that swaps which side of some of the `clashes` is forbidden.

    Each side was forbidden for what it cost when the flow was another, and many at once
    (`keep_pairs` forbids hundreds in its first step): by now the other side is often the
    cheaper one to give up. Swapping clash (f forbidden, g held) to (g forbidden, f open)
    changes the flows' cost by at least f's reduced cost minus g's at the flow's prices:
    putting f in costs at least its own reduced cost, and taking g out (a flow arc, reduced
    cost at most 0) at least minus its. Each swap for which that is below 0 is tried, the
    lowest first, by re-optimising every network; it is kept when its flow is clash-free
    and its allocation better, and the next is tried from there.

    Measured at 150,000 students, tie-break seed 1: 75 swaps could gain, 74 were tried
    (SWAP_TRIALS bounds the time elsewhere) and 14 kept, 376,922 -> 376,932 placements.
    One trial after another took 5.0-5.2 s; with the next trial run beside each on a
    second thread (below), 3.2-3.4 s, in turn on the same inputs, with the same swaps kept.
    Estimating each swap first, by the exact shortest cycles that take g out and put
    f in, tried 26 and kept the same 14, but the searches cost more than the trials they
    saved. Trying only the swaps that could gain a placement's whole weight missed two
    that gained a placement for a few rank points. A second pass found nothing.
    """
    where, position = current.locate(problem.n_arcs)  # each arc's network, index in it
    prices: dict[int, tuple[Network, IntArray]] = {}

    def reduced(flow: FlowSolution, arc: int) -> int:
        k, at = int(where[arc]), int(position[arc])
        net = flow.networks[k]
        if k not in prices or prices[k][0] is not net:
            prices[k] = (net, potential_of(net))
        p = prices[k][1]
        return int(net.costs[at]) + int(p[net.tails[at]]) - int(p[net.heads[at]])

    def least(flow: FlowSolution, f: int, g: int) -> int:
        return reduced(flow, f) - reduced(flow, g)

    swaps = []
    for a, b in dict.fromkeys(clashes):
        f, g = (a, b) if forbid[a] else (b, a)
        if forbid[f] and not forbid[g] and current.selected[g] and where[f] >= 0 <= where[g]:
            cost = least(current, f, g)
            if cost < 0:
                swaps.append((cost, f, g))
    order = [(f, g) for _, f, g in sorted(swaps)]

    def after(i: int, flow: FlowSolution, closed: BoolArray) -> int | None:
        """The first swap from `order[i]` on that can still gain from `flow`: its clash as
        it was (an earlier swap may have changed it), and its least cost still below 0."""
        for j in range(i, len(order)):
            f, g = order[j]
            if closed[f] and not closed[g] and flow.selected[g] and least(flow, f, g) < 0:
                return j
        return None

    by_student = arcs_by_student(problem)

    def attempt(
        i: int, flow: FlowSolution, closed: BoolArray, value: Objective
    ) -> tuple[FlowSolution, BoolArray, Objective] | None:
        """Swap `order[i]` from `flow`: the new flow, its closed arcs and its value when it is
        clash-free and better than `value`, else None."""
        f, g = order[i]
        trial = closed.copy()
        trial[f], trial[g] = False, True
        moved = _reoptimised(lowered, flow, trial, incidence)
        if moved is None or _clashes_made(problem, by_student, flow, moved):
            return None
        found = value_of(problem, moved.selected)
        return (moved, trial, found) if found > value else None

    # Trials run two at a time from the same flow (the re-optimisations' compiled loop
    # releases the GIL). The second one counts only when the first is not kept; otherwise
    # it is tried again, from the new flow. So exactly the swaps of one trial after another
    # are kept.
    value = value_of(problem, current.selected)
    tried, i = 0, 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        while tried < SWAP_TRIALS and (first := after(i, current, forbid)) is not None:
            ahead_ok = SWAP_AHEAD and tried + 1 < SWAP_TRIALS
            second = after(first + 1, current, forbid) if ahead_ok else None
            ahead = None if second is None else pool.submit(attempt, second, current, forbid, value)
            kept = attempt(first, current, forbid, value)
            tried, i = tried + 1, first + 1
            if ahead is not None and second is not None:
                kept_ahead = ahead.result()  # wait for it either way
                if kept is None:
                    kept, tried, i = kept_ahead, tried + 1, second + 1
            if kept is not None:
                current, forbid, value = kept
    return current.selected


def _clashes_made(
    problem: Problem, by_student: IntArray, before: FlowSolution, after: FlowSolution
) -> bool:
    """Does `after` hold a clash, `before` being clash-free? Only the students whose
    allocations changed can have one (`by_student`, of `arcs_by_student`)."""
    changed = np.flatnonzero(before.selected != after.selected)
    students = np.unique(problem.arc_student[changed])
    arcs = ranges(by_student, students)
    mine = np.zeros(problem.n_arcs, dtype=np.bool_)
    mine[arcs] = after.selected[arcs]
    return bool(find_clashes(problem, mine))


def _reoptimised(
    lowered: FlowSolution,
    current: FlowSolution,
    forbid: BoolArray,
    incidence: dict[int, tuple[IntArray, IntArray]],
) -> FlowSolution | None:
    """Every network of `current` re-optimised with exactly the arcs `forbid` closed (those
    open in `lowered`, the rest open again; a network whose capacities that leaves as they
    are keeps its flow), the Benchmark 8 network first; None when one cannot keep its flow
    (further-education networks, circulations, always can). `incidence` keeps each
    network's, which its arcs alone decide."""
    networks = dict(current.networks)
    selected = current.selected.copy()
    for k, net in current.networks.items():
        caps = lowered.networks[k].closing(forbid)
        moved = (
            net
            if np.array_equal(caps, net.caps)
            else reoptimise(net, net.costs, caps, cached_incidence(incidence, k, net))
        )
        if moved is None:
            return None
        networks[k] = moved
        selected[net.arcs] = moved.flows[: len(net.arcs)] > 0
    return FlowSolution(selected, current.max_pairs, networks)


def _priced_sides(
    problem: Problem, current: FlowSolution, pairs: list[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """The side of each clash (keep, drop) that its student's cheapest clash-free bundle at
    `current`'s prices gives up (matching/prices.py); the drop side when it keeps neither."""
    keep = price_bundles(problem, current, [int(problem.arc_student[a]) for a, _ in pairs]).keep
    sides: dict[tuple[int, int], int] = {}
    for a, b in pairs:
        kept = keep[int(problem.arc_student[a])]
        sides[(a, b)] = a if b in kept and a not in kept else b
    return sides


def _settle_across(
    problem: Problem,
    current: FlowSolution,
    across: list[tuple[int, int]],
    priced: dict[tuple[int, int], int],
    position: IntArray,
    forbid: BoolArray,
    partner: dict[int, int] | None,
    incidence: dict[int, tuple[IntArray, IntArray]],
) -> tuple[dict[int, int], int]:
    """Forbid one side of each clash in `across` (arcs of two networks, or of two
    further-education ones): the side `current`'s prices give up (`priced`, from
    `_priced_sides`). Returns the Benchmark 8 arcs so forbidden, each with its other side,
    and the pairs the forbidden arcs still cost (0 when they leave every pair).

    Given `partner` (the forbidden sides of the clashes inside the Benchmark 8 network, each
    with its other side), a maximum flow checks that the forbidden arcs leave the flow's
    pairs. Those on its minimum cut give way to their other side: first the ones whose
    other side is further education; when none is on the cut, as many clashes inside the
    network as pairs are missing swap sides, each clash once (`_swaps` ranks them). After
    CUT_ROUNDS maximum flows, or with no swap left, the sides that cost fewest pairs are
    kept and that count returned. (`pair_loss` certifies a lower bound on the pairs lost,
    not what one choice of sides costs.)"""
    other: dict[int, int] = {}  # a forbidden Benchmark 8 arc -> its further-education side
    for a, b in across:
        drop = priced[(a, b)]
        forbid[drop] = True
        if position[drop] >= 0:
            other[drop] = b if drop == a else a
    if partner is None:
        return other, 0
    net = current.networks[0]
    swapped: set[int] = set()  # sides forbidden by a swap: a clash swaps once
    best: tuple[int, BoolArray, dict[int, int], dict[int, int]] | None = None
    cut: _Cut | None = None
    for _ in range(CUT_ROUNDS):
        caps = net.closing(forbid)
        if caps is net.caps:
            return other, 0  # nothing new forbidden there: the flow keeps its pairs
        if cut is None:
            cut = _min_cut(net, caps)
        else:  # a few sides changed: start from the last maximum flow
            cut = _min_cut_from(net, caps, cut, cached_incidence(incidence, 0, net))
        short = current.max_pairs - cut.flow
        if short <= 0:
            return other, 0
        if best is None or short < best[0]:
            best = (short, forbid.copy(), dict(other), dict(partner))
        crossing = cut.source_side[net.tails] & ~cut.source_side[net.heads]  # per network arc
        gives_way = [arc for arc in other if forbid[arc] and crossing[position[arc]]]
        for arc in gives_way:
            forbid[arc] = False
            forbid[other.pop(arc)] = True
        if gives_way:
            continue
        swaps = _swaps(problem, net, position, forbid, partner, cut, crossing)
        swaps = [arc for arc in swaps if arc not in swapped]
        if not swaps:
            break
        for arc in swaps[:short]:
            forbid[arc] = False
            forbid[partner[arc]] = True
            swapped.add(partner[arc])
            partner[partner.pop(arc)] = arc
    assert best is not None
    short, best_forbid, kept_other, kept_partner = best
    forbid[:] = best_forbid
    other.clear()
    other.update(kept_other)
    partner.clear()
    partner.update(kept_partner)
    return other, short


def _swaps(
    problem: Problem,
    net: Network,
    position: IntArray,
    forbid: BoolArray,
    partner: dict[int, int],
    cut: _Cut,
    crossing: BoolArray,
) -> list[int]:
    """The forbidden sides of clashes inside the network worth swapping for their other
    side, best first:

    1. an arc that would carry a path from the source's residual reach to the sink's, whose
       other side the maximum flow leaves empty and whose student has another way past it
       (another open arc of the other side's group, in that reach, or an attended
       encounter): the swap keeps the flow and adds that path;
    2. any other arc that would carry such a path;
    3. an arc on the minimum cut whose other side is not.
    """
    source, sink = cut.source_side, cut.sink_side

    def opens(arc: int) -> bool:
        at = position[arc]
        return bool(source[net.tails[at]] and sink[net.heads[at]])

    def around(arc: int, other: int) -> bool:
        s = int(problem.arc_student[arc])
        if problem.arc_group[other] == L23:
            if problem.has_l23[s]:
                return True
            reach, end = sink, net.heads
        else:
            if problem.has_l1[s]:
                return True
            reach, end = source, net.tails
        return any(
            bool(reach[end[position[x]]])
            for x in problem.arcs_of(s)
            if x != other
            and position[x] >= 0
            and not forbid[x]
            and problem.arc_group[x] == problem.arc_group[other]
        )

    forbidden = [a for a in partner if forbid[a]]
    opening = [a for a in forbidden if opens(a)]
    safe = [a for a in opening if cut.flows[position[partner[a]]] == 0 and around(a, partner[a])]
    on_cut = [a for a in forbidden if crossing[position[a]] and not crossing[position[partner[a]]]]
    return list(dict.fromkeys(safe + opening + on_cut))


@dataclass(frozen=True)
class _Cut:
    flow: int  # the maximum flow's value
    flows: IntArray  # per network arc
    source_side: BoolArray  # nodes the source reaches in its residual graph
    sink_side: BoolArray  # nodes that reach the sink in it


def _min_cut(net: Network, caps: IntArray) -> _Cut:
    """The maximum flow from source to sink of `net` with capacities `caps`, and the two
    sides of its minimum cuts (OR-Tools; a second at 150,000 students against several for a
    re-optimisation)."""
    solver = max_flow.SimpleMaxFlow()
    solver.add_arcs_with_capacity(net.tails, net.heads, caps)
    if solver.solve(SOURCE, SINK) != solver.OPTIMAL:
        raise MatchingError("maximum flow of the Benchmark 8 network failed")
    source = np.zeros(net.n_nodes, dtype=np.bool_)
    source[solver.get_source_side_min_cut()] = True
    sink = np.zeros(net.n_nodes, dtype=np.bool_)
    sink[solver.get_sink_side_min_cut()] = True
    flows = solver.flows(np.arange(len(net.tails), dtype=np.int64)).astype(np.int64)
    return _Cut(int(solver.optimal_flow()), flows, source, sink)


def _min_cut_from(
    net: Network, caps: IntArray, last: _Cut, incidence: tuple[IntArray, IntArray]
) -> _Cut:
    """`_min_cut` for capacities `caps` close to those of `last`, from `last`'s flow: the
    units on arcs now closed are taken back, then paths from source to sink are added until
    none is left (`refit`). A territory round's cut check changes one or two sides at a
    time, so this takes a few searches where `_min_cut` takes a second."""
    flows = last.flows.copy()
    ptr, incident = incidence
    fit = kernel(refit, len(net.tails))
    value = fit(net.n_nodes, net.tails, net.heads, caps, flows, ptr, incident)
    if value < 0:  # no way back for a unit: flow conservation says it cannot happen
        return _min_cut(net, caps)
    side = kernel(residual_side, len(net.tails))
    source = side(net.n_nodes, net.tails, net.heads, caps, flows, ptr, incident, SOURCE, True)
    sink = side(net.n_nodes, net.tails, net.heads, caps, flows, ptr, incident, SINK, False)
    return _Cut(int(value), flows, source, sink)


def refit(
    n_nodes: int,
    tails: IntArray,
    heads: IntArray,
    caps: IntArray,
    flows: IntArray,
    ptr: IntArray,
    incident: IntArray,
) -> int:
    """Make `flows` (in place), a flow that conserves at every node but the source and the
    sink, a maximum flow for `caps`, and return its value (-1 if a unit found no way back).

    Each unit above an arc's capacity comes off it: its tail keeps a unit too many, which
    goes back to the source, and its head one too few, which it gets from the sink (flow
    conservation says both residual paths exist). Then augmenting paths from source to
    sink, each the shortest, until none is left: they also reroute those units where they
    can. (Rerouting each unit from its tail to its head first would search most of the
    network for every unit the cut holds.) `incident` lists each node's arcs as in
    matching/reoptimise.py: 2i at arc i's tail, 2i + 1 at its head. Compiled by numba
    (matching/compiled.py)."""
    parent = np.full(n_nodes, -1, dtype=np.int64)  # the arc code each node was reached by
    queue = np.empty(n_nodes, dtype=np.int64)
    stamp = np.zeros(n_nodes, dtype=np.int64)
    walks = 0
    i = 0  # the next arc to check for flow above its capacity
    step = 0  # 1: tail -> source, 2: sink -> head, 0: augment
    u = v = 0
    while True:
        if step == 0:
            while i < len(tails) and flows[i] <= caps[i]:
                i += 1
            if i < len(tails):
                flows[i] -= 1
                u, v = tails[i], heads[i]
                step = 1
        if step == 1:
            start, end = u, SOURCE
        elif step == 2:
            start, end = SINK, v
        else:
            start, end = SOURCE, SINK
        found = start == end
        if not found:
            # Breadth first. Tail to source: forward from the tail, as the source is a step
            # from most of the network. Sink to head: back from the head, likewise. Source
            # to sink: back from the sink, whose side of the cut is small, where the last
            # search, which fails, would run through most of the network from the source.
            back = step != 1
            origin, goal = (end, start) if back else (start, end)
            walks += 1
            stamp[origin] = walks
            queue[0] = origin
            head, size = 0, 1
            while head < size and not found:
                x = queue[head]
                head += 1
                for k in range(ptr[x], ptr[x + 1]):
                    code = incident[k]
                    arc = code >> 1
                    y = heads[arc] if (code & 1) == 0 else tails[arc]
                    # along the arc (it needs room), or back along it (it needs flow)
                    along = ((code & 1) == 0) != back
                    if (flows[arc] >= caps[arc]) if along else (flows[arc] <= 0):
                        continue
                    if stamp[y] == walks:
                        continue
                    stamp[y] = walks
                    parent[y] = code
                    if y == goal:
                        found = True
                        break
                    queue[size] = y
                    size += 1
            if found:  # one unit along the path, walked back from the goal
                y = goal
                while y != origin:
                    code = parent[y]
                    arc = code >> 1
                    flows[arc] += 1 if ((code & 1) == 0) != back else -1
                    y = tails[arc] if (code & 1) == 0 else heads[arc]
        if step and not found:
            return -1
        if step == 1:
            step = 2
        elif step == 2:
            step = 0
        elif not found:
            break
    value = 0
    for k in range(len(tails)):
        if tails[k] == SOURCE:
            value += flows[k]
        if heads[k] == SOURCE:
            value -= flows[k]
    return value


def residual_side(
    n_nodes: int,
    tails: IntArray,
    heads: IntArray,
    caps: IntArray,
    flows: IntArray,
    ptr: IntArray,
    incident: IntArray,
    node: int,
    forward: bool,
) -> BoolArray:
    """The nodes `node` reaches in the residual graph of `flows` (`forward`), or those that
    reach it: for a maximum flow, the source and the sink sides of its minimum cuts.
    Compiled by numba."""
    seen = np.zeros(n_nodes, dtype=np.bool_)
    queue = np.empty(n_nodes, dtype=np.int64)
    seen[node] = True
    queue[0] = node
    head, size = 0, 1
    while head < size:
        x = queue[head]
        head += 1
        for k in range(ptr[x], ptr[x + 1]):
            code = incident[k]
            arc = code >> 1
            y = heads[arc] if (code & 1) == 0 else tails[arc]
            along = ((code & 1) == 0) == forward  # along the arc (room), or back (flow)
            passable = flows[arc] < caps[arc] if along else flows[arc] > 0
            if passable and not seen[y]:
                seen[y] = True
                queue[size] = y
                size += 1
    return seen


@dataclass(frozen=True)
class _Reached:
    """A node's residual reach: `nodes` (sorted) outside the source's reach, and whether it
    enters the source's reach (then it holds all of it: a reach is closed)."""

    nodes: IntArray
    meets_source: bool


class _Residual:
    """Reachability in the residual graph of a solved network."""

    def __init__(self, net: Network) -> None:
        tails, heads, _ = residual(net.tails, net.heads, net.caps, net.costs, net.flows)
        self.indptr, order = by_tail(tails, net.n_nodes)
        self.heads = heads[order]
        self.stamp = np.zeros(net.n_nodes, dtype=np.int64)
        self.visits = 0
        self.source = np.zeros(net.n_nodes, dtype=np.bool_)
        found = self._walk(SOURCE, net.n_nodes)
        assert found is not None
        self.source[found.nodes] = True

    def reach(self, node: int) -> _Reached | None:
        """What `node` reaches; None when that passes REACH_LIMIT nodes outside the source's
        reach."""
        return self._walk(node, REACH_LIMIT)

    def holds(self, found: _Reached, node: int) -> bool:
        """Is `node` in the reach `found`?"""
        i = int(np.searchsorted(found.nodes, node))
        if i < len(found.nodes) and int(found.nodes[i]) == node:
            return True
        return found.meets_source and bool(self.source[node])

    def _walk(self, start: int, limit: int) -> _Reached | None:
        self.visits += 1
        walk = kernel(bfs, len(self.heads))
        nodes, met, complete = walk(
            self.indptr, self.heads, start, self.source, self.stamp, self.visits, limit
        )
        return _Reached(np.sort(nodes), bool(met)) if complete else None


def bfs(
    indptr: IntArray,
    heads: IntArray,
    start: int,
    blocked: BoolArray,
    stamp: IntArray,
    visit: int,
    limit: int,
) -> tuple[IntArray, bool, bool]:
    """Nodes reached from `start` without entering `blocked` ones, at most `limit` of them:
    (the nodes, whether a blocked node was met, whether the walk finished). `stamp` marks
    the nodes seen by walk number `visit`. Compiled by numba (matching/compiled.py)."""
    out = np.empty(min(limit, len(indptr)) + 1, dtype=np.int64)
    n = 0
    met = False
    stamp[start] = visit
    out[n] = start
    n += 1
    i = 0
    while i < n:
        u = out[i]
        i += 1
        for k in range(indptr[u], indptr[u + 1]):
            v = heads[k]
            if stamp[v] == visit:
                continue
            stamp[v] = visit
            if blocked[v]:
                met = True
                continue
            if n == limit:
                return out[:n], met, False
            out[n] = v
            n += 1
    return out[:n], met, True
