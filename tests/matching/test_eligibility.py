"""Each eligibility rule: the pair is not allocated, and the explanation says why."""

import datetime as dt

from schemas import Form, OfferKind
from tests.factories import instance, offer, prefs, student
from tests.matching.helpers import allocated, reasons, run


def test_a_student_missing_a_required_subject_is_not_allocated() -> None:
    o = offer(prerequisites={"required_subjects": frozenset({"physics"})})
    r = run(instance([student()], [o], [prefs("s1", "o1")]))
    assert allocated(r) == set()
    assert "missing subject physics for offer o1" in reasons(r, "s1")


def test_a_student_below_the_minimum_form_is_not_allocated() -> None:
    o = offer(prerequisites={"min_form": Form.S6})
    r = run(instance([student(form=Form.S5)], [o], [prefs("s1", "o1")]))
    assert allocated(r) == set()
    assert "for S6 and above; student is S5" in reasons(r, "s1")


def test_a_student_under_the_minimum_age_on_the_first_day_is_not_allocated() -> None:
    o = offer(prerequisites={"min_age": 17})  # first day 2027-03-01
    young = student(date_of_birth=dt.date(2010, 3, 2))  # 16 on that day, 17 the next
    r = run(instance([young], [o], [prefs("s1", "o1")]))
    assert allocated(r) == set()
    assert "needs age 17 on 2027-03-01; student will be 16" in reasons(r, "s1")


def test_a_student_of_a_weaker_academic_band_is_not_allocated() -> None:
    o = offer(prerequisites={"max_band": 1})
    r = run(instance([student(academic_band=2)], [o], [prefs("s1", "o1")]))
    assert allocated(r) == set()
    assert "band 1 or better; student is band 2" in reasons(r, "s1")


def test_a_student_with_no_band_on_record_does_not_meet_a_band_prerequisite() -> None:
    o = offer(prerequisites={"max_band": 2})
    r = run(instance([student(academic_band=None)], [o], [prefs("s1", "o1")]))
    assert allocated(r) == set()
    assert "band unknown" in reasons(r, "s1")


def test_a_student_without_parental_consent_is_not_sent_off_site() -> None:
    r = run(instance([student(parental_consent=False)], [offer()], [prefs("s1", "o1")]))
    assert allocated(r) == set()
    assert "no parental consent" in reasons(r, "s1")


def test_a_student_without_parental_consent_may_attend_a_talk_in_school() -> None:
    talk = offer(kind=OfferKind.FE_INTERACTION)
    r = run(instance([student(parental_consent=False)], [talk], [prefs("s1", "o1")]))
    assert allocated(r) == {("s1", "o1")}


def test_an_l2_offer_whose_insurance_expires_before_a_session_is_not_allocated() -> None:
    base = offer(kind=OfferKind.WORKPLACE_L2)
    assert base.insurance is not None
    short = base.insurance.model_copy(update={"expires": dt.date(2027, 2, 28)})
    o = offer(kind=OfferKind.WORKPLACE_L2, insurance=short)
    r = run(instance([student()], [o], [prefs("s1", "o1")]))
    assert allocated(r) == set()
    assert "expires 2027-02-28, before the session on 2027-03-01" in reasons(r, "s1")


def test_an_l3_offer_without_insurance_is_not_allocated() -> None:
    o = offer(kind=OfferKind.WORKPLACE_L3, insurance=None)
    r = run(instance([student()], [o], [prefs("s1", "o1")]))
    assert allocated(r) == set()
    assert "no insurance cover on record" in reasons(r, "s1")


def test_an_l1_visit_needs_no_insurance() -> None:
    r = run(instance([student()], [offer(insurance=None)], [prefs("s1", "o1")]))
    assert allocated(r) == {("s1", "o1")}


def test_the_vectorised_eligibility_check_agrees_with_the_rules() -> None:
    import numpy as np

    from matching.eligibility import is_eligible
    from matching.problem import _quick_eligible
    from services.generator import generate

    # Generated rounds carry every kind of prerequisite, ages, bands, consent and insurance.
    inst = generate(students=400, schools=2, seed=4)
    students, offers = inst.students, inst.offers
    rng = np.random.default_rng(0)
    s = rng.integers(0, len(students), 20_000)
    o = rng.integers(0, len(offers), 20_000)
    rules = [is_eligible(students[i], offers[j]) for i, j in zip(s, o, strict=True)]
    assert 0 < sum(rules) < len(rules)
    assert _quick_eligible(students, offers, s, o).tolist() == rules


def test_the_per_offer_cached_reasons_are_the_rules_own_in_the_same_order() -> None:
    import numpy as np

    from matching.eligibility import Ineligibility, ineligibility
    from services.generator import generate

    inst = generate(students=400, schools=2, seed=5)
    students, offers = inst.students, inst.offers
    rng = np.random.default_rng(1)
    check = Ineligibility()
    pairs = zip(
        rng.integers(0, len(students), 20_000).tolist(),
        rng.integers(0, len(offers), 20_000).tolist(),
        strict=True,
    )
    found = [
        (check(students[i], offers[j]), ineligibility(students[i], offers[j])) for i, j in pairs
    ]
    assert all(cached == reference for cached, reference in found)
    assert sum(len(reference) > 1 for _, reference in found) > 0  # several reasons at once
    assert any("insurance" in r for _, reference in found for r in reference)
