"""The clash test over session tables and the local clash repair."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.clashes import KEEP_ORDER, Sessions, clash_kernel, find_clashes, pairs_kernel, repair
from matching.compiled import compiled
from matching.flow import solve_relaxation
from matching.problem import build_problem
from tests.factories import DAY, offer, random_instance, session
from tests.matching.test_cross_check import contested


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_the_session_table_finds_exactly_the_clashes_offers_report(seed: int) -> None:
    offers = random_instance(seed, n_students=4, n_offers=12).offers
    table = Sessions(offers)
    pairs = list(itertools.product(range(len(offers)), repeat=2))
    a = np.array([i for i, _ in pairs], dtype=np.int64)
    b = np.array([j for _, j in pairs], dtype=np.int64)
    expected = [offers[i].clashes_with(offers[j]) for i, j in pairs]
    assert table.clash(a, b).tolist() == expected  # small: the kernel runs as Python
    tables = (table.day, table.start, table.end, a, b)
    assert compiled(clash_kernel)(*tables).tolist() == expected  # as it runs on large rounds


def test_sessions_that_only_touch_do_not_clash_and_a_shared_minute_does() -> None:
    morning = offer("m", sessions=(session(DAY, "09:00", "12:00"),))
    touching = offer("t", sessions=(session(DAY, "12:00", "15:00"),))
    overlapping = offer("o", sessions=(session(DAY, "11:59", "15:00"),))
    table = Sessions((morning, touching, overlapping))
    assert table.clash(np.array([0, 0, 1]), np.array([1, 2, 2])).tolist() == [False, True, True]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.floats(0.1, 1.0))
def test_every_clash_of_an_allocation_is_found_kept_side_first_in_student_order(
    seed: int, share: float
) -> None:
    problem = build_problem(random_instance(seed, n_students=12, n_offers=10))
    rng = np.random.default_rng(seed)
    selected = rng.random(problem.n_arcs) < share  # several arcs per group, too
    expected = []
    for s in range(problem.n_students):
        mine = [a for a in problem.arcs_of(s) if selected[a]]
        mine.sort(key=lambda a: (KEEP_ORDER.index(int(problem.arc_group[a])), a))
        for i, a in enumerate(mine):
            for b in mine[i + 1 :]:
                if problem.offers[problem.arc_offer[a]].clashes_with(
                    problem.offers[problem.arc_offer[b]]
                ):
                    expected.append((a, b))
    assert find_clashes(problem, selected) == expected
    arcs = np.flatnonzero(selected)
    keep = np.array([KEEP_ORDER.index(int(g)) for g in problem.arc_group[arcs]], dtype=np.int64)
    args = (arcs, problem.arc_student[arcs], keep)
    plain, fast = pairs_kernel(*args), compiled(pairs_kernel)(*args)
    assert [x.tolist() for x in plain] == [x.tolist() for x in fast]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(20, 80))
def test_the_local_repair_leaves_no_clash_and_keeps_every_capacity(seed: int, size: int) -> None:
    problem = build_problem(contested(seed, n_students=size, n_offers=max(4, size * 3 // 8)))
    selected, _ = repair(problem, solve_relaxation(problem, seed), seed)
    assert not find_clashes(problem, selected)
    taken = np.bincount(problem.arc_offer[selected], minlength=len(problem.offers))
    assert (taken <= problem.capacity).all()
    slots = problem.arc_student[selected] * 4 + problem.arc_group[selected]
    assert len(np.unique(slots)) == len(slots)  # one allocation per student and level group
