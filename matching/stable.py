"""Stable mode: student-proposing deferred acceptance with lottery priorities.

Offers rank students by one seeded lottery (priority students first), students propose in
their own order, so no student envies another with justification. Level groups are matched
one after another, scarcest first; a student's later groups skip offers that clash with what
they already hold.
"""

from __future__ import annotations

import heapq

import numpy as np

from matching.clashes import KEEP_ORDER
from matching.problem import BoolArray, IntArray, Problem


def lottery(problem: Problem, seed: int) -> IntArray:
    """Priority key per student, smaller wins: priority students, then a seeded lottery."""
    n = problem.n_students
    draw = np.random.default_rng(seed).permutation(n).astype(np.int64)
    return draw + n * (problem.weight <= 1)


def solve_stable(problem: Problem, seed: int) -> BoolArray:
    key = lottery(problem, seed).tolist()
    selected = np.zeros(problem.n_arcs, dtype=np.bool_)
    held: dict[int, list[int]] = {}  # student -> offers already allocated
    for group in KEEP_ORDER:
        arcs = np.flatnonzero(problem.arc_group == group)
        # Proposal order: by rank (interest matches after ranked offers), then arc order.
        rank = problem.arc_rank[arcs]
        order = np.lexsort((arcs, np.where(rank == 0, 10_000, rank), problem.arc_student[arcs]))
        lists: dict[int, list[int]] = {}
        for a in arcs[order].tolist():
            s = int(problem.arc_student[a])
            o = int(problem.arc_offer[a])
            if any(problem.clash(o, h) for h in held.get(s, [])):
                continue
            lists.setdefault(s, []).append(a)
        for a in _defer(problem, lists, key):
            selected[a] = True
            held.setdefault(int(problem.arc_student[a]), []).append(int(problem.arc_offer[a]))
    return selected


def _defer(problem: Problem, lists: dict[int, list[int]], key: list[int]) -> list[int]:
    nxt = dict.fromkeys(lists, 0)
    free = sorted(lists, reverse=True)
    # per offer: a heap of (-key, student, arc), so the worst-priority holder is on top
    holders: dict[int, list[tuple[int, int, int]]] = {}
    while free:
        s = free.pop()
        options = lists[s]
        while nxt[s] < len(options):
            a = options[nxt[s]]
            nxt[s] += 1
            o = int(problem.arc_offer[a])
            heap = holders.setdefault(o, [])
            if len(heap) < problem.capacity[o]:
                heapq.heappush(heap, (-key[s], s, a))
                break
            if heap and -heap[0][0] > key[s]:
                _, loser, _ = heapq.heapreplace(heap, (-key[s], s, a))
                free.append(loser)
                break
    return [a for heap in holders.values() for _, _, a in heap]
