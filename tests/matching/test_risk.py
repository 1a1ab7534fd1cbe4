"""Each risk rule: the finding is raised, once, with a sentence naming the offer (and student)."""

import datetime as dt

from matching.risk import Finding, assess, offer_findings
from schemas import Form, Insurance, OfferKind, RiskCode
from tests.factories import DAY, instance, offer, prefs, session, student
from tests.matching.helpers import run


def codes(findings: tuple[Finding, ...]) -> list[RiskCode]:
    return [f.code for f in findings]


def detail(findings: tuple[Finding, ...], code: RiskCode) -> str:
    (found,) = [f for f in findings if f.code == code]
    return found.detail


def cover(valid_from: dt.date, expires: dt.date) -> Insurance:
    return Insurance(
        insurer="HK Mutual", policy_number="P-1", valid_from=valid_from, expires=expires
    )


def test_an_eligible_student_in_a_sound_offer_has_no_risks() -> None:
    for kind in OfferKind:
        assert assess(student(), offer(kind=kind, teacher_previsit_done=True)) == ()


def test_an_l2_offer_without_insurance_is_flagged() -> None:
    findings = assess(student(), offer(kind=OfferKind.WORKPLACE_L2, insurance=None))
    assert codes(findings) == [RiskCode.INSURANCE_MISSING]
    assert detail(findings, RiskCode.INSURANCE_MISSING) == (
        "offer o1 has no insurance cover on record"
    )


def test_an_l1_offer_without_insurance_is_not_flagged() -> None:
    assert assess(student(), offer(kind=OfferKind.WORKPLACE_L1, insurance=None)) == ()


def test_insurance_that_expires_before_a_session_is_flagged_with_both_dates() -> None:
    o = offer(
        kind=OfferKind.WORKPLACE_L2,
        insurance=cover(dt.date(2026, 9, 1), DAY - dt.timedelta(days=1)),
    )
    findings = assess(student(), o)
    assert codes(findings) == [RiskCode.INSURANCE_EXPIRES]
    assert detail(findings, RiskCode.INSURANCE_EXPIRES) == (
        "insurance of offer o1 expires 2027-02-28, before the session on 2027-03-01"
    )


def test_insurance_that_starts_after_a_session_is_flagged_as_not_covering_it() -> None:
    o = offer(
        kind=OfferKind.WORKPLACE_L3,
        teacher_previsit_done=True,
        insurance=cover(DAY + dt.timedelta(days=1), dt.date(2027, 8, 31)),
    )
    findings = assess(student(), o)
    assert codes(findings) == [RiskCode.INSURANCE_EXPIRES]
    assert "starts 2027-03-02, after the session on 2027-03-01" in detail(
        findings, RiskCode.INSURANCE_EXPIRES
    )


def test_insurance_that_lapses_between_two_sessions_is_flagged() -> None:
    o = offer(
        kind=OfferKind.WORKPLACE_L2,
        sessions=(session(DAY), session(DAY + dt.timedelta(days=1))),
        insurance=cover(dt.date(2026, 9, 1), DAY),
    )
    assert codes(assess(student(), o)) == [RiskCode.INSURANCE_EXPIRES]


def test_an_l3_offer_without_a_teacher_previsit_is_flagged() -> None:
    findings = assess(student(), offer(kind=OfferKind.WORKPLACE_L3))
    assert codes(findings) == [RiskCode.L3_NO_PREVISIT]
    assert "o1" in detail(findings, RiskCode.L3_NO_PREVISIT)
    assert "pre-visit" in detail(findings, RiskCode.L3_NO_PREVISIT)


def test_an_l2_offer_without_a_teacher_previsit_is_not_flagged() -> None:
    assert assess(student(), offer(kind=OfferKind.WORKPLACE_L2)) == ()


def test_a_student_without_parental_consent_in_an_off_site_offer_is_flagged() -> None:
    findings = assess(student(parental_consent=False, name="Chan Tai Man"), offer())
    assert codes(findings) == [RiskCode.NO_CONSENT]
    assert detail(findings, RiskCode.NO_CONSENT) == (
        "student s1 (Chan Tai Man) has no parental consent on record for off-site offer o1"
    )


def test_a_student_without_parental_consent_at_a_talk_in_school_is_not_flagged() -> None:
    assert assess(student(parental_consent=False), offer(kind=OfferKind.FE_INTERACTION)) == ()


def test_a_student_who_no_longer_meets_the_prerequisites_is_flagged_with_every_reason() -> None:
    o = offer(
        prerequisites={
            "required_subjects": frozenset({"physics"}),
            "min_form": Form.S6,
            "min_age": 18,
            "max_band": 1,
        }
    )
    findings = assess(student(form=Form.S5, academic_band=3), o)
    assert codes(findings) == [RiskCode.PREREQUISITE_CHANGED]
    text = detail(findings, RiskCode.PREREQUISITE_CHANGED)
    assert text.startswith("student s1 no longer meets the prerequisites of offer o1: ")
    for reason in (
        "missing subject physics",
        "for S6 and above; student is S5",
        "needs age 18 on 2027-03-01; student will be 17",
        "band 1 or better; student is band 3",
    ):
        assert reason in text


def test_a_withdrawn_offer_is_flagged() -> None:
    findings = assess(student(), offer(), withdrawn=True)
    assert codes(findings) == [RiskCode.OFFER_WITHDRAWN]
    assert detail(findings, RiskCode.OFFER_WITHDRAWN) == (
        "offer o1 (Harbour Health Ltd) has been withdrawn"
    )


def test_findings_are_sorted_by_code_value_with_at_most_one_per_code() -> None:
    o = offer(
        kind=OfferKind.WORKPLACE_L3,
        insurance=None,
        sessions=(session(DAY), session(DAY + dt.timedelta(days=1))),
        prerequisites={"required_subjects": frozenset({"physics"}), "min_form": Form.S6},
    )
    found = codes(assess(student(parental_consent=False), o, withdrawn=True))
    everything_but_expiry = set(RiskCode) - {RiskCode.INSURANCE_EXPIRES}  # cover is missing
    assert found == sorted(everything_but_expiry, key=lambda c: c.value)
    assert len(found) == len(set(found))


def test_offer_findings_hold_only_the_risks_that_do_not_depend_on_the_student() -> None:
    o = offer(kind=OfferKind.WORKPLACE_L3, insurance=None)
    assert codes(offer_findings(o, withdrawn=True)) == [
        RiskCode.INSURANCE_MISSING,
        RiskCode.L3_NO_PREVISIT,
        RiskCode.OFFER_WITHDRAWN,
    ]
    everything = assess(student(parental_consent=False), o, withdrawn=True)
    assert set(offer_findings(o, withdrawn=True)) < set(everything)


def test_the_solver_flags_allocations_with_the_offer_level_risks() -> None:
    l3 = offer("o1", OfferKind.WORKPLACE_L3)
    l1 = offer("o2", OfferKind.WORKPLACE_L1, sessions=(session(DAY + dt.timedelta(days=1)),))
    r = run(instance([student()], [l3, l1], [prefs("s1", "o1", "o2")]))
    risks = {a.offer_id: a.risks for a in r.allocations}
    assert risks == {"o1": (RiskCode.L3_NO_PREVISIT,), "o2": ()}
    assert r.metrics.risk_flags == 1
