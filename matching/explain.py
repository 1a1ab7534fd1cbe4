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

    # Reasons are frozen, and many students share one (the same full offer, ranked at the
    # same place): each distinct reason is built once, and the rows take theirs by index.
    # 710,000 reasons on a 150,000-student round, 263,000 of them distinct: with a Python
    # loop over the rows looking each one up, explain_all took 3.3 s; this way 2.6 s.
    s_rows, o_rows = r_s[rows], r_o[rows]
    in_b8 = np.isin(p.offer_group[o_rows], (L1, L23)).astype(np.int64)
    rejected, full = rule == _REJECTED, rule == _FULL
    # What a reason depends on: for a rejected pair the pair itself (build_problem's reason),
    # for a full offer its holders by rank, otherwise the offer and the allocation in the way.
    keys = np.stack(
        [
            rule,
            np.where(rejected, s_rows, o_rows),
            np.where(rejected, o_rows, np.where(full, in_b8, other)),
            np.where(full, higher, 0),
            np.where(full, same, 0),
            np.where(full, other, 0),
        ]
    )
    order = np.lexsort(keys[::-1])
    new_key = np.ones(len(order), dtype=np.bool_)
    if len(order):
        new_key[1:] = (np.diff(keys[:, order], axis=1) != 0).any(axis=0)
    which = np.empty(len(order), dtype=np.int64)
    which[order] = np.cumsum(new_key) - 1  # each row's distinct reason
    first = order[new_key]  # a row of each distinct reason
    columns = (rule, s_rows, o_rows, in_b8, other, higher, same)
    distinct = [
        _reason(p, by, st, o, bool(b8), a, hi, eq, mode)
        for by, st, o, b8, a, hi, eq in zip(*(c[first].tolist() for c in columns), strict=True)
    ]
    row_reasons = [distinct[i] for i in which.tolist()]
    # Rows come by student, then rank: each student's reasons are one run of them.
    reasons: dict[int, tuple[Reason, ...]] = {}
    if len(rows):
        starts = np.flatnonzero(np.diff(s_rows, prepend=-1))
        ends = np.append(starts[1:], len(rows))
        for st, a, b in zip(s_rows[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
            reasons[st] = tuple(row_reasons[a:b])

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
                    student_id=student.student_id, summary=summary, reasons=reasons[s]
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


def _reason(
    p: Problem, by: int, s: int, o: int, in_b8: bool, a: int, hi: int, eq: int, mode: str
) -> Reason:
    """The reason of one kind `by` (of `_classify`) for student `s` not getting offer `o`."""
    offers = p.offers
    oid = offers[o].offer_id
    if by == _REJECTED:
        code, message = p.rejected[(s, o)]
        return Reason.trusted(code=code, message=message, offer_id=oid)
    if by == _GROUP_TAKEN:
        return Reason.trusted(
            code=ReasonCode.GROUP_TAKEN,
            message=(
                f"got offer {offers[a].offer_id} (a better choice) in the same level group; "
                "one per group per round"
            ),
            offer_id=oid,
        )
    if by == _CLASH:
        return Reason.trusted(
            code=ReasonCode.CLASH,
            message=f"offer {oid} overlaps in time with allocated offer {offers[a].offer_id}",
            offer_id=oid,
        )
    if by == _FULL:
        return _full(p, o, in_b8, hi, eq, a - hi - eq, mode)
    return _place_left(oid, mode)


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
