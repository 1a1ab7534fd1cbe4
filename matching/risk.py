"""Risk checks: what could go wrong with a placement, in words a careers teacher understands.

A risk does not stop an allocation being made (the hard rules in `matching.eligibility` do that);
it flags one that was made, or one whose circumstances changed afterwards: the provider withdrew
the offer, the insurance lapsed, the student dropped a subject. Offer-level risks
(`offer_findings`) are the same for every student placed in the offer; `assess` adds the ones
that depend on the student.
"""

from __future__ import annotations

from dataclasses import dataclass

from matching import eligibility
from schemas import Offer, OfferKind, RiskCode, Student

# The eligibility rules a student can stop meeting after being placed.
PREREQUISITE_RULES: tuple[eligibility.Rule, ...] = (
    eligibility.subjects,
    eligibility.form,
    eligibility.age,
    eligibility.band,
)


@dataclass(frozen=True)
class Finding:
    code: RiskCode
    detail: str  # one sentence naming the offer (and the student, for student-level risks)


def offer_findings(offer: Offer, *, withdrawn: bool = False) -> tuple[Finding, ...]:
    """Risks of the offer itself, whoever is placed in it, sorted by code value."""
    found: list[Finding] = []
    problem = eligibility.insurance_problem(offer)
    if problem is not None:
        code = RiskCode.INSURANCE_MISSING if offer.insurance is None else RiskCode.INSURANCE_EXPIRES
        found.append(Finding(code, problem))
    if offer.kind == OfferKind.WORKPLACE_L3 and not offer.teacher_previsit_done:
        found.append(
            Finding(
                RiskCode.L3_NO_PREVISIT,
                f"no teacher has pre-visited the workplace of L3 offer {offer.offer_id} "
                f"({offer.provider_name}) yet",
            )
        )
    if withdrawn:
        found.append(
            Finding(
                RiskCode.OFFER_WITHDRAWN,
                f"offer {offer.offer_id} ({offer.provider_name}) has been withdrawn",
            )
        )
    return _sorted(found)


def assess(student: Student, offer: Offer, *, withdrawn: bool = False) -> tuple[Finding, ...]:
    """Every risk of placing `student` in `offer`, sorted by code value."""
    found = list(offer_findings(offer, withdrawn=withdrawn))
    who = _student(student)
    if offer.kind in eligibility.NEEDS_CONSENT and not student.parental_consent:
        found.append(
            Finding(
                RiskCode.NO_CONSENT,
                f"{who} has no parental consent on record for off-site offer {offer.offer_id}",
            )
        )
    reasons = [r for rule in PREREQUISITE_RULES if (r := rule(student, offer)) is not None]
    if reasons:
        found.append(
            Finding(
                RiskCode.PREREQUISITE_CHANGED,
                f"{who} no longer meets the prerequisites of offer {offer.offer_id}: "
                + "; ".join(reasons),
            )
        )
    return _sorted(found)


def _student(student: Student) -> str:
    if student.name:
        return f"student {student.student_id} ({student.name})"
    return f"student {student.student_id}"


def _sorted(found: list[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(found, key=lambda f: f.code.value))
