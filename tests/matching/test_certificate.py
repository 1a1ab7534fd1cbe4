"""The optimality certificate, checked against HiGHS with the exact fallback switched off.

Whatever the flow relaxation, the clash repair and the Lagrangian certificate claim on their
own must hold: the bound is never below the true optimum, the allocation never above it, and
a claimed proof is the optimum itself.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.highs_mip import solve_mip
from matching import solve
from matching.problem import build_problem
from schemas import SolveOptions
from tests.matching.test_cross_check import MIP_TIME_LIMIT_S, contested


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(20, 80), tie=st.integers(0, 5))
def test_the_bound_and_the_claimed_proof_agree_with_an_independent_mip(
    seed: int, size: int, tie: int
) -> None:
    inst = contested(seed, n_students=size, n_offers=max(4, size * 3 // 8))
    result = solve(inst, SolveOptions(seed=tie, exact_fallback_students=0))
    mip = solve_mip(build_problem(inst, tie), MIP_TIME_LIMIT_S, tie)
    assert mip.optimal and mip.objective is not None
    m = result.metrics
    assert m.bound >= mip.objective >= m.objective  # lexicographic comparisons
    if m.proven_optimal:
        assert m.objective == mip.objective, m.method
