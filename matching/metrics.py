"""Quality measures of an allocation, for the result summary and the benchmarks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from matching.problem import L1, L23, Problem
from matching.stable import lottery


def b8_done(problem: Problem, pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    l1 = problem.has_l1.copy()
    l23 = problem.has_l23.copy()
    for s, o in pairs:
        g = int(problem.offer_group[o])
        l1[s] |= g == L1
        l23[s] |= g == L23
    return l1 & l23


def school_coverage(problem: Problem, done: np.ndarray) -> dict[str, tuple[int, int]]:
    """school -> (students, students holding the Benchmark 8 pair)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s, student in enumerate(problem.students):
        out[student.school_id][0] += 1
        out[student.school_id][1] += int(done[s])
    return {k: (v[0], v[1]) for k, v in out.items()}


def blocking_pairs(problem: Problem, pairs: list[tuple[int, int]], seed: int) -> int:
    """Pairs (student, ranked offer) that would both rather be matched to each other.

    The student prefers the offer to what they hold in its level group (or holds nothing
    there), and the offer has a free place or holds someone with a worse lottery key
    (the same seeded lottery stable mode uses). Clashes are ignored: this is the textbook
    notion of justified envy.
    """
    key = lottery(problem, seed)
    held_rank: dict[tuple[int, int], int] = {}
    holders: dict[int, list[int]] = defaultdict(list)
    for s, o in pairs:
        g = int(problem.offer_group[o])
        held_rank[(s, g)] = problem.ranked.get(s, {}).get(o, 10_000)
        holders[o].append(s)
    worst = {o: max(int(key[s]) for s in ss) for o, ss in holders.items()}
    count = 0
    for a in range(problem.n_arcs):
        r = int(problem.arc_rank[a])
        if r == 0:
            continue
        s, o, g = int(problem.arc_student[a]), int(problem.arc_offer[a]), int(problem.arc_group[a])
        if r >= held_rank.get((s, g), 10_001):
            continue
        if (s, g) in held_rank and held_rank[(s, g)] == r:
            continue
        n_held = len(holders.get(o, []))
        if n_held < problem.capacity[o] or worst.get(o, -1) > int(key[s]):
            count += 1
    return count


def summarise(problem: Problem, pairs: list[tuple[int, int]], seed: int = 0) -> dict[str, float]:
    """The benchmark's quality columns for any allocation, whoever made it."""
    done = b8_done(problem, pairs)
    n = max(problem.n_students, 1)
    cover = school_coverage(problem, done)
    ranks = [problem.ranked.get(s, {}).get(o) for s, o in pairs]
    ranked = [r for r in ranks if r is not None]
    with_prefs = [s for s in problem.ranked]
    first = {s for (s, o), r in zip(pairs, ranks, strict=True) if r == 1}
    return {
        "placements": len(pairs),
        "students_matched": len({s for s, _ in pairs}),
        "b8_coverage_pct": round(100.0 * int(done.sum()) / n, 2),
        "lowest_school_coverage_pct": round(
            min((100.0 * c / t for t, c in cover.values()), default=0.0), 2
        ),
        "mean_rank": round(sum(ranked) / len(ranked), 4) if ranked else float("nan"),
        "first_choice_share": round(len(first) / len(with_prefs), 4) if with_prefs else 0.0,
        "blocking_pairs": blocking_pairs(problem, pairs, seed),
    }
