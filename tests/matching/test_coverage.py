"""Benchmark 8 and 9 coverage per (school, form)."""

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from matching.coverage import CoverageRow, Placement, coverage
from schemas import AttendedEncounter, Form, OfferKind, Student
from tests.factories import student

TODAY = dt.date(2027, 3, 1)  # school year 2026-09-01 .. 2027-08-31
L1, L2, L3 = OfferKind.WORKPLACE_L1, OfferKind.WORKPLACE_L2, OfferKind.WORKPLACE_L3
VISIT, TALK = OfferKind.FE_VISIT, OfferKind.FE_INTERACTION


def rows(
    students: list[Student],
    placements: list[Placement],
    targets: dict[str, float] | None = None,
    default_target: float = 90.0,
) -> list[CoverageRow]:
    return coverage(
        students, placements, targets=targets or {}, default_target=default_target, today=TODAY
    )


def only(students: list[Student], placements: list[Placement]) -> CoverageRow:
    (row,) = rows(students, placements)
    return row


def done(kind: OfferKind, sid: str = "s1", date: dt.date | None = None) -> Placement:
    return Placement(sid, kind, attended=True, debriefed=True, date=date)


def test_a_student_allocated_an_l1_and_an_l2_is_projected_but_not_achieved() -> None:
    row = only([student()], [Placement("s1", L1), Placement("s1", L2)])
    assert (row.b8_projected, row.b8_achieved) == (1, 0)
    assert row.projected_pct == 100.0


def test_a_student_allocated_only_an_l1_is_not_projected() -> None:
    row = only([student()], [Placement("s1", L1)])
    assert row.b8_projected == 0


def test_an_l3_completes_the_pair_as_an_l2_does() -> None:
    assert only([student()], [Placement("s1", L1), Placement("s1", L3)]).b8_projected == 1


def test_an_encounter_attended_before_the_round_counts_towards_the_projection() -> None:
    s = student(attended=(AttendedEncounter(kind=L1, date=dt.date(2026, 11, 2)),))
    assert only([s], [Placement("s1", L2)]).b8_projected == 1


def test_a_student_who_attended_and_debriefed_both_levels_is_achieved() -> None:
    row = only([student()], [done(L1), done(L3)])
    assert (row.b8_projected, row.b8_achieved) == (1, 1)
    assert row.achieved_pct == 100.0


def test_an_attended_encounter_without_a_debrief_is_not_achieved() -> None:
    undebriefed = Placement("s1", L2, attended=True, debriefed=False)
    assert only([student()], [done(L1), undebriefed]).b8_achieved == 0


def test_debriefed_encounters_on_the_student_record_count_as_achieved() -> None:
    s = student(
        attended=(
            AttendedEncounter(kind=L1, date=dt.date(2026, 1, 5), debriefed=True),
            AttendedEncounter(kind=L2, date=dt.date(2026, 7, 5), debriefed=True),
        )
    )
    row = only([s], [])
    assert (row.b8_projected, row.b8_achieved) == (1, 1)


def test_a_further_education_visit_counts_only_in_the_current_school_year() -> None:
    students = [student("s1"), student("s2"), student("s3"), student("s4")]
    placements = [
        done(VISIT, "s1", date=dt.date(2026, 9, 1)),  # first day of the school year
        done(VISIT, "s2", date=dt.date(2026, 8, 31)),  # last day of the year before
        Placement("s3", VISIT, date=dt.date(2027, 3, 1)),  # allocated, not yet attended
        done(VISIT, "s4", date=dt.date(2027, 8, 31)),
    ]
    assert only(students, placements).fe_visits == 2


def test_visits_on_the_student_record_count_in_the_current_school_year_only() -> None:
    this_year = student("s1", attended=(AttendedEncounter(kind=VISIT, date=dt.date(2026, 10, 1)),))
    last_year = student("s2", attended=(AttendedEncounter(kind=VISIT, date=dt.date(2026, 6, 1)),))
    assert only([this_year, last_year], []).fe_visits == 1


def test_any_attended_further_education_interaction_counts_whenever_it_was() -> None:
    students = [
        student("s1", form=Form.S4),
        student(
            "s2", form=Form.S4, attended=(AttendedEncounter(kind=TALK, date=dt.date(2025, 3, 1)),)
        ),
        student("s3", form=Form.S4),
    ]
    placements = [done(TALK, "s1"), Placement("s3", TALK)]
    assert only(students, placements).fe_interactions == 2


def test_each_school_and_form_has_its_own_row_sorted_including_those_without_placements() -> None:
    students = [
        student("s1", school_id="b", form=Form.S6),
        student("s2", school_id="a", form=Form.S6),
        student("s3", school_id="a", form=Form.S4),
        student("s4", school_id="a", form=Form.S4),
    ]
    out = rows(students, [Placement("s3", L1), Placement("s3", L2)])
    assert [(r.school_id, r.form, r.students, r.b8_projected) for r in out] == [
        ("a", Form.S4, 2, 1),
        ("a", Form.S6, 1, 0),
        ("b", Form.S6, 1, 0),
    ]


def test_a_school_below_its_own_target_is_flagged_and_others_use_the_default() -> None:
    students = [student(f"s{i}", school_id="a") for i in range(4)] + [student("t", school_id="b")]
    placements = [Placement(f"s{i}", k) for i in range(3) for k in (L1, L2)]
    a, b = rows(students, placements, targets={"a": 70.0}, default_target=80.0)
    assert (a.target_pct, a.projected_pct, a.below_target) == (70.0, 75.0, False)
    assert (b.target_pct, b.projected_pct, b.below_target) == (80.0, 0.0, True)


def test_exactly_on_target_is_not_below_target() -> None:
    students = [student(f"s{i}") for i in range(10)]
    placements = [Placement(f"s{i}", k) for i in range(9) for k in (L1, L2)]
    row = only(students, placements)
    assert row.projected_pct == 90.0
    assert not row.below_target


def test_placements_of_unknown_students_are_ignored() -> None:
    row = only([student()], [Placement("ghost", L1), Placement("ghost", L2), done(TALK, "ghost")])
    assert (row.students, row.b8_projected, row.fe_interactions) == (1, 0, 0)


def test_a_row_with_no_students_has_zero_percentages() -> None:
    row = CoverageRow("a", Form.S4, 0, 0, 0, 90.0, 0, 0)
    assert (row.projected_pct, row.achieved_pct, row.below_target) == (0.0, 0.0, True)


# --- properties -------------------------------------------------------------------------------

_DATES = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2028, 12, 31))
_SIDS = [f"s{i}" for i in range(12)]


@st.composite
def _cluster(draw: st.DrawFn) -> tuple[list[Student], list[Placement]]:
    n = draw(st.integers(0, len(_SIDS)))
    students = [
        student(
            sid,
            school_id=draw(st.sampled_from(["a", "b", "c"])),
            form=draw(st.sampled_from(list(Form))),
            attended=tuple(
                AttendedEncounter(kind=k, date=d, debriefed=b)
                for k, d, b in draw(
                    st.lists(
                        st.tuples(st.sampled_from(list(OfferKind)), _DATES, st.booleans()),
                        max_size=3,
                    )
                )
            ),
        )
        for sid in _SIDS[:n]
    ]
    placements = draw(
        st.lists(
            st.builds(
                Placement,
                student_id=st.sampled_from([*_SIDS, "ghost"]),
                kind=st.sampled_from(list(OfferKind)),
                attended=st.booleans(),
                debriefed=st.booleans(),
                date=st.none() | _DATES,
            ),
            max_size=30,
        )
    )
    return students, placements


@settings(max_examples=200, deadline=None)
@given(cluster=_cluster(), seed=st.integers(0, 1000))
def test_counts_are_bounded_consistent_and_independent_of_order(
    cluster: tuple[list[Student], list[Placement]], seed: int
) -> None:
    students, placements = cluster
    out = rows(students, placements)
    for r in out:
        assert 0 <= r.b8_achieved <= r.b8_projected <= r.students
        assert 0 <= r.fe_visits <= r.students
        assert 0 <= r.fe_interactions <= r.students
        assert 0.0 <= r.achieved_pct <= r.projected_pct <= 100.0
    assert sum(r.students for r in out) == len(students)
    keys = [(r.school_id, r.form.number) for r in out]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    rng = random.Random(seed)
    shuffled_students, shuffled_placements = students[:], placements[:]
    rng.shuffle(shuffled_students)
    rng.shuffle(shuffled_placements)
    assert rows(shuffled_students, shuffled_placements) == out


@settings(max_examples=100, deadline=None)
@given(cluster=_cluster())
def test_adding_a_placement_never_lowers_any_count(
    cluster: tuple[list[Student], list[Placement]],
) -> None:
    students, placements = cluster
    if not placements:
        return
    before = rows(students, placements[:-1])
    after = rows(students, placements)
    for b, a in zip(before, after, strict=True):
        assert a.b8_projected >= b.b8_projected and a.b8_achieved >= b.b8_achieved
        assert a.fe_visits >= b.fe_visits and a.fe_interactions >= b.fe_interactions
