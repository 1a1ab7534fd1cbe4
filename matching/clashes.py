"""Clashes between two allocations of one student, and the repair that removes them."""

from __future__ import annotations

import datetime as dt
import weakref

import numpy as np

from matching.compiled import kernel
from matching.flow import NETWORKS, FlowSolution, in_network, solve_local
from matching.problem import (
    FE_INTERACTION,
    FE_VISIT,
    L1,
    L23,
    BoolArray,
    IntArray,
    Problem,
)
from schemas import Offer

MAX_REPAIR_PASSES = 3
LOCAL_RINGS = 1  # rings of holders around the clashing students re-solved together

# When two allocations clash, keep the one in the scarcer group: L2/L3 places are rare and
# decide the Benchmark 8 pair, L1 visits and further-education events are plentiful.
KEEP_ORDER = (L23, L1, FE_VISIT, FE_INTERACTION)
_KEEP_RANK = np.argsort(np.array(KEEP_ORDER, dtype=np.int64))  # group -> place in KEEP_ORDER


def selected_pairs(problem: Problem, selected: BoolArray) -> list[tuple[int, int]]:
    arcs = np.flatnonzero(selected)
    return list(
        zip(problem.arc_student[arcs].tolist(), problem.arc_offer[arcs].tolist(), strict=True)
    )


def find_clashes(problem: Problem, selected: BoolArray) -> list[tuple[int, int]]:
    """(kept arc, dropped arc) for every clashing pair of one student's allocations.

    Ordered by student, then by the kept and the dropped arc's place in KEEP_ORDER (then by
    arc). Compiled (`pairs_kernel`): the repair and the certificate call this on every
    candidate allocation, and sorting all of them took most of a certificate branch's time.
    """
    arcs = np.flatnonzero(selected)  # in student order: build_problem emits them so
    pairs = kernel(pairs_kernel, len(arcs))
    i, j = pairs(arcs, problem.arc_student[arcs], _KEEP_RANK[problem.arc_group[arcs]])
    offer = problem.arc_offer
    hit = sessions_of(problem).clash(offer[i], offer[j])
    return list(zip(i[hit].tolist(), j[hit].tolist(), strict=True))


def pairs_kernel(arcs: IntArray, student: IntArray, keep: IntArray) -> tuple[IntArray, IntArray]:
    """Every two arcs of one student: `arcs` ascending (so grouped by their `student`), each
    student's sorted by (`keep` rank, arc), then the pairs (a, b), a before b, in that order.
    Compiled by numba."""
    n = len(arcs)
    first = np.empty(n, dtype=np.int64)
    second = np.empty(n, dtype=np.int64)
    found = 0
    run = np.empty(n, dtype=np.int64)  # positions in `arcs`, one student's at a time
    lo = 0
    while lo < n:
        hi = lo + 1
        while hi < n and student[hi] == student[lo]:
            hi += 1
        size = hi - lo
        for k in range(size):  # insertion sort: a student holds a few arcs at most
            m = k
            while m > 0 and keep[run[m - 1]] > keep[lo + k]:  # equal ranks: arc order kept
                run[m] = run[m - 1]
                m -= 1
            run[m] = lo + k
        pairs = size * (size - 1) // 2
        if found + pairs > len(first):
            grow = max(len(first), pairs)
            first = np.concatenate((first, np.empty(grow, dtype=np.int64)))
            second = np.concatenate((second, np.empty(grow, dtype=np.int64)))
        for a in range(size):
            for b in range(a + 1, size):
                first[found] = arcs[run[a]]
                second[found] = arcs[run[b]]
                found += 1
        lo = hi
    return first[:found], second[:found]


class Sessions:
    """Every offer's sessions as integer arrays, to test many offer pairs for a clash at once.

    Row o holds offer o's sessions (day ordinal, start and end in microseconds of the day);
    unused slots have day -1. Two offers clash when a session of each falls on the same day
    and the two overlap: exactly `Offer.clashes_with`.
    """

    def __init__(self, offers: tuple[Offer, ...]) -> None:
        width = max((len(o.sessions) for o in offers), default=0)
        self.day = np.full((len(offers), width), -1, dtype=np.int64)
        self.start = np.zeros((len(offers), width), dtype=np.int64)
        self.end = np.zeros((len(offers), width), dtype=np.int64)
        for o, offer in enumerate(offers):
            for k, session in enumerate(offer.sessions):
                self.day[o, k] = session.date.toordinal()
                self.start[o, k] = _microseconds(session.start)
                self.end[o, k] = _microseconds(session.end)

    def clash(self, a: IntArray, b: IntArray) -> BoolArray:
        """Do offers a[i] and b[i] clash, for every i?"""
        out: BoolArray = kernel(clash_kernel, len(a))(self.day, self.start, self.end, a, b)
        return out


def clash_kernel(
    day: IntArray, start: IntArray, end: IntArray, a: IntArray, b: IntArray
) -> BoolArray:
    """`Sessions.clash` over the session tables; compiled by numba (the repair and the
    certificate test every candidate allocation, tens of thousands of pairs each time)."""
    out = np.zeros(len(a), dtype=np.bool_)
    width = day.shape[1]
    for i in range(len(a)):
        x, y = a[i], b[i]
        for j in range(width):
            if day[x, j] < 0:
                break
            for k in range(width):
                if day[y, k] < 0:
                    break
                if day[x, j] == day[y, k] and start[x, j] < end[y, k] and start[y, k] < end[x, j]:
                    out[i] = True
                    break
            if out[i]:
                break
    return out


def _microseconds(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


_SESSIONS: dict[int, tuple[weakref.ref[Problem], Sessions]] = {}


def sessions_of(problem: Problem) -> Sessions:
    """The problem's `Sessions`, built once per problem (the offers never change)."""
    key = id(problem)
    hit = _SESSIONS.get(key)
    if hit is not None and hit[0]() is problem:
        return hit[1]
    table = Sessions(problem.offers)
    _SESSIONS[key] = (weakref.ref(problem, lambda _: _SESSIONS.pop(key, None)), table)
    return table


def network_of(group: int) -> int:
    return next(k for k, groups in enumerate(NETWORKS) if group in groups)


def repair(
    problem: Problem,
    start: FlowSolution,
    seed: int,
    penalty: IntArray | None = None,
    scale: int = 1,
    prefer: dict[tuple[int, int], int] | None = None,
    forbid: BoolArray | None = None,
) -> tuple[BoolArray, int]:
    """Forbid clashing arcs and re-optimise around them until nothing clashes.

    `prefer` names, for a clash (keep, drop), the arc to give up when known to be cheaper.
    Each pass re-solves, per touched network, only a neighbourhood of the clashing students
    (`_neighbourhood`) with everybody else fixed: the moves that replace a forbidden arc are
    short chains through the offers near it, and a whole-network re-solve per pass cost
    40 s on a 150,000-student round. Re-solving can move other students into new clashes;
    after MAX_REPAIR_PASSES the remaining clashing allocations are simply withdrawn, which is
    always feasible.
    """
    prefer = prefer or {}
    forbid = np.zeros(problem.n_arcs, dtype=np.bool_) if forbid is None else forbid.copy()
    selected = start.selected.copy()
    index = _ArcIndex.of(problem)
    passes = 0
    while clashes := find_clashes(problem, selected):
        if passes == MAX_REPAIR_PASSES:
            for pair in clashes:
                selected[prefer.get(pair, pair[1])] = False
            continue
        passes += 1
        dropped: dict[int, list[int]] = {}
        for pair in clashes:
            drop = prefer.get(pair, pair[1])
            forbid[drop] = True
            dropped.setdefault(network_of(int(problem.arc_group[drop])), []).append(drop)
        for k in sorted(dropped):
            drops = np.array(sorted(dropped[k]), dtype=np.int64)
            members = _neighbourhood(problem, index, selected, forbid, k, drops)
            selected = solve_local(problem, selected, forbid, members, k, seed, penalty, scale)
    return selected, passes


class _ArcIndex:
    """Candidate arcs by student (build_problem emits them in student order) and by offer."""

    @staticmethod
    def of(problem: Problem) -> _ArcIndex:
        """The problem's index, built once (`Problem.memo`): the certificate repairs dozens
        of candidate allocations, and sorting a territory's arcs by offer takes 0.1 s."""
        return problem.cached("arc_index", lambda: _ArcIndex(problem))

    def __init__(self, problem: Problem) -> None:
        self.by_student = arcs_by_student(problem)
        self.offer_order = np.argsort(problem.arc_offer, kind="stable")
        self.by_offer = np.searchsorted(
            problem.arc_offer[self.offer_order], np.arange(len(problem.offers) + 1)
        )

    def of_students(self, students: IntArray) -> IntArray:
        return ranges(self.by_student, students)

    def of_offers(self, offers: IntArray) -> IntArray:
        found: IntArray = self.offer_order[ranges(self.by_offer, offers)]
        return found


def arcs_by_student(problem: Problem) -> IntArray:
    """Student s's candidate arcs are arcs_by_student[s]:arcs_by_student[s + 1] (build_problem
    emits them in student order), for `ranges`."""
    found: IntArray = np.searchsorted(problem.arc_student, np.arange(problem.n_students + 1))
    return found


def ranges(ptr: IntArray, items: IntArray) -> IntArray:
    """Concatenation of range(ptr[i], ptr[i + 1]) over `items`, without a Python loop."""
    starts = ptr[items]
    lengths = ptr[items + 1] - starts
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    found: IntArray = offsets + np.arange(int(lengths.sum()), dtype=np.int64)
    return found


def _neighbourhood(
    problem: Problem,
    index: _ArcIndex,
    selected: BoolArray,
    forbid: BoolArray,
    network: int,
    drops: IntArray,
) -> IntArray:
    """The students a local re-solve may move after the arcs `drops` are forbidden (sorted).

    A forbidden arc is replaced by a chain: its student takes another offer, whose holder
    moves on, and so on (LOCAL_RINGS rings of holders); the place it frees goes to a
    candidate of that offer not yet placed in its group. Every other student's allocation
    in the network stays as it is.
    """
    in_net = in_network(problem, network)
    member = np.zeros(problem.n_students, dtype=np.bool_)
    ring = np.unique(problem.arc_student[drops])
    member[ring] = True
    freed = index.of_offers(np.unique(problem.arc_offer[drops]))
    freed = freed[in_net[freed] & ~forbid[freed]]
    placed = np.zeros((problem.n_students, 4), dtype=np.bool_)
    held = np.flatnonzero(selected & in_net)
    placed[problem.arc_student[held], problem.arc_group[held]] = True
    unplaced = ~placed[problem.arc_student[freed], problem.arc_group[freed]]
    waiting = problem.arc_student[freed[unplaced]]
    member[waiting] = True
    ring = np.unique(np.concatenate([ring, waiting]))
    for _ in range(LOCAL_RINGS):
        arcs = index.of_students(ring)
        offers = np.unique(problem.arc_offer[arcs[in_net[arcs] & ~forbid[arcs]]])
        nearby = index.of_offers(offers)
        holders = np.unique(problem.arc_student[nearby[selected[nearby]]])
        ring = holders[~member[holders]]
        member[ring] = True
    members: IntArray = np.flatnonzero(member)
    return members
