"""The engine's optimum against an independent MIP of the same model, solved by HiGHS."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.highs_mip import solve_mip
from matching import solve
from matching.eligibility import ineligibility
from matching.objective import objective
from matching.problem import build_problem
from schemas import AttendedEncounter, Instance, OfferKind, SolveOptions
from tests.factories import DAY, instance, offer, prefs, random_instance, student

MIP_TIME_LIMIT_S = 60.0


def contested(seed: int, n_students: int = 12, n_offers: int = 8) -> Instance:
    """A random instance with encounters attended before the round, pins, forbidden pairs,
    per-school targets and round rules drawn from `seed`."""
    base = random_instance(seed, n_students, n_offers)
    rng = random.Random(f"contested:{seed}")
    kinds = (OfferKind.WORKPLACE_L1, OfferKind.WORKPLACE_L2, OfferKind.WORKPLACE_L3)
    students = [
        s.model_copy(
            update={
                "attended": tuple(
                    AttendedEncounter(kind=k, date=DAY - dt.timedelta(days=60))
                    for k in rng.sample(kinds, rng.randint(1, 2))
                )
            }
        )
        if rng.random() < 0.35
        else s
        for s in base.students
    ]
    offers = list(base.offers)
    preferences = list(base.preferences)
    forbidden = [(p.student_id, o) for p in preferences for o in p.ranked if rng.random() < 0.1]
    by_id = {o.offer_id: o for o in offers}
    taken: dict[str, int] = {}
    pins: list[tuple[str, str]] = []
    pinned_offers: dict[str, list[str]] = {}
    for s in rng.sample(students, min(3, len(students))):
        o = by_id[rng.choice(list(by_id))]
        own = [by_id[x] for x in pinned_offers.get(s.student_id, [])]
        if (
            (s.student_id, o.offer_id) in forbidden
            or ineligibility(s, o)
            or taken.get(o.offer_id, 0) >= o.capacity
            or any(p.kind.group == o.kind.group or p.clashes_with(o) for p in own)
        ):
            continue
        taken[o.offer_id] = taken.get(o.offer_id, 0) + 1
        pinned_offers.setdefault(s.student_id, []).append(o.offer_id)
        pins.append((s.student_id, o.offer_id))
    rules: dict[str, object] = {
        "max_ranks": 6,
        "school_targets": {school: rng.choice([0.0, 40.0, 90.0, 100.0]) for school in "abc"},
        "priority_weight": rng.randint(1, 3),
    }
    if rng.random() < 0.5:
        rules["rank_costs"] = (1, 2, 4, 7, 11, 16)
        rules["unranked_cost"] = rng.randint(0, 20)
    return instance(students, offers, preferences, pins, forbidden, **rules)


def assert_same_optimum(inst: Instance, seed: int = 0) -> None:
    result = solve(inst, SolveOptions(seed=seed))
    problem = build_problem(inst, seed)
    mip = solve_mip(problem, MIP_TIME_LIMIT_S, seed)
    assert mip.optimal, mip.levels
    assert mip.objective == objective(problem, mip.pairs)
    assert result.metrics.proven_optimal, result.metrics.method
    assert result.metrics.objective == mip.objective, result.metrics.method


@pytest.mark.parametrize("seed", range(25))
def test_the_engine_and_an_independent_mip_find_the_same_optimum(seed: int) -> None:
    assert_same_optimum(random_instance(seed))


@pytest.mark.parametrize("seed", range(25))
def test_the_same_optimum_holds_with_attended_encounters_pins_and_forbidden_pairs(
    seed: int,
) -> None:
    assert_same_optimum(contested(seed))


@pytest.mark.parametrize("seed", range(6))
def test_the_same_optimum_holds_on_larger_rounds(seed: int) -> None:
    assert_same_optimum(contested(1000 + seed, n_students=80, n_offers=30), seed)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), tie=st.integers(0, 3), n_students=st.integers(2, 25))
def test_the_engine_matches_the_mip_on_any_random_round(
    seed: int, tie: int, n_students: int
) -> None:
    assert_same_optimum(contested(seed, n_students, max(2, n_students * 2 // 3)), tie)


def test_a_pin_and_an_attended_l1_enter_the_objective_as_constants() -> None:
    inst = instance(
        [
            student("s1", attended=(AttendedEncounter(kind=OfferKind.WORKPLACE_L1, date=DAY),)),
            student("s2"),
        ],
        [
            offer("l2", OfferKind.WORKPLACE_L2, capacity=1, teacher_previsit_done=True),
            offer("l1", OfferKind.WORKPLACE_L1, capacity=1),
            offer("l1b", OfferKind.WORKPLACE_L1, capacity=1),
        ],
        [prefs("s1", "l2"), prefs("s2", "l2", "l1")],
        pinned=[("s2", "l1b")],
        forbidden=[("s2", "l1")],
    )
    problem = build_problem(inst)
    mip = solve_mip(problem, MIP_TIME_LIMIT_S)
    # Either student completes the pair with l2; the pinned s2 is placed either way.
    assert mip.optimal
    assert mip.objective is not None and mip.objective[0] == 1
    assert_same_optimum(inst)


def test_a_wrong_infeasible_from_highs_presolve_is_solved_again_without_presolve() -> None:
    # HiGHS 1.16's presolve calls level 4 of this round infeasible, though the level-3
    # optimum is a feasible point of it; the MIP must notice and re-solve without presolve.
    assert_same_optimum(contested(85, 60, 40), seed=1)
