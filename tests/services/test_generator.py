"""The synthetic generator: deterministic, valid, sized as asked, and realistically skewed."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas import Instance, Offer, OfferKind, Period, Prerequisites, Student
from services import generator_data as data
from services.generator import generate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def medium() -> Instance:
    return generate(6000, 24, seed=11)


def _eligible(student: Student, offer: Offer) -> bool:
    p = offer.prerequisites
    return (
        p.required_subjects <= student.subjects
        and (p.min_form is None or student.form.number >= p.min_form.number)
        and (p.min_age is None or student.age_on(offer.first_day) >= p.min_age)
        and (
            p.max_band is None
            or (student.academic_band is not None and student.academic_band <= p.max_band)
        )
    )


def _in(day: dt.date, spans: tuple[tuple[dt.date, dt.date], ...]) -> bool:
    return any(lo <= day <= hi for lo, hi in spans)


def test_the_same_seed_gives_the_same_instance() -> None:
    assert generate(300, 4, seed=7).model_dump_json() == generate(300, 4, seed=7).model_dump_json()


def test_a_different_seed_gives_a_different_instance() -> None:
    assert generate(300, 4, seed=7) != generate(300, 4, seed=8)


def test_the_json_is_byte_identical_whatever_the_python_hash_seed() -> None:
    code = (
        "import hashlib; from services.generator import generate; "
        "print(hashlib.sha256(generate(400, 5, seed=3).model_dump_json().encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        digests.add(run.stdout.strip())
    expected = hashlib.sha256(generate(400, 5, seed=3).model_dump_json().encode()).hexdigest()
    assert digests == {expected}


def test_the_instance_validates_when_reloaded_from_json(medium: Instance) -> None:
    assert Instance.model_validate_json(medium.model_dump_json()) == medium


def test_sizes_follow_the_arguments(medium: Instance) -> None:
    assert len(medium.students) == 6000
    assert len({s.school_id for s in medium.students}) == 24
    assert 6000 / 4.5 < len(medium.offers) < 6000 / 2.5


def test_capacity_makes_benchmark_8_coverage_contested(medium: Instance) -> None:
    capacity: collections.Counter[OfferKind] = collections.Counter()
    for o in medium.offers:
        capacity[o.kind] += o.capacity
    n = len(medium.students)
    assert 1.45 <= capacity[OfferKind.WORKPLACE_L1] / n <= 1.6
    l23 = capacity[OfferKind.WORKPLACE_L2] + capacity[OfferKind.WORKPLACE_L3]
    assert 0.8 <= l23 / n <= 1.0
    assert all(2 <= o.capacity <= 6 for o in medium.offers if o.kind is OfferKind.WORKPLACE_L2)
    assert all(1 <= o.capacity <= 3 for o in medium.offers if o.kind is OfferKind.WORKPLACE_L3)


def test_students_are_senior_form_aged_15_to_18_with_two_or_three_electives(
    medium: Instance,
) -> None:
    start = dt.date(2026, 9, 1)
    assert {s.age_on(start) for s in medium.students} <= {15, 16, 17, 18}
    assert {s.form.value for s in medium.students} == {"S4", "S5", "S6"}
    assert {len(s.subjects) for s in medium.students} == {2, 3}
    assert all(1 <= len(s.interests) <= 3 for s in medium.students)
    consent = sum(s.parental_consent for s in medium.students) / len(medium.students)
    assert 0.93 <= consent <= 0.97


def test_about_a_third_of_s5_and_s6_already_had_an_l1(medium: Instance) -> None:
    senior = [s for s in medium.students if s.form.number >= 5]
    l1 = sum(s.has_attended(OfferKind.WORKPLACE_L1) for s in senior) / len(senior)
    l23 = sum(s.has_attended(OfferKind.WORKPLACE_L2, OfferKind.WORKPLACE_L3) for s in senior) / len(
        senior
    )
    assert 0.26 <= l1 <= 0.34
    assert 0.05 <= l23 <= 0.11
    assert not any(s.attended for s in medium.students if s.form.number == 4)


def test_students_rank_a_mix_of_kinds_and_about_five_percent_rank_nothing(
    medium: Instance,
) -> None:
    offers = {o.offer_id: o for o in medium.offers}
    silent = 1 - len(medium.preferences) / len(medium.students)
    assert 0.03 <= silent <= 0.07
    assert all(len(p.ranked) <= medium.rules.max_ranks for p in medium.preferences)
    per_list = collections.Counter(offers[r].kind for p in medium.preferences for r in p.ranked)
    mean = {kind: count / len(medium.preferences) for kind, count in per_list.items()}
    assert 2.7 <= mean[OfferKind.WORKPLACE_L1] <= 3.0
    assert 3.0 <= mean[OfferKind.WORKPLACE_L2] + mean[OfferKind.WORKPLACE_L3] <= 4.0
    assert 1.0 <= mean[OfferKind.FE_VISIT] <= 2.0
    assert 0.9 <= mean[OfferKind.FE_INTERACTION] <= 1.0


def test_students_mostly_rank_offers_they_qualify_for_and_are_interested_in(
    medium: Instance,
) -> None:
    students = {s.student_id: s for s in medium.students}
    offers = {o.offer_id: o for o in medium.offers}
    pairs = [(students[p.student_id], offers[r]) for p in medium.preferences for r in p.ranked]
    ineligible = sum(not _eligible(s, o) for s, o in pairs) / len(pairs)
    interested = sum(o.sector in s.interests for s, o in pairs) / len(pairs)
    assert 0.005 <= ineligible <= 0.08  # a few, as real students do
    assert interested >= 0.6


def test_the_most_popular_offers_are_heavily_oversubscribed(medium: Instance) -> None:
    rankers = collections.Counter(r for p in medium.preferences for r in p.ranked)
    for kind in OfferKind:
        of_kind = sorted(
            (o for o in medium.offers if o.kind is kind), key=lambda o: -rankers[o.offer_id]
        )
        assert all(rankers[o.offer_id] > 2 * o.capacity for o in of_kind[:5]), kind
        scarce = kind in (OfferKind.WORKPLACE_L2, OfferKind.WORKPLACE_L3)
        assert not scarce or all(rankers[o.offer_id] > 10 * o.capacity for o in of_kind[:5])
    by_demand = sorted(medium.offers, key=lambda o: rankers[o.offer_id], reverse=True)
    top = by_demand[: len(by_demand) // 20]
    assert sum(rankers[o.offer_id] for o in top) > 0.25 * rankers.total()  # Zipf-like skew


def test_offers_follow_the_school_calendar(medium: Instance) -> None:
    holidays = tuple(span for span, _ in data.PLACEMENT_HOLIDAYS)
    for o in medium.offers:
        days = [s.date for s in o.sessions]
        assert all(d not in data.PUBLIC_HOLIDAYS for d in days), o.offer_id
        assert (o.period is Period.HOLIDAY) == all(_in(d, holidays) for d in days), o.offer_id
        if o.kind is OfferKind.WORKPLACE_L1:
            assert len(days) == 1 and days[0].weekday() < 5
            assert o.sessions[0].hours <= 3 and 1 <= o.accompanying_teachers <= 3
        elif o.kind is OfferKind.WORKPLACE_L2:
            assert 1 <= len(days) <= 3
        elif o.kind is OfferKind.WORKPLACE_L3:
            assert 3 <= len(days) <= 5 and o.period is Period.HOLIDAY
            assert all(d.weekday() < 5 for d in days)
        elif o.kind is OfferKind.FE_VISIT:
            assert [d.weekday() for d in days] == [5]
        else:
            assert o.sessions[0].start >= dt.time(16, 0) and o.sessions[0].end == dt.time(18, 0)
    l2_holiday = [o.period for o in medium.offers if o.kind is OfferKind.WORKPLACE_L2]
    assert 0.65 <= l2_holiday.count(Period.HOLIDAY) / len(l2_holiday) <= 0.85


def test_insurance_covers_l2_and_l3_sessions_with_a_few_exceptions(medium: Instance) -> None:
    placements = [o for o in medium.offers if o.kind.needs_insurance]
    missing = sum(o.insurance is None for o in placements) / len(placements)
    lapsing = sum(
        o.insurance is not None and not o.insurance.covers(o.last_day) for o in placements
    ) / len(placements)
    assert 0.005 <= missing <= 0.04
    assert 0.02 <= lapsing <= 0.07
    assert all(o.insurance is None for o in medium.offers if not o.kind.needs_insurance)
    l3 = [o for o in medium.offers if o.kind is OfferKind.WORKPLACE_L3]
    assert 0.7 <= sum(o.teacher_previsit_done for o in l3) / len(l3) <= 0.9
    assert 0.2 <= sum(o.requires_interview for o in l3) / len(l3) <= 0.4


def test_about_a_quarter_of_offers_have_prerequisites(medium: Instance) -> None:
    gated = [o for o in medium.offers if o.prerequisites != Prerequisites()]
    assert 0.18 <= len(gated) / len(medium.offers) <= 0.35
    for o in gated:
        electives = set(data.SECTOR_ELECTIVES[o.sector][:2])
        assert o.prerequisites.required_subjects <= electives


def test_two_schools_set_their_own_target(medium: Instance) -> None:
    assert medium.rules.target_pct == 90.0
    assert len(medium.rules.school_targets) == 2
    assert set(medium.rules.school_targets) <= {s.school_id for s in medium.students}


def test_a_round_with_one_student_and_one_school_is_still_valid() -> None:
    tiny = generate(1, 1, seed=0)
    assert Instance.model_validate_json(tiny.model_dump_json()) == tiny
    assert {o.kind for o in tiny.offers} == set(OfferKind)


@pytest.mark.parametrize(("students", "schools", "seed"), [(0, 1, 0), (5, 0, 0), (5, 1, -1)])
def test_impossible_sizes_and_seeds_are_refused(students: int, schools: int, seed: int) -> None:
    with pytest.raises(ValueError):
        generate(students, schools, seed)


@pytest.mark.slow
def test_150_000_students_are_generated_well_within_a_minute() -> None:
    started = time.perf_counter()
    instance = generate(150_000, 450, seed=1)
    assert time.perf_counter() - started < 60
    assert len(instance.students) == 150_000
