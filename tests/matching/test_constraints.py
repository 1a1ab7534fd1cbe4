"""Capacity, clashes, level groups, pins, forbidden pairs and the L3 pre-visit flag."""

import datetime as dt

import pytest

from matching import Infeasible, validate_result
from schemas import OfferKind, RiskCode
from tests.factories import DAY, instance, offer, prefs, session, student
from tests.matching.helpers import allocated, reasons, run

L1, L2, L3 = OfferKind.WORKPLACE_L1, OfferKind.WORKPLACE_L2, OfferKind.WORKPLACE_L3


def test_an_offer_never_takes_more_students_than_its_capacity() -> None:
    students = [student(f"s{i}") for i in range(5)]
    r = run(instance(students, [offer(capacity=2)], [prefs(f"s{i}", "o1") for i in range(5)]))
    assert len(allocated(r)) == 2


def test_a_student_never_gets_two_allocations_that_overlap_in_time() -> None:
    visit = offer("v", L1, sessions=(session(start="09:00", end="12:00"),))
    tasting = offer("t", L2, sessions=(session(start="11:00", end="16:00"),))
    r = run(instance([student()], [visit, tasting], [prefs("s1", "v", "t")]))
    assert len(allocated(r)) == 1
    assert r.metrics.proven_optimal


def test_allocations_on_the_same_day_that_do_not_overlap_are_both_made() -> None:
    visit = offer("v", L1, sessions=(session(start="09:00", end="12:00"),))
    tasting = offer("t", L2, sessions=(session(start="13:00", end="17:00"),))
    r = run(instance([student()], [visit, tasting], [prefs("s1", "v", "t")]))
    assert allocated(r) == {("s1", "v"), ("s1", "t")}


def test_a_student_gets_at_most_one_allocation_per_level_group() -> None:
    a = offer("a", L2)
    b = offer("b", L3, sessions=(session(DAY + dt.timedelta(days=1)),))
    r = run(instance([student()], [a, b], [prefs("s1", "a", "b")]))
    assert allocated(r) == {("s1", "a")}
    assert "same level group" in reasons(r, "s1") or reasons(r, "s1") == ""


def test_a_pinned_pair_is_allocated_even_if_the_student_did_not_rank_it() -> None:
    a, b = offer("a"), offer("b", capacity=1)
    r = run(instance([student()], [a, b], [prefs("s1", "a")], pinned=[("s1", "b")]))
    assert allocated(r) == {("s1", "b")}
    assert [x.pinned for x in r.allocations] == [True]


def test_a_pin_takes_a_place_from_the_offer_capacity() -> None:
    students = [student("s1"), student("s2")]
    r = run(instance(students, [offer()], [prefs("s2", "o1")], pinned=[("s1", "o1")]))
    assert allocated(r) == {("s1", "o1")}


def test_a_forbidden_pair_is_never_allocated() -> None:
    r = run(instance([student()], [offer()], [prefs("s1", "o1")], forbidden=[("s1", "o1")]))
    assert allocated(r) == set()
    assert "careers team excluded offer o1" in reasons(r, "s1")


def test_a_pin_to_an_offer_the_student_may_not_take_is_refused_by_name() -> None:
    o = offer(prerequisites={"required_subjects": frozenset({"physics"})})
    with pytest.raises(Infeasible, match="student s1 cannot take offer o1: missing subject"):
        run(instance([student()], [o], pinned=[("s1", "o1")]))


def test_more_pins_than_places_are_refused_by_name() -> None:
    students = [student("s1"), student("s2")]
    inst = instance(students, [offer()], pinned=[("s1", "o1"), ("s2", "o1")])
    with pytest.raises(Infeasible, match="offer o1 has more pins than its 1 places"):
        run(inst)


def test_an_l3_allocation_without_a_teacher_previsit_is_made_but_flagged() -> None:
    o = offer(kind=L3, teacher_previsit_done=False)
    r = run(instance([student()], [o], [prefs("s1", "o1")]))
    assert [a.risks for a in r.allocations] == [(RiskCode.L3_NO_PREVISIT,)]
    assert r.metrics.risk_flags == 1


def test_an_l3_allocation_after_a_previsit_carries_no_flag() -> None:
    o = offer(kind=L3, teacher_previsit_done=True)
    r = run(instance([student()], [o], [prefs("s1", "o1")]))
    assert [a.risks for a in r.allocations] == [()]


def test_an_offer_requiring_an_interview_is_allocated_pending_the_interview() -> None:
    o = offer(kind=L3, requires_interview=True, teacher_previsit_done=True)
    r = run(instance([student()], [o], [prefs("s1", "o1")]))
    assert [a.pending_interview for a in r.allocations] == [True]


def test_the_validator_rejects_a_result_over_an_offer_capacity() -> None:
    students = [student("s1"), student("s2")]
    inst = instance(students, [offer(capacity=2)], [prefs("s1", "o1"), prefs("s2", "o1")])
    good = run(inst)
    tight = inst.model_copy(update={"offers": (offer(capacity=1),)})
    with pytest.raises(Exception, match="2 allocations for 1 places"):
        validate_result(tight, good)


def test_the_validator_rejects_an_allocation_that_breaks_eligibility() -> None:
    inst = instance([student()], [offer()], [prefs("s1", "o1")])
    good = run(inst)
    no_consent = inst.model_copy(update={"students": (student(parental_consent=False),)})
    with pytest.raises(Exception, match="no parental consent"):
        validate_result(no_consent, good)
