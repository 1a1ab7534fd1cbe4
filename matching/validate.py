"""A solver-independent check of every hard constraint on a result.

It re-reads the instance, not the solver's internal problem, so a bug in how the problem was
built cannot hide a broken allocation. `solve` runs it before returning.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from matching.eligibility import ineligibility
from matching.errors import ValidationFailed
from schemas import Instance, OfferKind, Result, RiskCode


def problems(instance: Instance, result: Result) -> list[str]:
    students = {s.student_id: s for s in instance.students}
    offers = {o.offer_id: o for o in instance.offers}
    ranked = {p.student_id: p.ranked for p in instance.preferences}
    forbidden = {(p.student_id, p.offer_id) for p in instance.forbidden}
    pinned = {(p.student_id, p.offer_id) for p in instance.pinned}
    out: list[str] = []
    taken: Counter[str] = Counter()
    per_student: dict[str, list[str]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for a in result.allocations:
        where = f"allocation {a.student_id} -> {a.offer_id}"
        student = students.get(a.student_id)
        offer = offers.get(a.offer_id)
        if student is None or offer is None:
            out.append(f"{where}: unknown student or offer")
            continue
        if (a.student_id, a.offer_id) in seen:
            out.append(f"{where}: allocated twice")
        seen.add((a.student_id, a.offer_id))
        if a.kind != offer.kind or a.group != offer.kind.group:
            out.append(f"{where}: kind {a.kind} does not match the offer's {offer.kind}")
        for reason in ineligibility(student, offer):
            out.append(f"{where}: {reason}")
        if (a.student_id, a.offer_id) in forbidden:
            out.append(f"{where}: the pair is forbidden")
        own = ranked.get(a.student_id, ())
        is_pin = (a.student_id, a.offer_id) in pinned
        if a.pinned != is_pin:
            out.append(f"{where}: pinned flag is {a.pinned}, instance says {is_pin}")
        if own and not is_pin and a.offer_id not in own:
            out.append(f"{where}: the student ranked offers but not this one")
        if not own and not is_pin and offer.sector not in student.interests:
            out.append(f"{where}: unranked allocation outside the student's interests")
        expected_rank = own.index(a.offer_id) + 1 if a.offer_id in own else None
        if a.rank != expected_rank:
            out.append(f"{where}: rank {a.rank} but the student ranked it {expected_rank}")
        flagged = RiskCode.L3_NO_PREVISIT in a.risks
        needs_flag = offer.kind == OfferKind.WORKPLACE_L3 and not offer.teacher_previsit_done
        if flagged != needs_flag:
            out.append(f"{where}: L3 pre-visit risk flag is {flagged}, should be {needs_flag}")
        taken[a.offer_id] += 1
        per_student[a.student_id].append(a.offer_id)
    for offer_id, n in taken.items():
        if n > offers[offer_id].capacity:
            out.append(f"offer {offer_id}: {n} allocations for {offers[offer_id].capacity} places")
    for student_id, own_offers in per_student.items():
        groups = Counter(offers[o].kind.group for o in own_offers)
        for group, n in groups.items():
            if n > 1:
                out.append(f"student {student_id}: {n} allocations in group {group.value}")
        for i, first in enumerate(own_offers):
            for second in own_offers[i + 1 :]:
                if offers[first].clashes_with(offers[second]):
                    out.append(
                        f"student {student_id}: offers {first} and {second} overlap in time"
                    )
    for student_id, offer_id in sorted(pinned - seen):
        out.append(f"pinned pair {student_id} -> {offer_id} is not allocated")
    return out


def validate_result(instance: Instance, result: Result) -> None:
    """Raise ValidationFailed, listing every broken hard constraint, if there is any."""
    found = problems(instance, result)
    if found:
        raise ValidationFailed(found)
