"""Why a student did not get an offer they ranked: one reason per offer, in plain words.

Every ranked pair is classified at once with numpy (which rule decided it, whose allocation,
how many holders ranked the offer higher); only the sentences are written one by one. On a
150,000-student round a pair-by-pair pass took 20 s, most of it in clash tests between two
offers' sessions.
"""

from __future__ import annotations

import numpy as np

from matching.clashes import sessions_of
from matching.problem import L1, L23, UNRANKED, IntArray, Problem, ranked_pairs
from schemas import Explanation, Reason, ReasonCode

_UNRANKED = 10_000  # an unranked holder ranks below every ranked one
_NONE = np.iinfo(np.int64).max  # no allocation (or holder) of that kind

# What decided a ranked pair, in order of precedence.
_REJECTED, _GROUP_TAKEN, _CLASH, _FULL, _PLACE_LEFT = range(5)


def explain_all(
    problem: Problem, a_s: IntArray, a_o: IntArray, ranks: IntArray, mode: str
) -> list[Explanation | None]:
    """Per student, why they did not get their first choice (or anything at all).

    None when the student got their first choice, or ranked nothing and was placed.
    The allocations are given by student `a_s`, offer `a_o` and rank `ranks` (UNRANKED for
    an offer not ranked), grouped by student, as `solver` makes them.
    """
    p = problem
    n_off = len(p.offers)
    a_rank = np.where(ranks == UNRANKED, _UNRANKED, ranks)
    a_group = p.offer_group[a_o]
    r_s, r_o, r_r = ranked_pairs(p)
    got = _member(r_s * n_off + r_o, a_s * n_off + a_o)
    unhappy = np.zeros(p.n_students, dtype=np.bool_)
    unhappy[r_s[(r_r == 1) & ~got]] = True  # ranks count from 1
    rows = np.flatnonzero(unhappy[r_s] & ~got)
    rule, other, higher, same = _classify(
        p, a_s, a_o, a_rank, a_group, r_s[rows], r_o[rows], r_r[rows]
    )

    reasons: dict[int, list[Reason]] = {}
    # Reasons are frozen, and many students share one (the same full offer, ranked at the
    # same place): each distinct reason is built once. 480,000 of them on a 150,000-student
    # round took 2.5 s to build one by one.
    made: dict[tuple[int, int, int, int, int, int], Reason] = {}
    offers = p.offers
    b8 = np.isin(p.offer_group[r_o[rows]], (L1, L23))
    for s, o, in_b8, by, a, hi, eq in zip(
        r_s[rows].tolist(),
        r_o[rows].tolist(),
        b8.tolist(),
        rule.tolist(),
        other.tolist(),
        higher.tolist(),
        same.tolist(),
        strict=True,
    ):
        if by == _REJECTED:
            key = (by, s, o, 0, 0, 0)  # the reason build_problem gave for this very pair
        elif by == _FULL:
            key = (by, o, int(in_b8), hi, eq, a)
        else:
            key = (by, o, a, 0, 0, 0)
        made_reason = made.get(key)
        if made_reason is not None:
            reasons.setdefault(s, []).append(made_reason)
            continue
        oid = offers[o].offer_id
        if by == _REJECTED:
            code, message = p.rejected[(s, o)]
            reason = Reason.trusted(code=code, message=message, offer_id=oid)
        elif by == _GROUP_TAKEN:
            reason = Reason.trusted(
                code=ReasonCode.GROUP_TAKEN,
                message=(
                    f"got offer {offers[a].offer_id} (a better choice) in the same level group; "
                    "one per group per round"
                ),
                offer_id=oid,
            )
        elif by == _CLASH:
            reason = Reason.trusted(
                code=ReasonCode.CLASH,
                message=f"offer {oid} overlaps in time with allocated offer {offers[a].offer_id}",
                offer_id=oid,
            )
        elif by == _FULL:
            reason = _full(p, o, in_b8, hi, eq, a - hi - eq, mode)
        else:
            reason = _place_left(oid, mode)
        if by != _REJECTED:
            made[key] = reason
        reasons.setdefault(s, []).append(reason)

    held = np.bincount(a_s, minlength=p.n_students).tolist()
    best = np.full(p.n_students, _NONE, dtype=np.int64)
    np.minimum.at(best, a_s, a_rank)
    best_rank = best.tolist()
    out: list[Explanation | None] = []
    for s, student in enumerate(p.students):
        if s in reasons:
            if held[s]:
                top = best_rank[s]
                summary = f"placed in {held[s]} offer(s)"
                summary += f", best rank {top}" if top < _UNRANKED else ""
            else:
                summary = "not placed in any offer"
            out.append(
                Explanation.trusted(  # from validated records: skip re-validating
                    student_id=student.student_id, summary=summary, reasons=tuple(reasons[s])
                )
            )
        elif s in p.ranked or held[s]:
            out.append(None)
        else:
            msg = "ranked no offers"
            if not student.interests:
                msg += " and has no interests on record, so nothing could be matched"
            else:
                msg += "; no eligible offer in their interest sectors had a place left"
            out.append(
                Explanation(
                    student_id=student.student_id,
                    summary="not placed: " + msg,
                    reasons=(Reason(code=ReasonCode.NO_PREFERENCES, message=msg),),
                )
            )
    return out


def _member(values: IntArray, pool: IntArray) -> np.ndarray:
    """np.isin(values, pool), by binary search in the sorted pool: its hashing took 1.2 s."""
    keys = np.sort(pool)
    at = np.minimum(np.searchsorted(keys, values), max(len(keys) - 1, 0))
    found: np.ndarray = (keys[at] == values) if len(keys) else np.zeros(len(values), np.bool_)
    return found


def _classify(
    p: Problem,
    a_s: IntArray,
    a_o: IntArray,
    a_rank: IntArray,
    a_group: IntArray,
    s: IntArray,
    o: IntArray,
    rank: IntArray,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """For ranked pairs (s, o, rank) the student did not get: the rule that decided each.

    Returns the rule, then `other`: for _GROUP_TAKEN and _CLASH the allocated offer that
    blocks it, for _FULL the offer's number of holders; and for _FULL the holders who ranked
    it higher and at the same place.
    """
    n_off = len(p.offers)
    rule = np.full(len(s), _PLACE_LEFT, dtype=np.int64)
    other = np.zeros(len(s), dtype=np.int64)
    undecided = np.ones(len(s), dtype=np.bool_)

    def decide(mask: np.ndarray, code: int, who: IntArray | None = None) -> None:
        mask = mask & undecided
        rule[mask] = code
        if who is not None:
            other[mask] = who[mask]
        undecided[mask] = False

    # Ranked pairs that are no candidate arc were rejected by build_problem, with the reason.
    decide(~_member(s * n_off + o, p.arc_student * n_off + p.arc_offer), _REJECTED)
    # One allocation per level group: a better-ranked (or unranked, pinned) one in the group.
    group = p.offer_group[o]
    held_rank = np.full((p.n_students, 4), _NONE, dtype=np.int64)
    held_offer = np.zeros((p.n_students, 4), dtype=np.int64)
    better = np.where(a_rank == _UNRANKED, -1, a_rank)
    held_rank[a_s, a_group] = better
    held_offer[a_s, a_group] = a_o
    decide(held_rank[s, group] < rank, _GROUP_TAKEN, held_offer[s, group])
    # A clash with one of the student's allocations, the first in allocation order.
    first = np.searchsorted(a_s, s, side="left")
    count = np.searchsorted(a_s, s, side="right") - first
    sessions = sessions_of(p)
    for k in range(int(count.max(initial=0))):
        at = np.minimum(first + k, max(len(a_o) - 1, 0))
        mine = a_o[at]
        hit = (k < count) & (mine != o)
        hit[hit] = sessions.clash(mine[hit], o[hit])
        decide(hit, _CLASH, mine)
    # Capacity: holders ranked higher, the same, lower (an unranked holder ranks lowest).
    holders = np.bincount(a_o, minlength=n_off)
    capacity = np.array([offer.capacity for offer in p.offers], dtype=np.int64)
    keys = np.sort(a_o * (_UNRANKED + 1) + a_rank)
    # Searched in order of offer and rank (numpy's search starts from the last answer then),
    # and put back in the rows' order.
    wanted = o * (_UNRANKED + 1) + rank
    order = np.argsort(wanted, kind="stable")
    start = np.searchsorted(keys, (o * (_UNRANKED + 1))[order], side="left")
    below = np.searchsorted(keys, wanted[order], side="left")
    upto = np.searchsorted(keys, wanted[order], side="right")
    higher = np.empty(len(o), dtype=np.int64)
    same = np.empty(len(o), dtype=np.int64)
    higher[order] = below - start
    same[order] = upto - below
    decide(holders[o] >= capacity[o], _FULL, holders[o])
    return rule, other, higher, same


def _full(p: Problem, o: int, in_b8: bool, higher: int, same: int, lower: int, mode: str) -> Reason:
    offer = p.offers[o]
    oid = offer.offer_id
    parts = [f"{higher} by students who ranked it higher"]
    if same:
        parts.append(f"{same} by students who ranked it at the same place")
    if lower:
        if mode == "stable":
            why = "with a better lottery number"
        elif in_b8:
            why = "because that completes more Benchmark 8 pairs or places more students"
        else:
            why = "because that places more students"
        parts.append(f"{lower} by students who ranked it lower, {why}")
    code = (
        ReasonCode.FULL
        if not lower
        else (ReasonCode.LOTTERY if mode == "stable" else ReasonCode.OBJECTIVE)
    )
    if not lower and same and mode == "stable":
        parts[-1] += " and a better lottery number"
    return Reason.trusted(
        code=code,
        message=f"capacity of {oid} ({offer.capacity} places) taken: " + ", ".join(parts),
        offer_id=oid,
    )


def _place_left(oid: str, mode: str) -> Reason:
    if mode == "stable":
        msg = f"offer {oid} had a place, but a clash or an earlier group ruled it out"
    else:
        msg = (
            f"offer {oid} had a place, but giving it would have cost a Benchmark 8 pair or "
            "a placement elsewhere"
        )
    return Reason.trusted(code=ReasonCode.OBJECTIVE, message=msg, offer_id=oid)
