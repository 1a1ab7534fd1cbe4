"""The assignment bound over the clash arcs (matching/assignment.py), checked against HiGHS."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.highs_mip import solve_mip
from matching import assignment, lagrange, solve
from matching.assignment import Element, Graph, _least_loss, _matrix, _search_all, distances
from matching.compiled import compiled
from matching.problem import build_problem
from schemas import SolveOptions
from tests.matching.test_certificate import _dijkstra, _random_graph
from tests.matching.test_cross_check import MIP_TIME_LIMIT_S, contested

NO_FALLBACK = SolveOptions(seed=0, exact_fallback_students=0)
# Rounds of `contested` (seed, students) that the certificate proves only with the
# assignment bound: two of them with no branch at all.
PROVEN = [(9893, 115), (1821, 111), (4814, 63), (9625, 104)]
# Rounds it proves only with the clashes the flow takes one arc of.
PROVEN_HELD = [(7424, 109), (4643, 96), (1372, 115)]


def _distances_args(seed: int, data: st.DataObject) -> tuple[Any, ...]:
    """`distances`' arguments: a random graph, sources and targets, limits and an allowance."""
    n = data.draw(st.integers(2, 40))
    indptr, heads, reduced, _ = _random_graph(seed, n, data.draw(st.integers(1, 200)), 4)
    nodes = st.integers(0, n - 1)
    sources = np.array(data.draw(st.lists(nodes, min_size=1, max_size=5)), dtype=np.int64)
    limits = np.array(
        [data.draw(st.sampled_from([0, 1, 3, 10, 1 << 40])) for _ in sources], dtype=np.int64
    )
    targets = np.array(data.draw(st.lists(nodes, min_size=1, max_size=6)), dtype=np.int64)
    each = data.draw(st.sampled_from([1, 2, 5, 1 << 40]))
    return indptr, heads, reduced, sources, limits, targets, each


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_each_join_is_its_distance_capped_at_its_limit_or_below_it_when_the_search_stops_early(
    seed: int, data: st.DataObject
) -> None:
    indptr, heads, reduced, sources, limits, targets, each = _distances_args(seed, data)
    dist, pops = distances(indptr, heads, reduced, sources, limits, targets, each)
    assert pops <= each * len(sources)
    for a, source in enumerate(sources):
        exact = _dijkstra(indptr, heads, reduced, int(source))
        for b, target in enumerate(targets):
            true = exact[target] if exact[target] >= 0 else 1 << 62
            capped = min(true, int(limits[a]))
            if each >= 1 << 40:
                assert dist[a, b] == capped
            else:  # a lower bound, which keeps the assignment bound valid
                assert 0 <= dist[a, b] <= capped


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_the_compiled_joins_search_and_its_threads_find_what_the_python_search_finds(
    seed: int, data: st.DataObject
) -> None:
    args = _distances_args(seed, data)
    plain, pops = distances(*args)
    fast, fast_pops = compiled(distances)(*args)
    assert np.array_equal(plain, fast) and pops == fast_pops
    many = np.repeat(args[3], 4)  # enough sources for the threads to share
    limits = np.repeat(args[4], 4)
    split, _ = _search_all(Graph(*args[:3]), many, limits, args[5], args[6])
    alone, _ = compiled(distances)(*args[:3], many, limits, *args[5:])
    assert np.array_equal(split, alone)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_joins_searched_once_per_distinct_end_either_way_are_the_joins_or_below_them(
    seed: int, data: st.DataObject
) -> None:
    *graph, sources, limits, targets, each = _distances_args(seed, data)
    # Repeated ends, so that one search serves several rows or columns.
    sources, limits = np.tile(sources, 2), np.tile(limits, 2)
    targets = np.concatenate([targets, targets[:1]])
    exact, _ = distances(*graph, sources, limits, targets, 1 << 40)
    dist, pops = _matrix(Graph(*graph), sources, limits, targets, each)
    assert pops <= each * len(sources)
    if each >= 1 << 40:
        assert np.array_equal(dist, exact)
    else:
        assert (dist >= 0).all() and (dist <= exact).all()


def _element(arc: int, insert: bool) -> Element:
    return Element(arc, 0, arc, insert, 0, 0, 0)


def test_a_clash_the_flow_takes_whole_loses_its_cheapest_way_out() -> None:
    # Arcs 0 and 1 clash and the flow takes both: leaving out 1 alone costs 3, 0 alone 5,
    # both together (one cycle through the two) 2, plus the clash's price when both go.
    elements = [_element(0, False), _element(1, False)]
    joins = {(0, 0): 5, (1, 1): 3, (0, 1): 1, (1, 0): 1}
    taken = [(0, 1)]
    assert _least_loss(elements, {0: 0, 1: 1}, joins, taken, [], {(0, 1): 0}, 100) == 2
    assert _least_loss(elements, {0: 0, 1: 1}, joins, taken, [], {(0, 1): 4}, 100) == 3


def test_a_priced_clash_the_flow_leaves_out_costs_one_side_taken_or_its_price() -> None:
    # Arcs 0 and 1 clash, priced 4, the flow takes neither: taking 0 costs 6, 1 costs 3;
    # the two are never on one cycle (no allocation takes both), however cheap that is.
    elements = [_element(0, True), _element(1, True)]
    joins = {(0, 0): 6, (1, 1): 3, (0, 1): 0, (1, 0): 0}
    index = {0: 0, 1: 1}
    assert _least_loss(elements, index, joins, [], [(0, 1)], {(0, 1): 4}, 100) == 3
    assert _least_loss(elements, index, joins, [], [(0, 1)], {(0, 1): 2}, 100) == 2
    # And never more than the cap, the gap that proves the best allocation optimal.
    assert _least_loss(elements, index, joins, [], [(0, 1)], {(0, 1): 4}, 1) == 1


def test_a_priced_clash_the_flow_takes_one_arc_of_costs_its_price_when_that_arc_goes_alone() -> (
    None
):
    # Arcs 0 and 2 clash and the flow takes both; arc 0 also clashes with arc 1, priced 4,
    # which the flow leaves out. Dropping 2 costs 10, dropping 0 costs 2 on its own cycle,
    # but then its clash with 1 is slack unless 1 comes in: 2 + 4, or the swap 0 -> 1 on one
    # cycle (2 + 3), or 0 and 1 on cycles of their own (2 + 7).
    elements = [_element(0, False), _element(1, True), _element(2, False)]
    index = {0: 0, 1: 1, 2: 2}
    joins = {(s, t): 50 for s in range(3) for t in range(3)}
    joins |= {(0, 0): 2, (1, 1): 7, (2, 2): 10, (0, 1): 2, (1, 0): 3}
    taken, prices, held = [(0, 2)], {(0, 2): 0}, [(0, 1, 4)]
    assert _least_loss(elements, index, joins, taken, [], prices, 100) == 2
    assert _least_loss(elements, index, joins, taken, [], prices, 100, held) == 5
    # An other arc no allocation can take (not an element): dropping 0 always pays.
    assert _least_loss(elements, {0: 0, 2: 2}, joins, taken, [], prices, 100, held) == 6


def test_the_other_arc_of_a_clash_the_flow_takes_one_arc_of_comes_in_only_when_that_arc_goes() -> (
    None
):
    # Arc 1 must come in or its open clash with arc 9 (no allocation takes 9) pays 6; coming
    # in costs 1, but arc 0, which the flow takes and which clashes with 1, must then go (2).
    elements = [_element(0, False), _element(1, True)]
    index = {0: 0, 1: 1}
    joins = {(0, 0): 2, (1, 1): 1, (0, 1): 50, (1, 0): 50}
    open_, prices = [(1, 9)], {(1, 9): 6}
    assert _least_loss(elements, index, joins, [], open_, prices, 100) == 1
    assert _least_loss(elements, index, joins, [], open_, prices, 100, [(0, 1, 4)]) == 3


def test_joins_at_the_cap_bound_the_loss_at_the_cap_through_one_hub() -> None:
    # Every way out costs the cap or more: the loss is the cap, whichever joins reach it.
    elements = [_element(0, False), _element(1, False)]
    index = {0: 0, 1: 1}
    joins = {(0, 0): 9, (1, 1): 30, (0, 1): 12, (1, 0): 8}
    assert _least_loss(elements, index, joins, [(0, 1)], [], {(0, 1): 0}, 9) == 9
    assert _least_loss(elements, index, joins, [(0, 1)], [], {(0, 1): 0}, 100) == 9
    # Below the cap the joins count one by one, the hub only where it is cheaper.
    assert _least_loss(elements, index, joins, [(0, 1)], [], {(0, 1): 0}, 21) == 9
    joins[(0, 0)] = 25
    assert _least_loss(elements, index, joins, [(0, 1)], [], {(0, 1): 0}, 21) == 20
    assert _least_loss(elements, index, joins, [(0, 1)], [], {(0, 1): 0}, 19) == 19


# What each case takes away from the certificate: the whole assignment bound, or the clashes
# the flow takes one arc of from it.
WITHOUT: dict[str, Any] = {
    "bound": ("assignment", lambda self, node: 1 << 62),
    "held": ("held", lambda self, node: []),
}


@pytest.mark.parametrize(
    ("seed", "size", "part"),
    [(seed, size, "bound") for seed, size in PROVEN]
    + [(seed, size, "held") for seed, size in PROVEN_HELD],
)
def test_the_assignment_bound_and_its_held_clashes_prove_rounds_nothing_else_can(
    seed: int, size: int, part: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = contested(seed, n_students=size, n_offers=max(4, size * 3 // 8))
    mip = solve_mip(build_problem(inst, 0), MIP_TIME_LIMIT_S, 0)
    result = solve(inst, NO_FALLBACK).metrics
    assert result.proven_optimal and result.objective == mip.objective, result.method
    assert "assignment bounds" in result.method
    with monkeypatch.context() as m:
        m.setattr(lagrange._Certifier, *WITHOUT[part])
        without = solve(inst, NO_FALLBACK).metrics
    assert not without.proven_optimal and without.bound > mip.objective, without.method


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(40, 110))
def test_joins_searched_with_almost_no_allowance_still_never_bound_below_the_optimum(
    seed: int, size: int
) -> None:
    real = assignment._joins

    def starved(flow: Any, elements: Any, cap: int, allowance: int) -> Any:
        return real(flow, elements, cap, 3 * len(elements))  # three nodes a search

    inst = contested(seed, n_students=size, n_offers=max(4, size * 3 // 8))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(assignment, "_joins", starved)
        result = solve(inst, NO_FALLBACK).metrics
    mip = solve_mip(build_problem(inst, 0), MIP_TIME_LIMIT_S, 0)
    assert mip.optimal and mip.objective is not None
    assert result.bound >= mip.objective >= result.objective, result.method
