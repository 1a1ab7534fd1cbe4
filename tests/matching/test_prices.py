"""The offer-price bound: the relaxation's duals price every clash at once (matching/prices.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.highs_mip import solve_mip
from matching import solve
from matching.clashes import find_clashes
from matching.flow import solve_relaxation, weights
from matching.objective import value_of
from matching.prices import price_bound, price_bundles
from matching.problem import build_problem
from schemas import Instance, OfferKind, SolveOptions
from tests.factories import instance, offer, prefs, session, student
from tests.matching.test_cross_check import MIP_TIME_LIMIT_S, contested
from tests.matching.test_pairs import assert_sound

# Neither the Lagrangian certificate nor the exact fallback may help: the prices alone.
PRICES_ONLY = SolveOptions(exact_fallback_students=0, certificate_effort=0)
# Rounds of `contested` that the offer prices prove optimal and nothing before them does.
PROVEN = [(2, 12), (13, 25), (14, 12), (35, 25), (79, 25), (114, 12)]


def _visit_or_talk() -> Instance:
    """One student whose L1 visit and further-education talk are on the same morning."""
    return instance(
        [student("s1")],
        [
            offer("x", OfferKind.WORKPLACE_L1),
            offer(
                "t",
                OfferKind.FE_INTERACTION,
                sessions=(session(start="10:00", end="11:00"),),
            ),
        ],
        [prefs("s1", "x", "t")],
    )


def test_a_clash_nobody_else_can_fill_costs_a_placement_at_the_offer_prices() -> None:
    inst = _visit_or_talk()
    problem = build_problem(inst, 0)
    root = solve_relaxation(problem, 0)
    relaxed = value_of(problem, root.selected)
    assert relaxed[2] == 2  # the relaxation takes both...
    [(keep, _)] = find_clashes(problem, root.selected)
    priced = price_bundles(problem, root, [0])
    # ...and the student's cheapest clash-free bundle gives up the talk, ranked second: a
    # placement less its rank cost, 2.
    assert priced.loss == weights(problem).placement - 2
    assert priced.keep == {0: frozenset({keep})}
    assert price_bound(problem, root, relaxed)[2:] == (1, -1)

    result = solve(inst, PRICES_ONLY)
    assert result.metrics.proven_optimal, result.metrics.method
    assert "offer-price bound" in result.metrics.method
    assert [a.offer_id for a in result.allocations] == ["x"]


def test_a_clash_another_student_can_fill_costs_no_placement_at_the_offer_prices() -> None:
    # s1 ranks the talk first, so the relaxation gives it to s1 with the clashing visit x.
    # s2, free in the afternoon, ranks it second: handing it over moves a placement from s1
    # to s2, and the prices charge s1 a rank at most, not a placement.
    afternoon = (session(start="14:00", end="16:00"),)
    inst = instance(
        [student("s1"), student("s2")],
        [
            offer("x", OfferKind.WORKPLACE_L1, capacity=1),
            offer("y", OfferKind.WORKPLACE_L1, capacity=1, sessions=afternoon),
            offer(
                "t",
                OfferKind.FE_INTERACTION,
                capacity=1,
                sessions=(session(start="10:00", end="11:00"),),
            ),
        ],
        [prefs("s1", "t", "x"), prefs("s2", "y", "t")],
    )
    problem = build_problem(inst, 0)
    root = solve_relaxation(problem, 0)
    relaxed = value_of(problem, root.selected)
    [(keep, drop)] = find_clashes(problem, root.selected)
    assert {int(problem.arc_student[keep]), int(problem.arc_student[drop])} == {0}
    assert 0 <= price_bundles(problem, root, [0]).loss <= 1  # the rank s2 ranks it lower

    result = solve(inst, PRICES_ONLY)
    m = result.metrics
    assert m.objective is not None and m.bound is not None
    assert m.objective[2] == relaxed[2] == 3  # every place is still taken
    assert m.objective[2] == m.bound[2]


def _assert_bound_holds(inst: Instance) -> None:
    problem = build_problem(inst, 0)
    root = solve_relaxation(problem, 0)
    priced = price_bound(problem, root, value_of(problem, root.selected))
    mip = solve_mip(problem, MIP_TIME_LIMIT_S, 0)
    assert mip.optimal and mip.objective is not None, mip.levels
    assert mip.objective <= priced
    assert_sound(inst, PRICES_ONLY)


@pytest.mark.parametrize(("seed", "n"), PROVEN)
def test_the_offer_prices_prove_rounds_nothing_else_does(seed: int, n: int) -> None:
    inst = contested(seed, n, max(2, n * 2 // 3))
    m = solve(inst, PRICES_ONLY).metrics
    assert m.proven_optimal and m.method.endswith("offer-price bound"), m.method
    _assert_bound_holds(inst)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.sampled_from([12, 25]))
def test_the_offer_price_bound_never_cuts_off_the_optimum(seed: int, n: int) -> None:
    _assert_bound_holds(contested(seed, n, max(2, n * 2 // 3)))
