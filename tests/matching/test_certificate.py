"""The optimality certificate, checked against HiGHS with the exact fallback switched off.

Whatever the flow relaxation, the clash repair and the Lagrangian certificate claim on their
own must hold: the bound is never below the true optimum, the allocation never above it, and
a claimed proof is the optimum itself.
"""

from __future__ import annotations

import heapq
import importlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matching
from benchmarks.highs_mip import solve_mip
from matching import compiled as compiled_module
from matching import lagrange, solve
from matching.clashes import find_clashes
from matching.compiled import clear, compiled
from matching.flow import decode, level4_range, scalar, solve_relaxation, tighten, weights
from matching.lagrange import search
from matching.objective import value_of
from matching.potentials import tight_components
from matching.problem import build_problem
from matching.warmup import warm_up
from schemas import SolveOptions, describe_optimality
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
    # The line a careers teacher reads is kept with the metrics, and says the same.
    assert m.optimality == describe_optimality(m.objective, m.bound, m.proven_optimal, m.method)
    assert m.optimality.startswith("proven optimal" if m.proven_optimal else "Benchmark 8 pairs")


def _random_graph(
    seed: int, n: int, m: int, costs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A random graph as `search` takes it: arcs by tail (indptr, heads, reduced costs in
    [0, costs)), and the same arcs by head."""
    rng = np.random.default_rng(seed)
    tails = rng.integers(0, n, m)
    order = np.argsort(tails, kind="stable")
    indptr = np.searchsorted(tails[order], np.arange(n + 1)).astype(np.int64)
    heads = rng.integers(0, n, m)[order].astype(np.int64)
    reduced = rng.integers(0, costs, m).astype(np.int64)  # zeros: plateaus of equal distance
    by_head = np.argsort(heads, kind="stable")
    into = np.searchsorted(heads[by_head], np.arange(n + 1)).astype(np.int64)
    return indptr, heads, reduced, (into, tails[order][by_head], reduced[by_head])


def _search_args(seed: int, data: st.DataObject) -> tuple[Any, ...]:
    """`search`'s arguments: a random graph, two of its nodes and a limit."""
    n = data.draw(st.integers(2, 40))
    indptr, heads, reduced, into = _random_graph(seed, n, data.draw(st.integers(1, 200)), 4)
    source, target = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
    beyond = data.draw(st.sampled_from([1, 3, 10, 1 << 62]))
    return (indptr, heads, reduced, *into, source, target, beyond)


def _dijkstra(indptr: np.ndarray, heads: np.ndarray, reduced: np.ndarray, source: int) -> list[int]:
    """Every node's distance from `source` (-1 when unreachable): plain Dijkstra."""
    dist = [-1] * (len(indptr) - 1)
    heap = [(0, source)]
    while heap:
        d, u = heapq.heappop(heap)
        if dist[u] >= 0:
            continue
        dist[u] = d
        for i in range(indptr[u], indptr[u + 1]):
            if dist[int(heads[i])] < 0:
                heapq.heappush(heap, (d + int(reduced[i]), int(heads[i])))
    return dist


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_the_search_from_both_ends_finds_the_shortest_distance_below_its_limit(
    seed: int, data: st.DataObject
) -> None:
    args = _search_args(seed, data)
    indptr, heads, reduced, _, _, _, source, target, beyond = args
    found, _ = search(*args)
    exact = _dijkstra(indptr, heads, reduced, source)[target]
    assert found == (exact if 0 <= exact < beyond else -1)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_the_compiled_search_finds_what_the_python_search_finds(
    seed: int, data: st.DataObject
) -> None:
    # The certificate runs `search` compiled by numba; both must agree, pops included (the
    # pops are the work budget, so they decide where a certificate stops).
    args = _search_args(seed, data)
    assert compiled(search)(*args) == search(*args)


def test_the_search_is_still_compiled_where_nothing_can_be_cached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numba

    real = numba.njit

    def no_cache_dir(*args: Any, **options: Any) -> Any:
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'search': no locator available")
        return real(*args, **options)

    monkeypatch.setattr(numba, "njit", no_cache_dir)
    clear()
    try:
        indptr = np.array([0, 1, 1], dtype=np.int64)
        one_arc = np.array([1], dtype=np.int64)
        into = (np.array([0, 0, 1], dtype=np.int64), one_arc - 1, one_arc)
        assert compiled(search)(indptr, one_arc, one_arc, *into, 0, 1, 1 << 62) == (1, 1)
    finally:
        clear()


def _reaches(indptr: np.ndarray, heads: np.ndarray, reduced: np.ndarray, a: int) -> set[int]:
    """Nodes reachable from `a` over arcs of reduced cost 0 (a plain graph search)."""
    seen, todo = {a}, [a]
    while todo:
        u = todo.pop()
        for i in range(indptr[u], indptr[u + 1]):
            if reduced[i] == 0 and int(heads[i]) not in seen:
                seen.add(int(heads[i]))
                todo.append(int(heads[i]))
    return seen


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), m=st.integers(0, 120))
def test_two_nodes_share_a_tight_component_exactly_when_each_reaches_the_other_at_no_cost(
    seed: int, n: int, m: int
) -> None:
    # The certificate answers a search at once when both ends share a component.
    indptr, heads, reduced, _ = _random_graph(seed, n, m, 3)
    for fn in (tight_components, compiled(tight_components)):
        component = fn(indptr, heads, reduced)
        reach = [_reaches(indptr, heads, reduced, a) for a in range(n)]
        for a in range(n):
            for b in range(n):
                same = bool(component[a] == component[b])
                assert same == (b in reach[a] and a in reach[b])


def test_the_warm_up_prepares_every_kernel_the_engine_compiles() -> None:
    assert warm_up() >= 0.0
    # Every function the engine hands to `kernel(...)` is one the warm-up compiled.
    engine = Path(matching.__file__).parent
    used = set()
    for source in engine.glob("*.py"):
        for name in re.findall(r"\bkernel\((\w+),", source.read_text()):
            module = importlib.import_module(f"matching.{source.stem}")
            used.add(getattr(module, name))
    assert len(used) >= 9
    assert used <= compiled_module._ready


@pytest.mark.parametrize("best_meets_the_bound", [True, False])
def test_a_branch_is_repaired_only_when_its_bound_is_above_the_best_allocation_found(
    monkeypatch: pytest.MonkeyPatch, best_meets_the_bound: bool
) -> None:
    problem = build_problem(contested(0, n_students=40, n_offers=15))
    root = solve_relaxation(problem, 1)
    assert 1 <= len(find_clashes(problem, root.selected)) <= lagrange._REPAIR_AT_MOST
    # The relaxation's own value meets every bound; an empty allocation meets none.
    best = root.selected if best_meets_the_bound else np.zeros_like(root.selected)
    cert = lagrange._Certifier(problem, root, best, 1, lagrange._Budget(None))
    repaired = []

    def repair(*args: Any, **kwargs: Any) -> tuple[np.ndarray, int]:
        repaired.append(args)
        return best, 0

    monkeypatch.setattr(lagrange, "repair", repair)
    ub = cert.evaluate(lagrange._Node(None, {}, cert.scaled), cert.scaled)
    assert (ub <= cert.best_scalar()) == best_meets_the_bound
    assert len(repaired) == (0 if best_meets_the_bound else 1)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.floats(0.0, 1.0))
def test_no_allocation_has_a_rank_cost_outside_the_range_the_slots_allow(
    seed: int, share: float
) -> None:
    problem = build_problem(contested(seed, n_students=20, n_offers=8))
    lowest, highest = level4_range(problem)
    slots = [
        arcs
        for s in range(problem.n_students)
        for group in range(4)
        if (arcs := [a for a in problem.arcs_of(s) if problem.arc_group[a] == group])
    ]
    rng = np.random.default_rng(seed)
    # Any choice of at most one arc per student and level group, capacity aside.
    selected = np.zeros(problem.n_arcs, dtype=np.bool_)
    for arcs in slots:
        if rng.random() < share:
            selected[arcs[int(rng.integers(len(arcs)))]] = True
    assert lowest <= value_of(problem, selected)[3] <= highest
    dearest = np.zeros(problem.n_arcs, dtype=np.bool_)  # every slot at its dearest arc
    for arcs in slots:
        dearest[max(arcs, key=lambda a: problem.arc_cost[a])] = True
    assert value_of(problem, dearest)[3] == lowest
    assert value_of(problem, np.zeros(problem.n_arcs, dtype=np.bool_))[3] == highest


def test_a_bound_that_needs_more_rank_cost_than_any_allocation_has_holds_one_placement_fewer() -> (
    None
):
    problem = build_problem(contested(0, n_students=40, n_offers=15))
    w = weights(problem)
    lowest, highest = level4_range(problem)
    assert lowest > -(w.placement - 1)  # the slots cost less than the weights allow
    within = scalar(w, (0, 3, 20, lowest))
    assert tighten(problem, w, within) == within  # reachable: left as it is
    beyond = scalar(w, (0, 3, 20, lowest - 1))
    assert decode(w, tighten(problem, w, beyond)) == (3, 19, highest)
    assert tighten(problem, w, beyond) < beyond


def test_the_search_takes_more_branches_while_a_bound_holds_more_placements(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = build_problem(contested(0, n_students=40, n_offers=15))
    root = solve_relaxation(problem, 1)
    cert = lagrange._Certifier(problem, root, root.selected, 1, lagrange._Budget(None))
    pairs, below, placements, ranks = cert.best_value
    more = scalar(cert.w, (pairs, below, placements + 1, ranks - 5))
    assert cert.max_branches(more) == lagrange.MAX_PLACEMENT_BRANCHES > lagrange.MAX_BRANCHES
    more_pairs = scalar(cert.w, (pairs, below + 1, placements - 3, ranks))
    assert cert.max_branches(more_pairs) == lagrange.MAX_PLACEMENT_BRANCHES
    ranks_only = scalar(cert.w, (pairs, below, placements, ranks + 5))
    assert cert.max_branches(ranks_only) == lagrange.MAX_BRANCHES
    # A larger round gets fewer placement branches, never fewer than the others.
    monkeypatch.setattr(lagrange, "PLACEMENT_BRANCH_STUDENTS", 40 * 100)
    assert cert.max_branches(more) == 100
    monkeypatch.setattr(lagrange, "PLACEMENT_BRANCH_STUDENTS", 40)
    assert cert.max_branches(more) == lagrange.MAX_BRANCHES
