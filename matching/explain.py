"""Why a student did not get an offer they ranked: one reason per offer, in plain words."""

from __future__ import annotations

import bisect
from collections import defaultdict

from matching.problem import Problem
from schemas import Allocation, Explanation, LevelGroup, Reason, ReasonCode

_UNRANKED = 10_000


class Explainer:
    def __init__(self, problem: Problem, allocations: list[Allocation], mode: str) -> None:
        self.problem = problem
        self.mode = mode
        self.by_student: dict[str, list[Allocation]] = defaultdict(list)
        ranks: dict[str, list[int]] = defaultdict(list)
        for a in allocations:
            self.by_student[a.student_id].append(a)
            ranks[a.offer_id].append(a.rank if a.rank is not None else _UNRANKED)
        self.holder_ranks = {o: sorted(r) for o, r in ranks.items()}

    def explain(self, s: int) -> Explanation | None:
        """None when the student got their first choice (or ranked nothing and was placed)."""
        p = self.problem
        student = p.students[s]
        own = self.by_student.get(student.student_id, [])
        ranked = sorted(p.ranked.get(s, {}).items(), key=lambda kv: kv[1])
        got = {a.offer_id for a in own}
        if not ranked:
            if own:
                return None
            code = ReasonCode.NO_PREFERENCES
            msg = "ranked no offers"
            if not student.interests:
                msg += " and has no interests on record, so nothing could be matched"
            else:
                msg += "; no eligible offer in their interest sectors had a place left"
            return Explanation(
                student_id=student.student_id,
                summary="not placed: " + msg,
                reasons=(Reason(code=code, message=msg),),
            )
        if ranked[0][0] in {p.offer_index[o] for o in got}:
            return None
        reasons = [self._reason(s, o, r, own) for o, r in ranked if p.offers[o].offer_id not in got]
        if own:
            best = min((a.rank for a in own if a.rank is not None), default=None)
            summary = f"placed in {len(own)} offer(s)" + (f", best rank {best}" if best else "")
        else:
            summary = "not placed in any offer"
        return Explanation(student_id=student.student_id, summary=summary, reasons=tuple(reasons))

    def _reason(self, s: int, o: int, rank: int, own: list[Allocation]) -> Reason:
        p = self.problem
        offer = p.offers[o]
        oid = offer.offer_id
        if (s, o) in p.rejected:
            code, message = p.rejected[(s, o)]
            return Reason(code=code, offer_id=oid, message=message)
        for a in own:
            if a.group == offer.kind.group and (a.rank is None or a.rank < rank):
                return Reason(
                    code=ReasonCode.GROUP_TAKEN,
                    offer_id=oid,
                    message=(
                        f"got offer {a.offer_id} (a better choice) in the same level group; "
                        "one per group per round"
                    ),
                )
        for a in own:
            other = p.offer_index[a.offer_id]
            if other != o and p.clash(other, o):
                return Reason(
                    code=ReasonCode.CLASH,
                    offer_id=oid,
                    message=f"offer {oid} overlaps in time with allocated offer {a.offer_id}",
                )
        holders = self.holder_ranks.get(oid, [])
        if len(holders) >= offer.capacity:
            higher = bisect.bisect_left(holders, rank)
            same = bisect.bisect_right(holders, rank) - higher
            lower = len(holders) - higher - same
            parts = [f"{higher} by students who ranked it higher"]
            if same:
                parts.append(f"{same} by students who ranked it at the same place")
            if lower:
                if self.mode == "stable":
                    why = "with a better lottery number"
                elif offer.kind.group in (LevelGroup.B8_L1, LevelGroup.B8_L23):
                    why = "because that completes more Benchmark 8 pairs or places more students"
                else:
                    why = "because that places more students"
                parts.append(f"{lower} by students who ranked it lower, {why}")
            code = (
                ReasonCode.FULL
                if not lower
                else (ReasonCode.LOTTERY if self.mode == "stable" else ReasonCode.OBJECTIVE)
            )
            if not lower and same and self.mode == "stable":
                parts[-1] += " and a better lottery number"
            return Reason(
                code=code,
                offer_id=oid,
                message=f"capacity of {oid} ({offer.capacity} places) taken: " + ", ".join(parts),
            )
        if self.mode == "stable":
            msg = f"offer {oid} had a place, but a clash or an earlier group ruled it out"
        else:
            msg = (
                f"offer {oid} had a place, but giving it would have cost a Benchmark 8 pair or "
                "a placement elsewhere"
            )
        return Reason(code=ReasonCode.OBJECTIVE, offer_id=oid, message=msg)
