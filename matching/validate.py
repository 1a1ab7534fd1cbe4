"""A solver-independent check of every hard constraint on a result.

It re-reads the instance, not the solver's internal problem, so a bug in how the problem was
built cannot hide a broken allocation. `solve` runs it before returning.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from matching.eligibility import RULES, insurance
from matching.errors import ValidationFailed
from schemas import Allocation, Instance, OfferKind, Result, RiskCode


def problems(instance: Instance, result: Result) -> list[str]:
    """Every broken hard constraint of `result`, as sentences; empty when it is valid.

    Offer-only facts (insurance, the pre-visit flag, clashes between two offers) are
    computed once per offer or offer pair, from the instance alone: a 150,000-student
    result has 350,000 allocations over 47,000 offers.
    """
    students = {s.student_id: s for s in instance.students}
    offers = {o.offer_id: o for o in instance.offers}
    ranked = {p.student_id: p.ranked for p in instance.preferences}
    forbidden = {(p.student_id, p.offer_id) for p in instance.forbidden}
    pinned = {(p.student_id, p.offer_id) for p in instance.pinned}
    offer_only: dict[str, str | None] = {}  # the insurance rule needs the offer alone
    out: list[str] = []
    taken: Counter[str] = Counter()
    per_student: dict[str, list[str]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for a in result.allocations:
        student_id, offer_id = a.student_id, a.offer_id
        student = students.get(student_id)
        offer = offers.get(offer_id)
        if student is None or offer is None:
            out.append(f"{_where(a)}: unknown student or offer")
            continue
        pair = (student_id, offer_id)
        if pair in seen:
            out.append(f"{_where(a)}: allocated twice")
        seen.add(pair)
        kind = offer.kind
        if a.kind != kind or a.group != kind.group:
            out.append(f"{_where(a)}: kind {a.kind} does not match the offer's {kind}")
        if offer_id not in offer_only:
            offer_only[offer_id] = insurance(student, offer)
        for rule in RULES:
            reason = offer_only[offer_id] if rule is insurance else rule(student, offer)
            if reason is not None:
                out.append(f"{_where(a)}: {reason}")
        if pair in forbidden:
            out.append(f"{_where(a)}: the pair is forbidden")
        own = ranked.get(student_id, ())
        is_pin = pair in pinned
        if a.pinned != is_pin:
            out.append(f"{_where(a)}: pinned flag is {a.pinned}, instance says {is_pin}")
        expected_rank = own.index(offer_id) + 1 if offer_id in own else None
        if own and not is_pin and expected_rank is None:
            out.append(f"{_where(a)}: the student ranked offers but not this one")
        if not own and not is_pin and offer.sector not in student.interests:
            out.append(f"{_where(a)}: unranked allocation outside the student's interests")
        if a.rank != expected_rank:
            out.append(f"{_where(a)}: rank {a.rank} but the student ranked it {expected_rank}")
        flagged = RiskCode.L3_NO_PREVISIT in a.risks
        needs_flag = kind == OfferKind.WORKPLACE_L3 and not offer.teacher_previsit_done
        if flagged != needs_flag:
            out.append(f"{_where(a)}: L3 pre-visit risk flag is {flagged}, should be {needs_flag}")
        taken[offer_id] += 1
        per_student[student_id].append(offer_id)
    for offer_id, n in taken.items():
        if n > offers[offer_id].capacity:
            out.append(f"offer {offer_id}: {n} allocations for {offers[offer_id].capacity} places")
    clash: dict[tuple[str, str], bool] = {}
    for student_id, own_offers in per_student.items():
        if len(own_offers) == 1:
            continue
        groups = [offers[o].kind.group for o in own_offers]
        if len(set(groups)) < len(groups):
            for group, n in Counter(groups).items():
                if n > 1:
                    out.append(f"student {student_id}: {n} allocations in group {group.value}")
        for i, first in enumerate(own_offers):
            for second in own_offers[i + 1 :]:
                key = (first, second) if first <= second else (second, first)
                hit = clash.get(key)
                if hit is None:
                    hit = clash[key] = offers[first].clashes_with(offers[second])
                if hit:
                    out.append(f"student {student_id}: offers {first} and {second} overlap in time")
    for student_id, offer_id in sorted(pinned - seen):
        out.append(f"pinned pair {student_id} -> {offer_id} is not allocated")
    return out


def _where(a: Allocation) -> str:
    return f"allocation {a.student_id} -> {a.offer_id}"


def validate_result(instance: Instance, result: Result) -> None:
    """Raise ValidationFailed, listing every broken hard constraint, if there is any."""
    found = problems(instance, result)
    if found:
        raise ValidationFailed(found)
