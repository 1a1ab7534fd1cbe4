"""The snapshot loader: the engine's input, rebuilt from the system of record."""

from __future__ import annotations

import datetime as dt

import pytest

import matching
from schemas import (
    AttendedEncounter,
    Instance,
    OfferKind,
    RoundRules,
    StudentOffer,
)
from services.generator import generate
from services.persistence import (
    AbstractUnitOfWork,
    AttendanceRecord,
    RoundRecord,
    UnitOfWorkFactory,
    load_instance,
    load_round,
)
from tests import factories as f


@pytest.fixture(scope="module")
def generated() -> Instance:
    return generate(students=60, schools=2, seed=1)


def _save(uow: AbstractUnitOfWork, instance: Instance) -> None:
    for student in instance.students:
        uow.students.add(student)
    for offer in instance.offers:
        uow.offers.add(offer)
    for preferences in instance.preferences:
        uow.preferences.add(preferences)
    for pair in instance.pinned:
        uow.overrides.pin(pair)
    for pair in instance.forbidden:
        uow.overrides.forbid(pair)


def _sorted(instance: Instance) -> Instance:
    return instance.model_copy(
        update={
            "students": tuple(sorted(instance.students, key=lambda s: s.student_id)),
            "offers": tuple(sorted(instance.offers, key=lambda o: o.offer_id)),
            "preferences": tuple(sorted(instance.preferences, key=lambda p: p.student_id)),
        }
    )


def test_a_generated_round_saved_and_loaded_back_is_the_same_instance_and_solves(
    uow_factory: UnitOfWorkFactory, generated: Instance
) -> None:
    with uow_factory() as uow:
        _save(uow, generated)
        uow.commit()
    with uow_factory() as uow:
        loaded = load_instance(uow, generated.round_id, rules=generated.rules)
    assert loaded == _sorted(generated)
    result = matching.solve(loaded)
    matching.validate_result(loaded, result)
    assert result.metrics.students == 60
    assert result.allocations


def test_a_school_scope_loads_only_that_schools_students_their_lists_and_pins(
    uow_factory: UnitOfWorkFactory, generated: Instance
) -> None:
    school = generated.students[0].school_id
    mine = {s.student_id for s in generated.students if s.school_id == school}
    other = next(s.student_id for s in generated.students if s.school_id != school)
    offer_id = generated.offers[0].offer_id
    with uow_factory() as uow:
        _save(uow, generated)
        uow.overrides.pin(StudentOffer(student_id=sorted(mine)[0], offer_id=offer_id))
        uow.overrides.forbid(StudentOffer(student_id=other, offer_id=offer_id))
        uow.commit()
    with uow_factory() as uow:
        loaded = load_instance(uow, "r-school", [school])
    assert {s.student_id for s in loaded.students} == mine
    assert {p.student_id for p in loaded.preferences} <= mine
    assert len(loaded.preferences) == sum(p.student_id in mine for p in generated.preferences)
    assert loaded.offers == _sorted(generated).offers  # offers are open to every school
    assert loaded.pinned == (StudentOffer(student_id=sorted(mine)[0], offer_id=offer_id),)
    assert loaded.forbidden == ()
    assert loaded.rules == RoundRules()


def test_a_withdrawn_offer_leaves_the_snapshot_the_rankings_and_the_pins(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        uow.students.add(f.student("s1"))
        for offer_id in ("o1", "o2", "o3"):
            uow.offers.add(f.offer(offer_id))
        uow.preferences.add(f.prefs("s1", "o2", "o1", "o3"))
        uow.overrides.pin(StudentOffer(student_id="s1", offer_id="o2"))
        uow.offers.withdraw("o2", "cancelled")
        uow.commit()
    with uow_factory() as uow:
        loaded = load_instance(uow, "r1", rules=RoundRules(max_ranks=1))
    assert [o.offer_id for o in loaded.offers] == ["o1", "o3"]
    assert loaded.preferences == (f.prefs("s1", "o1"),)  # cut to max_ranks after withdrawal
    assert loaded.pinned == ()


def test_attended_sessions_become_encounters_of_the_offers_kind(
    uow_factory: UnitOfWorkFactory,
) -> None:
    earlier = AttendedEncounter(kind=OfferKind.FE_VISIT, date=f.DAY - dt.timedelta(days=90))
    day2 = f.DAY + dt.timedelta(days=1)
    l2 = f.offer("o-l2", OfferKind.WORKPLACE_L2, sessions=(f.session(f.DAY), f.session(day2)))
    with uow_factory() as uow:
        uow.students.add(f.student("s1", attended=(earlier,)))
        uow.students.add(f.student("s2"))
        uow.offers.add(l2)
        uow.offers.add(f.offer("o-l1"))
        for day, debriefed in ((f.DAY, False), (day2, True)):
            uow.attendance.record(
                AttendanceRecord(
                    student_id="s1",
                    offer_id="o-l2",
                    date=day,
                    attended=True,
                    hours=3,
                    debriefed=debriefed,
                )
            )
        uow.attendance.record(
            AttendanceRecord(student_id="s2", offer_id="o-l1", date=f.DAY, attended=False)
        )
        uow.offers.withdraw("o-l2")  # the encounter still happened
        uow.commit()
    with uow_factory() as uow:
        loaded = load_instance(uow, "r1")
    s1, s2 = loaded.students
    assert s1.attended == (
        earlier,
        AttendedEncounter(kind=OfferKind.WORKPLACE_L2, date=f.DAY, debriefed=True),
    )
    assert s2.attended == ()


def test_load_round_uses_the_rounds_scope_and_rules(uow_factory: UnitOfWorkFactory) -> None:
    rules = RoundRules(target_pct=80, max_ranks=3)
    with uow_factory() as uow:
        for student_id, school in (("a1", "A"), ("b1", "B"), ("c1", "C")):
            uow.students.add(f.student(student_id, school_id=school))
        uow.offers.add(f.offer("o1"))
        cluster = RoundRecord(round_id="r1", scope="cluster", school_ids=("A", "C"), rules=rules)
        uow.rounds.add(cluster)
        uow.commit()
    with uow_factory() as uow:
        assert uow.rounds.get("r1") == cluster
        loaded = load_round(uow, cluster)
        everyone = load_round(uow, RoundRecord(round_id="r2", scope="all"))
    assert (loaded.round_id, loaded.rules) == ("r1", rules)
    assert [s.student_id for s in loaded.students] == ["a1", "c1"]
    assert [s.student_id for s in everyone.students] == ["a1", "b1", "c1"]
