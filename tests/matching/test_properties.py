"""Properties over random contested instances (clashes, prerequisites, priorities)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from matching import validate_result
from matching.clashes import selected_pairs
from matching.metrics import blocking_pairs
from matching.problem import build_problem
from matching.stable import solve_stable
from tests.factories import random_instance
from tests.matching.helpers import run, same

seeds = st.integers(min_value=0, max_value=10_000)
sizes = st.integers(min_value=2, max_value=16)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, n=sizes, tie=st.integers(0, 3), mode=st.sampled_from(["optimal", "stable"]))
def test_every_result_passes_the_independent_validator(
    seed: int, n: int, tie: int, mode: str
) -> None:
    inst = random_instance(seed, n_students=n, n_offers=max(2, n // 2))
    validate_result(inst, run(inst, seed=tie, mode=mode))


@settings(max_examples=25, deadline=None)
@given(seed=seeds, tie=st.integers(0, 3), mode=st.sampled_from(["optimal", "stable"]))
def test_the_same_instance_and_seed_give_the_same_result(seed: int, tie: int, mode: str) -> None:
    inst = random_instance(seed)
    assert same(run(inst, seed=tie, mode=mode), run(inst, seed=tie, mode=mode))


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_the_optimum_is_proven_and_never_below_deferred_acceptance(seed: int) -> None:
    inst = random_instance(seed)
    optimal = run(inst).metrics
    stable = run(inst, mode="stable").metrics
    assert optimal.proven_optimal
    assert optimal.objective >= stable.objective  # lexicographic comparison
    assert optimal.bound >= optimal.objective


@settings(max_examples=40, deadline=None)
@given(seed=seeds, tie=st.integers(0, 3))
def test_deferred_acceptance_leaves_no_blocking_pair_when_nothing_clashes(
    seed: int, tie: int
) -> None:
    inst = random_instance(seed)
    # Spread every offer over its own day, so no two offers clash.
    offers = tuple(
        o.model_copy(
            update={
                "sessions": (
                    o.sessions[0].model_copy(
                        update={"date": o.sessions[0].date.replace(day=1 + i)}
                    ),
                )
            }
        )
        for i, o in enumerate(inst.offers)
    )
    inst = inst.model_copy(update={"offers": offers})
    problem = build_problem(inst, tie)
    pairs = selected_pairs(problem, solve_stable(problem, tie))
    assert blocking_pairs(problem, pairs, tie) == 0
