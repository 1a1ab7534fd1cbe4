"""Eligibility: one small rule per hard constraint on a (student, offer) pair.

Each rule returns None when the pair passes, or a sentence saying why it does not, naming the
offer and the missing thing, so explanations can quote it as it stands.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas import Offer, OfferKind, Student

Rule = Callable[[Student, Offer], str | None]


def subjects(student: Student, offer: Offer) -> str | None:
    missing = sorted(offer.prerequisites.required_subjects - student.subjects)
    if missing:
        return f"missing subject {', '.join(missing)} for offer {offer.offer_id}"
    return None


def form(student: Student, offer: Offer) -> str | None:
    need = offer.prerequisites.min_form
    if need is not None and student.form.number < need.number:
        return (
            f"offer {offer.offer_id} is for {need.value} and above; student is {student.form.value}"
        )
    return None


def age(student: Student, offer: Offer) -> str | None:
    need = offer.prerequisites.min_age
    if need is not None and student.age_on(offer.first_day) < need:
        return (
            f"offer {offer.offer_id} needs age {need} on {offer.first_day}; "
            f"student will be {student.age_on(offer.first_day)}"
        )
    return None


def band(student: Student, offer: Offer) -> str | None:
    need = offer.prerequisites.max_band
    if need is None:
        return None
    if student.academic_band is None:
        return f"offer {offer.offer_id} needs academic band {need} or better; band unknown"
    if student.academic_band > need:
        return (
            f"offer {offer.offer_id} needs academic band {need} or better; "
            f"student is band {student.academic_band}"
        )
    return None


# A talk in school needs no consent; anything that takes a student off site does.
NEEDS_CONSENT = frozenset(OfferKind) - {OfferKind.FE_INTERACTION}


def consent(student: Student, offer: Offer) -> str | None:
    if offer.kind in NEEDS_CONSENT and not student.parental_consent:
        return f"no parental consent on record for off-site offer {offer.offer_id}"
    return None


def insurance(student: Student, offer: Offer) -> str | None:
    return insurance_problem(offer)


def insurance_problem(offer: Offer) -> str | None:
    """L2/L3 need insurance valid on every session date."""
    if not offer.kind.needs_insurance:
        return None
    cover = offer.insurance
    if cover is None:
        return f"offer {offer.offer_id} has no insurance cover on record"
    for session in offer.sessions:
        if not cover.covers(session.date):
            if session.date > cover.expires:
                return (
                    f"insurance of offer {offer.offer_id} expires {cover.expires}, "
                    f"before the session on {session.date}"
                )
            return (
                f"insurance of offer {offer.offer_id} starts {cover.valid_from}, "
                f"after the session on {session.date}"
            )
    return None


RULES: tuple[Rule, ...] = (subjects, form, age, band, consent, insurance)


def student_rules(offer: Offer) -> tuple[Rule, ...]:
    """The rules of RULES that read the student and can fail on `offer`: every other one
    passes every student there (the offer sets no such prerequisite, or the rule reads the
    offer alone, as insurance does). The validator runs these per allocation."""
    need = offer.prerequisites
    return tuple(
        rule
        for rule, applies in (
            (subjects, bool(need.required_subjects)),
            (form, need.min_form is not None),
            (age, need.min_age is not None),
            (band, need.max_band is not None),
            (consent, offer.kind in NEEDS_CONSENT),
        )
        if applies
    )


def ineligibility(student: Student, offer: Offer) -> list[str]:
    """Every reason the student may not take the offer; empty when eligible."""
    return [reason for rule in RULES if (reason := rule(student, offer)) is not None]


class Ineligibility:
    """`ineligibility` for many pairs: the same reasons in the same order, with what an offer
    decides alone (the rules that can fail on it, its insurance) worked out once per offer.
    A 150,000-student round checks 300,000 pairs one by one."""

    def __init__(self) -> None:
        self._by_offer: dict[str, tuple[tuple[Rule, ...], str | None]] = {}

    def __call__(self, student: Student, offer: Offer) -> list[str]:
        known = self._by_offer.get(offer.offer_id)
        if known is None:
            known = self._by_offer[offer.offer_id] = (
                student_rules(offer),
                insurance_problem(offer),
            )
        rules, uninsured = known
        found = [reason for rule in rules if (reason := rule(student, offer)) is not None]
        if uninsured is not None:  # insurance is the last of RULES
            found.append(uninsured)
        return found


def is_eligible(student: Student, offer: Offer) -> bool:
    return all(rule(student, offer) is None for rule in RULES)
