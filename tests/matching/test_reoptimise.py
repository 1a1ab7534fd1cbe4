"""Re-optimising a solved network from its last flow gives what a fresh solve gives."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ortools.graph.python import min_cost_flow

from matching.compiled import SMALL_WORK, clear, compiled, kernel
from matching.errors import MatchingError
from matching.flow import Network
from matching.potentials import residual
from matching.problem import IntArray
from matching.reoptimise import (
    augment,
    incidence_of,
    potential_of,
    reoptimise,
    with_less_flow,
)

# Node 0 is the source and node 1 the sink of the networks below.
SUPPLY = 3


def _solve(
    tails: IntArray,
    heads: IntArray,
    caps: IntArray,
    costs: IntArray,
    n: int,
    exactly: int | None = None,
) -> IntArray:
    """OR-Tools: a maximum flow of at most SUPPLY from node 0 to 1 of minimum cost; or, given
    `exactly`, a flow of that value of minimum cost."""
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supply = SUPPLY if exactly is None else exactly
    mcf.set_node_supply(0, supply)
    mcf.set_node_supply(1, -supply)
    solved = mcf.solve_max_flow_with_min_cost() if exactly is None else mcf.solve()
    assert solved == mcf.OPTIMAL
    flows: IntArray = mcf.flows(np.arange(len(tails))).astype(np.int64)
    return flows


def _network(seed: int, n: int, m: int, spread: int = 20) -> Network:
    """A random network whose costs lie within +-`spread`: a small spread makes the plateaus
    of equal cost that a territory's networks are mostly made of."""
    rng = np.random.default_rng(seed)
    tails = rng.integers(0, n, m).astype(np.int64)
    heads = (tails + rng.integers(1, n, m)) % n  # no loops
    caps = rng.integers(0, 4, m).astype(np.int64)
    costs = rng.integers(-spread, spread + 1, m).astype(np.int64)
    flows = _solve(tails, heads, caps, costs, n)
    return Network(np.arange(m), tails, heads, caps, costs, flows, n)


def _cost(net: Network) -> int:
    return int((net.costs * net.flows).sum())


# A random network of n nodes and m arcs (`_network(seed, n, m)`), and what else a test draws.
_random_networks = given(
    seed=st.integers(0, 100_000), n=st.integers(3, 12), m=st.integers(2, 60), data=st.data()
)


def _proves_optimal(net: Network) -> bool:
    assert net.potential is not None
    tails, heads, costs = residual(net.tails, net.heads, net.caps, net.costs, net.flows)
    return bool((costs + net.potential[tails] - net.potential[heads] >= 0).all())


def _balance(net: Network) -> IntArray:
    out: IntArray = np.bincount(net.tails, net.flows, net.n_nodes) - np.bincount(
        net.heads, net.flows, net.n_nodes
    )
    return out


@settings(max_examples=80, deadline=None)
@_random_networks
def test_a_reoptimised_flow_costs_what_a_fresh_solve_costs_and_keeps_its_value(
    seed: int, n: int, m: int, data: st.DataObject
) -> None:
    spread = data.draw(st.sampled_from([1, 2, 20]))
    net = _network(seed, n, m, spread)
    rng = np.random.default_rng(seed + 1)
    changed = rng.random(m) < data.draw(st.sampled_from([0.05, 0.3, 1.0]))
    costs = net.costs + np.where(changed, rng.integers(-spread, spread + 1, m), 0)
    caps = net.caps.copy()
    if data.draw(st.booleans()):
        caps[rng.random(m) < 0.2] = 0  # forbidden arcs
    fresh = _solve(net.tails, net.heads, caps, costs, n)
    moved = reoptimise(net, costs, caps, forward_only=data.draw(st.booleans()))
    if moved is None:  # only when the flow's value cannot be kept
        assert (
            _balance(Network(net.arcs, net.tails, net.heads, caps, costs, fresh, n))[0]
            < (_balance(net)[0])
        )
        return
    assert (moved.flows >= 0).all() and (moved.flows <= caps).all()
    assert np.array_equal(_balance(moved), _balance(net))
    assert _cost(moved) == int((costs * fresh).sum())
    assert _proves_optimal(moved)


def _augmented(
    fn: Callable[..., bool],
    net: Network,
    costs: IntArray,
    caps: IntArray,
    check: IntArray,
    forward_only: bool,
) -> tuple[bool, list[int], list[int]]:
    """`augment` (plain or compiled: `fn`) run on copies of `net`'s flows and potentials:
    what it returns, and the flows and potentials it leaves."""
    flows, potential = net.flows.copy(), potential_of(net).copy()
    ok = fn(
        net.n_nodes, net.tails, net.heads, caps, costs, flows, potential, check,
        *incidence_of(net), forward_only,
    )  # fmt: skip
    return ok, flows.tolist(), potential.tolist()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(3, 12), m=st.integers(2, 60))
def test_the_compiled_reoptimiser_does_exactly_what_the_python_one_does(
    seed: int, n: int, m: int
) -> None:
    spread = 1 + seed % 20
    net = _network(seed, n, m, spread)
    costs = net.costs + np.random.default_rng(seed).integers(-spread, spread + 1, m)
    for forward_only in (False, True):
        check = np.flatnonzero(costs != net.costs)
        runs = [
            _augmented(fn, net, costs, net.caps, check, forward_only)
            for fn in (augment, compiled(augment))
        ]
        assert runs[0] == runs[1]


@settings(max_examples=40, deadline=None)
@_random_networks
def test_checking_only_the_changed_arcs_gives_what_checking_every_arc_gives(
    seed: int, n: int, m: int, data: st.DataObject
) -> None:
    net = _network(seed, n, m, data.draw(st.sampled_from([1, 2, 20])))
    rng = np.random.default_rng(seed + 2)
    costs = net.costs + np.where(rng.random(m) < 0.2, rng.integers(-5, 6, m), 0)
    caps = np.where(rng.random(m) < 0.1, 0, net.caps)
    changed = np.flatnonzero((costs != net.costs) | (caps != net.caps))
    runs = [
        _augmented(augment, net, costs, caps, check, False)
        for check in (changed, np.arange(m, dtype=np.int64))
    ]
    assert runs[0] == runs[1]


def test_a_forbidden_arc_nothing_can_replace_is_reported() -> None:
    # 0 -> 2 -> 1 is the only way from source to sink; forbidding it loses the flow.
    tails, heads = np.array([0, 2], dtype=np.int64), np.array([2, 1], dtype=np.int64)
    caps, costs = np.array([SUPPLY, SUPPLY], dtype=np.int64), np.zeros(2, dtype=np.int64)
    net = Network(np.arange(2), tails, heads, caps, costs, _solve(tails, heads, caps, costs, 3), 3)
    assert reoptimise(net, costs, np.array([SUPPLY, 0], dtype=np.int64)) is None
    assert reoptimise(net, costs + 5) is not None


def test_an_unchanged_network_is_left_as_it_is() -> None:
    net = _network(7, 10, 40)
    moved = reoptimise(net, net.costs)
    assert moved is not None
    assert np.array_equal(moved.flows, net.flows)


def test_a_small_call_runs_as_python_until_the_kernel_is_compiled_then_compiled() -> None:
    clear()
    try:
        assert kernel(augment, SMALL_WORK - 1) is augment
        assert kernel(augment, SMALL_WORK) is not augment
        assert kernel(augment, 1) is kernel(augment, SMALL_WORK)  # compiled now: reused
    finally:
        clear()


@settings(max_examples=60, deadline=None)
@_random_networks
def test_a_flow_given_less_to_carry_costs_what_a_fresh_solve_of_that_value_costs(
    seed: int, n: int, m: int, data: st.DataObject
) -> None:
    net = _network(seed, n, m, data.draw(st.sampled_from([1, 2, 20])))
    value = int(_balance(net)[0])
    assume(value > 0)
    amount = data.draw(st.integers(1, value))
    fresh = _solve(net.tails, net.heads, net.caps, net.costs, n, exactly=value - amount)
    lowered = with_less_flow(net, amount)
    assert (lowered.flows >= 0).all() and (lowered.flows <= net.caps).all()
    assert int(_balance(lowered)[0]) == value - amount
    assert _cost(lowered) == int((net.costs * fresh).sum())
    assert _proves_optimal(lowered)


def test_a_flow_cannot_give_up_more_than_it_carries() -> None:
    net = _network(3, 6, 20)
    with pytest.raises(MatchingError, match="cannot give up"):
        with_less_flow(net, int(_balance(net)[0]) + 1)
