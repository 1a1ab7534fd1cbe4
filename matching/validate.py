"""A solver-independent check of every hard constraint on a result.

It re-reads the instance, not the solver's internal problem, so a bug in how the problem was
built cannot hide a broken allocation. `solve` runs it before returning.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from matching.eligibility import Rule, insurance_problem, student_rules
from matching.errors import ValidationFailed
from schemas import Allocation, Instance, LevelGroup, Offer, OfferKind, Result, RiskCode


@dataclass(frozen=True)
class _OfferFacts:
    """What an offer alone decides for every allocation to it, worked out once: a
    150,000-student result has 350,000 allocations over 47,000 offers."""

    offer: Offer
    group: LevelGroup
    rules: tuple[Rule, ...]  # the eligibility rules that can fail on it (`student_rules`)
    own_problem: str | None  # insurance, which reads the offer alone
    needs_flag: bool  # an L3 without a teacher's pre-visit must carry the risk flag
    dates: frozenset[dt.date]  # two offers clash only on a shared date (`Session.overlaps`)

    @classmethod
    def of(cls, offer: Offer) -> _OfferFacts:
        return cls(
            offer,
            offer.kind.group,
            student_rules(offer),
            insurance_problem(offer),
            offer.kind == OfferKind.WORKPLACE_L3 and not offer.teacher_previsit_done,
            frozenset(s.date for s in offer.sessions),
        )


def problems(instance: Instance, result: Result) -> list[str]:
    """Every broken hard constraint of `result`, as sentences; empty when it is valid."""
    students = {s.student_id: s for s in instance.students}
    offers = {o.offer_id: o for o in instance.offers}
    ranked = {p.student_id: p.ranked for p in instance.preferences if p.ranked}
    forbidden = {(p.student_id, p.offer_id) for p in instance.forbidden}
    pinned = {(p.student_id, p.offer_id) for p in instance.pinned}
    facts: dict[str, _OfferFacts] = {}
    out: list[str] = []
    taken: Counter[str] = Counter()
    per_student: dict[str, list[str]] = {}
    for a in result.allocations:
        student_id, offer_id = a.student_id, a.offer_id
        student = students.get(student_id)
        known = facts.get(offer_id)
        if known is None and offer_id in offers:
            known = facts[offer_id] = _OfferFacts.of(offers[offer_id])
        if student is None or known is None:
            out.append(f"{_where(a)}: unknown student or offer")
            continue
        offer = known.offer
        if a.kind != offer.kind or a.group != known.group:
            out.append(f"{_where(a)}: kind {a.kind} does not match the offer's {offer.kind}")
        if known.own_problem is not None:
            out.append(f"{_where(a)}: {known.own_problem}")
        for rule in known.rules:
            reason = rule(student, offer)
            if reason is not None:
                out.append(f"{_where(a)}: {reason}")
        pair = (student_id, offer_id)
        if pair in forbidden:
            out.append(f"{_where(a)}: the pair is forbidden")
        is_pin = pair in pinned
        if a.pinned != is_pin:
            out.append(f"{_where(a)}: pinned flag is {a.pinned}, instance says {is_pin}")
        own = ranked.get(student_id)
        expected_rank = None
        if own is None:
            if not is_pin and offer.sector not in student.interests:
                out.append(f"{_where(a)}: unranked allocation outside the student's interests")
        elif offer_id in own:
            expected_rank = own.index(offer_id) + 1
        elif not is_pin:
            out.append(f"{_where(a)}: the student ranked offers but not this one")
        if a.rank != expected_rank:
            out.append(f"{_where(a)}: rank {a.rank} but the student ranked it {expected_rank}")
        flagged = RiskCode.L3_NO_PREVISIT in a.risks
        if flagged != known.needs_flag:
            out.append(
                f"{_where(a)}: L3 pre-visit risk flag is {flagged}, should be {known.needs_flag}"
            )
        taken[offer_id] += 1
        held = per_student.get(student_id)
        if held is None:
            per_student[student_id] = [offer_id]
        else:
            held.append(offer_id)
    for offer_id, n in taken.items():
        if n > offers[offer_id].capacity:
            out.append(f"offer {offer_id}: {n} allocations for {offers[offer_id].capacity} places")
    clash: dict[tuple[str, str], bool] = {}
    for student_id, own_offers in per_student.items():
        if len(own_offers) == 1:
            continue
        if len(set(own_offers)) < len(own_offers):
            for offer_id, n in Counter(own_offers).items():
                if n > 1:
                    out.append(f"allocation {student_id} -> {offer_id}: allocated {n} times")
        groups = [facts[o].group for o in own_offers]
        if len(set(groups)) < len(groups):
            for group, n in Counter(groups).items():
                if n > 1:
                    out.append(f"student {student_id}: {n} allocations in group {group.value}")
        for i, first in enumerate(own_offers):
            for second in own_offers[i + 1 :]:
                if first == second or facts[first].dates.isdisjoint(facts[second].dates):
                    continue  # allocated twice (reported above), or no day in common
                key = (first, second) if first <= second else (second, first)
                hit = clash.get(key)
                if hit is None:
                    hit = clash[key] = offers[first].clashes_with(offers[second])
                if hit:
                    out.append(f"student {student_id}: offers {first} and {second} overlap in time")
    for student_id, offer_id in sorted(pinned):
        if offer_id not in per_student.get(student_id, ()):
            out.append(f"pinned pair {student_id} -> {offer_id} is not allocated")
    return out


def _where(a: Allocation) -> str:
    return f"allocation {a.student_id} -> {a.offer_id}"


def validate_result(instance: Instance, result: Result) -> None:
    """Raise ValidationFailed, listing every broken hard constraint, if there is any."""
    found = problems(instance, result)
    if found:
        raise ValidationFailed(found)
