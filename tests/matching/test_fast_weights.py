"""Small weights for the flows, proven optimal for the exact ones by node potentials."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import flow, solve
from matching.clashes import selected_pairs
from matching.compiled import compiled
from matching.objective import objective, value_of
from matching.potentials import by_tail, counting_sort, potentials, relax_in_place, residual
from matching.prices import price_bound
from matching.problem import IntArray, Problem, build_problem
from tests.factories import DAY, instance, offer, prefs, session, student
from tests.matching.test_cross_check import contested


def _exact_only(
    problem: Problem, arcs: IntArray | None, scale: int = 1
) -> tuple[flow.Weights, ...]:
    return ()  # no fast weights: every network is solved with the exact ones


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(8, 60))
def test_the_fast_relaxation_has_the_exact_weights_optimum(seed: int, size: int) -> None:
    problem = build_problem(contested(seed, n_students=size, n_offers=max(4, size * 3 // 8)))
    fast = flow.solve_relaxation(problem, seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flow, "_fast_weights", _exact_only)
        exact = flow.solve_relaxation(problem, seed)
    assert fast.max_pairs == exact.max_pairs
    assert value_of(problem, fast.selected) == value_of(problem, exact.selected)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_a_fast_solve_that_is_not_optimal_is_caught_and_solved_again(seed: int) -> None:
    # With no weight on placements at all, the fast flow trades placements for ranks; the
    # potentials check must refuse it, so the result is still the exact optimum.
    problem = build_problem(contested(seed, n_students=40, n_offers=15))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flow, "_fast_weights", _exact_only)
        exact = flow.solve_relaxation(problem, seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flow, "FAST_FACTORS", (0,))
        careless = flow.solve_relaxation(problem, seed)
    assert value_of(problem, careless.selected) == value_of(problem, exact.selected)


def test_a_fast_solve_that_fails_its_proof_is_solved_with_the_next_fast_weights() -> None:
    # Careless weights first, then the usual ones: every network is still proven optimal by
    # potentials, which only a fast solve carries (the exact weights' solve gives none), and
    # its result is the exact optimum.
    refused = 0
    real = flow.potentials

    def counted(*args: object) -> IntArray | None:
        nonlocal refused
        found = real(*args)  # type: ignore[arg-type]
        refused += found is None
        return found

    for seed in range(8):
        problem = build_problem(contested(seed, n_students=40, n_offers=15))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(flow, "_fast_weights", _exact_only)
            exact = flow.solve_relaxation(problem, seed)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(flow, "FAST_FACTORS", (0, 8))
            patch.setattr(flow, "potentials", counted)
            laddered = flow.solve_relaxation(problem, seed)
        assert value_of(problem, laddered.selected) == value_of(problem, exact.selected)
        assert all(net.potential is not None for net in laddered.networks.values())
        assert all(net.potential is None for net in exact.networks.values())
    assert refused > 0  # the careless weights were refused somewhere, so the ladder was used


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_every_network_carries_potentials_that_prove_its_flow_optimal(seed: int) -> None:
    problem = build_problem(contested(seed, n_students=30, n_offers=12))
    for net in flow.solve_relaxation(problem, seed).networks.values():
        tails, heads, costs = residual(net.tails, net.heads, net.caps, net.costs, net.flows)
        assert net.potential is not None
        reduced = costs + net.potential[tails] - net.potential[heads]
        assert (reduced >= 0).all()


def test_a_negative_cycle_has_no_potentials() -> None:
    tails = np.array([0, 1, 2], dtype=np.int64)
    heads = np.array([1, 2, 0], dtype=np.int64)
    assert potentials(tails, heads, np.array([1, 1, -3], dtype=np.int64), 3, 50) is None
    costs = np.array([1, 1, -2], dtype=np.int64)  # a cycle of cost 0
    found = potentials(tails, heads, costs, 3, 50)
    assert found is not None
    assert (costs + found[tails] - found[heads] >= 0).all()


@settings(max_examples=60, deadline=None)
@given(
    n_nodes=st.integers(1, 12),
    arcs=st.lists(
        st.tuples(st.integers(0, 11), st.integers(0, 11), st.integers(-6, 9)), max_size=40
    ),
    max_rounds=st.integers(1, 30),
)
def test_the_compiled_potentials_are_numpys_whatever_the_graph(
    n_nodes: int, arcs: list[tuple[int, int, int]], max_rounds: int
) -> None:
    # Large networks relax their arcs in place, compiled; small ones all at once with numpy.
    # Both find the unique shortest distances, or None for a negative cycle; in place never
    # needs more rounds, and fewer when numpy's are about to run out.
    kept = [(t, h, c) for t, h, c in arcs if t < n_nodes and h < n_nodes]
    tails, heads, costs = (np.array([a[i] for a in kept], dtype=np.int64) for i in range(3))
    by_numpy = potentials(tails, heads, costs, n_nodes, max_rounds)
    dist = np.zeros(n_nodes, dtype=np.int64)
    settled = compiled(relax_in_place)(tails, heads, costs, dist, max_rounds)
    if by_numpy is not None:
        assert settled
        assert dist.tolist() == by_numpy.tolist()
    unbounded = potentials(tails, heads, costs, n_nodes, 10 * n_nodes + 10)
    if unbounded is None:  # a negative cycle: neither ever settles
        assert not settled
    elif settled:
        assert dist.tolist() == unbounded.tolist()


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(st.integers(0, 9), max_size=60), extra=st.integers(0, 3))
def test_the_compiled_grouping_by_tail_is_numpys_stable_sort(keys: list[int], extra: int) -> None:
    tails = np.array(keys, dtype=np.int64)
    n_nodes = max(keys, default=-1) + 1 + extra  # nodes with no arc too
    indptr, order = by_tail(tails, n_nodes)  # small: numpy's stable argsort
    c_indptr, c_order = compiled(counting_sort)(tails, n_nodes)
    assert c_indptr.tolist() == indptr.tolist()
    assert c_order.tolist() == order.tolist()


def test_a_large_network_gets_its_potentials_from_the_compiled_kernel() -> None:
    # A chain of 30,000 arcs of cost -1, in order: relaxed in place, one round settles it and
    # a second confirms it; numpy's rounds would need 30,000 rounds.
    n = 30_000
    tails = np.arange(n, dtype=np.int64)
    found = potentials(tails, tails + 1, -np.ones(n, dtype=np.int64), n + 1, 2)
    assert found is not None
    assert found.tolist() == [-k for k in range(n + 1)]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_the_vectorised_value_equals_the_objective_of_the_allocations(
    seed: int, data: st.DataObject
) -> None:
    problem = build_problem(contested(seed, n_students=20, n_offers=10))
    mask = data.draw(st.lists(st.booleans(), min_size=problem.n_arcs, max_size=problem.n_arcs))
    selected = np.array(mask, dtype=np.bool_)
    assert value_of(problem, selected) == objective(problem, selected_pairs(problem, selected))


def test_the_scalar_of_a_round_with_costly_pins_decodes_to_its_own_levels() -> None:
    # s1 is pinned to p, ranked fifth: a rank cost of 5 that no candidate arc can change.
    # The candidate arcs alone (s2's first choice q) would give the placement a weight of 2,
    # and the pin's cost would spill into the placement level when read back.
    tuesday = DAY + dt.timedelta(days=1)
    inst = instance(
        [student("s1"), student("s2")],
        [
            *(offer(o) for o in ("a", "b", "c", "d", "p")),
            offer("q", sessions=(session(tuesday),)),
        ],
        [prefs("s1", "a", "b", "c", "d", "p"), prefs("s2", "q")],
        pinned=[("s1", "p")],
    )
    problem = build_problem(inst, 0)
    root = flow.solve_relaxation(problem, 0)
    value = value_of(problem, root.selected)
    assert value == (0, 0, 2, -6)
    w = flow.weights(problem)
    assert flow.decode(w, flow.scalar(w, value)) == value[1:]
    assert price_bound(problem, root, value) == value
    m = solve(inst).metrics
    assert m.proven_optimal and m.objective == m.bound == value
