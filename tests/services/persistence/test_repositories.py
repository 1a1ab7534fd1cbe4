"""Every repository's contract, on the in-memory fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas import (
    AttendedEncounter,
    Form,
    Insurance,
    OfferKind,
    Prerequisites,
    RiskCode,
    Sector,
    StudentOffer,
)
from schemas.events import ANY_EVENT, OfferWithdrawn, StudentRegistered
from schemas.result import Allocation
from services.persistence import (
    AllocationStatus,
    AttendanceRecord,
    Conflict,
    NotFound,
    RiskStatus,
    RoundRecord,
    RoundStatus,
    UnitOfWorkFactory,
)
from tests import factories as f

DAY = f.DAY
AT = dt.datetime(2027, 2, 1, 8, 30, tzinfo=dt.UTC)


def _seed(uow_factory: UnitOfWorkFactory, students: int = 3, offers: int = 3) -> None:
    """Students s1.. (school sch1, except s3 in sch2) and L1 offers o1.."""
    with uow_factory() as uow:
        for i in range(1, students + 1):
            uow.students.add(f.student(f"s{i}", school_id="sch2" if i == 3 else "sch1"))
        for j in range(1, offers + 1):
            uow.offers.add(f.offer(f"o{j}", capacity=2))
        uow.commit()


def _allocation(student_id: str, offer_id: str, rank: int | None = 1) -> Allocation:
    kind = OfferKind.WORKPLACE_L1
    return Allocation(
        student_id=student_id, offer_id=offer_id, kind=kind, group=kind.group, rank=rank
    )


def test_a_student_comes_back_exactly_as_registered(uow_factory: UnitOfWorkFactory) -> None:
    full = f.student(
        "stu-1",
        form=Form.S6,
        subjects=frozenset({"physics", "m1", "ict"}),
        interests=(Sector.INFORMATION_TECHNOLOGY, Sector.SCIENCE_RESEARCH),
        academic_band=None,
        priority=True,
        name="陳大文 Chan Tai Man",
        attended=(
            AttendedEncounter(kind=OfferKind.FE_VISIT, date=DAY, debriefed=True),
            AttendedEncounter(kind=OfferKind.WORKPLACE_L1, date=DAY - dt.timedelta(days=30)),
        ),
    )
    with uow_factory() as uow:
        uow.students.add(full)
        uow.students.add(f.student("stu-2", parental_consent=False))
        uow.commit()
    with uow_factory() as uow:
        assert uow.students.get("stu-1") == full
        assert uow.students.get("stu-2") == f.student("stu-2", parental_consent=False)
        assert uow.students.get("nobody") is None


def test_registering_a_student_again_replaces_the_record(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.students.add(f.student("s1", form=Form.S4))
        uow.commit()
    with uow_factory() as uow:
        assert uow.students.get("s1") == f.student("s1", form=Form.S4)
        uow.students.add(f.student("s1", form=Form.S5, school_id="sch9"))
        assert uow.students.get("s1") == f.student("s1", form=Form.S5, school_id="sch9")
        uow.commit()
    with uow_factory() as uow:
        assert uow.students.find() == [f.student("s1", form=Form.S5, school_id="sch9")]


def test_students_are_found_by_school_in_id_order(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.students.add(f.student("c", school_id="x"))
        uow.students.add_many([f.student("a", school_id="y"), f.student("b", school_id="x")])
        uow.students.add_many([f.student("d", school_id="x"), f.student("d", school_id="z")])
        uow.commit()
    with uow_factory() as uow:
        assert [s.student_id for s in uow.students.find()] == ["a", "b", "c", "d"]
        assert [s.student_id for s in uow.students.find({"x", "z"})] == ["b", "c", "d"]
        assert uow.students.find([]) == []


def test_an_offer_comes_back_exactly_with_sessions_insurance_and_prerequisites(
    uow_factory: UnitOfWorkFactory,
) -> None:
    l3 = f.offer(
        "o-l3",
        OfferKind.WORKPLACE_L3,
        sessions=(f.session(DAY, "09:00", "17:00"), f.session(DAY + dt.timedelta(days=1))),
        capacity=4,
        prerequisites=Prerequisites(
            required_subjects=frozenset({"biology", "chemistry"}), min_form=Form.S5, min_age=15
        ),
        insurance=Insurance(insurer="HK Mutual", policy_number="P-9", valid_from=DAY, expires=DAY),
        requires_interview=True,
        teacher_previsit_done=True,
        accompanying_teachers=2,
    )
    deadline = dt.datetime(2027, 2, 15, 23, 59, tzinfo=dt.UTC)
    with uow_factory() as uow:
        uow.offers.add(l3, preference_deadline=deadline)
        uow.offers.add(f.offer("o-l1"))
        uow.commit()
    with uow_factory() as uow:
        assert uow.offers.get("o-l3") == l3
        record = uow.offers.get_record("o-l3")
        assert record is not None
        assert record.preference_deadline == deadline
        assert not record.withdrawn
        assert uow.offers.find() == [f.offer("o-l1"), l3]


def test_a_withdrawn_offer_stays_withdrawn_with_its_first_reason_even_when_edited(
    uow_factory: UnitOfWorkFactory,
) -> None:
    _seed(uow_factory, students=0, offers=2)
    with uow_factory() as uow:
        uow.offers.withdraw("o1", "site closed")
        uow.commit()
    with uow_factory() as uow:
        uow.offers.withdraw("o1", "again")
        assert uow.offers.get("o1") == f.offer("o1", capacity=2)
        uow.offers.add(f.offer("o1", capacity=9))
        assert uow.offers.get("o1") == f.offer("o1", capacity=9)  # read-your-writes
        uow.commit()
    with uow_factory() as uow:
        record = uow.offers.get_record("o1")
        assert record is not None and record.withdrawn
        assert record.withdrawal_reason == "site closed"
        assert record.offer.capacity == 9
        assert [o.offer_id for o in uow.offers.find()] == ["o2"]
        assert [r.offer.offer_id for r in uow.offers.records()] == ["o1", "o2"]
        with pytest.raises(NotFound):
            uow.offers.withdraw("no-such-offer")


def test_a_preference_list_keeps_its_order_and_a_new_list_replaces_it(
    uow_factory: UnitOfWorkFactory,
) -> None:
    _seed(uow_factory)
    first = f.prefs("s1", "o3", "o1", "o2").model_copy(update={"submitted_at": AT})
    with uow_factory() as uow:
        uow.preferences.add(first)
        uow.preferences.add_many([f.prefs("s2", "o1"), f.prefs("s3", "o1"), f.prefs("s2")])
        uow.commit()
    with uow_factory() as uow:
        assert uow.preferences.get("s1") == first
        assert uow.preferences.get("s2") == f.prefs("s2")
        assert uow.preferences.students_ranking("o1") == ["s1", "s3"]
        uow.preferences.add(f.prefs("s1", "o2"))
        uow.commit()
    with uow_factory() as uow:
        assert uow.preferences.find() == [f.prefs("s1", "o2"), f.prefs("s2"), f.prefs("s3", "o1")]
        assert uow.preferences.find({"sch2"}) == [f.prefs("s3", "o1")]
        assert uow.preferences.students_ranking("o1") == ["s3"]


def test_a_preference_list_naming_an_unknown_offer_is_a_conflict(
    uow_factory: UnitOfWorkFactory,
) -> None:
    _seed(uow_factory)
    with pytest.raises(Conflict), uow_factory() as uow:
        uow.preferences.add(f.prefs("s1", "o1", "o-unknown"))
        uow.commit()
    with uow_factory() as uow:
        assert uow.preferences.get("s1") is None


def test_a_pair_is_pinned_or_forbidden_never_both(uow_factory: UnitOfWorkFactory) -> None:
    _seed(uow_factory)
    pair = StudentOffer(student_id="s1", offer_id="o1")
    with uow_factory() as uow:
        uow.overrides.pin(pair)
        uow.overrides.forbid(StudentOffer(student_id="s3", offer_id="o2"))
        uow.commit()
    with uow_factory() as uow:
        assert uow.overrides.pinned() == [pair]
        assert uow.overrides.forbidden({"sch1"}) == []
        uow.overrides.forbid(pair)
        uow.commit()
    with uow_factory() as uow:
        assert uow.overrides.pinned() == []
        assert [p.student_id for p in uow.overrides.forbidden()] == ["s1", "s3"]
        assert uow.overrides.remove(pair)
        assert not uow.overrides.remove(pair)
        uow.commit()
    with uow_factory() as uow:
        assert uow.overrides.forbidden() == [StudentOffer(student_id="s3", offer_id="o2")]


def test_a_round_records_its_progress_and_finishes_with_metrics(
    uow_factory: UnitOfWorkFactory,
) -> None:
    queued = RoundRecord(
        round_id="r1",
        scope="cluster",
        school_ids=("sch1", "sch2"),
        mode="commit",
        seed=7,
        requested_at=AT,
    )
    with uow_factory() as uow:
        uow.rounds.add(queued)
        uow.commit()
    with uow_factory() as uow:
        assert uow.rounds.get("r1") == queued
        running = uow.rounds.set_status("r1", RoundStatus.RUNNING, progress=0.25, message="flow")
        assert running.started_at is not None and running.finished_at is None
        uow.rounds.set_status("r1", RoundStatus.RUNNING, progress=0.5)
        uow.commit()
    with uow_factory() as uow:
        assert uow.rounds.find(RoundStatus.RUNNING) == [
            running.model_copy(update={"progress": 0.5})
        ]
        done = uow.rounds.set_status("r1", RoundStatus.DONE, metrics=f.metrics())
        uow.commit()
    with uow_factory() as uow:
        stored = uow.rounds.get("r1")
        assert stored == done
        assert stored.progress == 1.0 and stored.metrics == f.metrics()
        assert running.started_at is not None and stored.started_at == running.started_at
        assert stored.finished_at is not None and stored.finished_at > running.started_at
        assert uow.rounds.find(RoundStatus.RUNNING) == []
        with pytest.raises(NotFound):
            uow.rounds.set_status("r-unknown", RoundStatus.FAILED)


def test_a_round_id_is_used_only_once(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.rounds.add(RoundRecord(round_id="r1"))
        uow.commit()
    with pytest.raises(Conflict), uow_factory() as uow:
        uow.rounds.add(RoundRecord(round_id="r1", seed=2))
        uow.commit()


def test_allocations_come_back_with_their_status_and_can_be_held_and_revoked(
    uow_factory: UnitOfWorkFactory,
) -> None:
    _seed(uow_factory)
    pinned = _allocation("s2", "o1", rank=None).model_copy(
        update={"pinned": True, "pending_interview": True, "risks": (RiskCode.NO_CONSENT,)}
    )
    with uow_factory() as uow:
        uow.rounds.add(RoundRecord(round_id="r1"))
        assert uow.allocations.add("r1", [_allocation("s1", "o2"), pinned]) == 2
        assert uow.allocations.add("r1", []) == 0
        uow.commit()
    with uow_factory() as uow:
        stored = uow.allocations.find(round_id="r1")
        assert [a.allocation for a in stored] == [_allocation("s1", "o2"), pinned]
        assert {a.status for a in stored} == {AllocationStatus.ACTIVE}
        held = uow.allocations.set_status("r1", "s2", "o1", AllocationStatus.HELD, "no consent")
        assert held.status is AllocationStatus.HELD and held.reason == "no consent"
        uow.commit()
    with uow_factory() as uow:
        assert [a.allocation for a in uow.allocations.find(offer_id="o1")] == [pinned]
        active = uow.allocations.find(statuses={AllocationStatus.ACTIVE})
        assert [a.allocation.student_id for a in active] == ["s1"]
        uow.allocations.set_status("r1", "s1", "o2", AllocationStatus.REVOKED, "withdrawn")
        uow.commit()
    with uow_factory() as uow:
        assert uow.allocations.find(statuses={AllocationStatus.ACTIVE}) == []
        with pytest.raises(NotFound):
            uow.allocations.set_status("r1", "s3", "o1", AllocationStatus.HELD)


def test_an_allocation_is_unique_per_round_student_and_offer(
    uow_factory: UnitOfWorkFactory,
) -> None:
    _seed(uow_factory)
    with uow_factory() as uow:
        uow.rounds.add(RoundRecord(round_id="r1"))
        uow.rounds.add(RoundRecord(round_id="r2"))
        uow.allocations.add("r1", [_allocation("s1", "o1")])
        uow.allocations.add("r2", [_allocation("s1", "o1")])  # another round may repeat it
        uow.commit()
    with pytest.raises(Conflict), uow_factory() as uow:
        uow.allocations.add("r1", [_allocation("s2", "o1"), _allocation("s1", "o1")])
        uow.commit()
    with pytest.raises(Conflict), uow_factory() as uow:
        uow.allocations.add("r1", [_allocation("s-unknown", "o1")])
        uow.commit()
    with uow_factory() as uow:
        assert len(uow.allocations.find()) == 2


def test_attendance_is_replaced_per_session_and_a_debrief_keeps_its_first_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    _seed(uow_factory)
    day2 = DAY + dt.timedelta(days=1)
    came = AttendanceRecord(
        student_id="s1", offer_id="o1", date=DAY, attended=True, hours=3, recorded_at=AT
    )
    later = AT + dt.timedelta(days=2)
    with uow_factory() as uow:
        assert uow.attendance.record(came) == came
        uow.attendance.record(came.model_copy(update={"date": day2, "attended": False}))
        uow.attendance.record(came.model_copy(update={"student_id": "s3", "hours": 2.5}))
        uow.commit()
    with uow_factory() as uow:
        debriefed = uow.attendance.record(
            came.model_copy(update={"debriefed": True, "recorded_at": later})
        )
        assert debriefed.debriefed_at == later
        uow.commit()
    with uow_factory() as uow:
        corrected = uow.attendance.record(
            came.model_copy(update={"hours": 2.0, "recorded_at": later + dt.timedelta(days=1)})
        )
        assert corrected.debriefed and corrected.debriefed_at == later
        uow.commit()
    with uow_factory() as uow:
        s1 = uow.attendance.find(student_id="s1")
        assert [(r.date, r.attended, r.hours, r.debriefed) for r in s1] == [
            (DAY, True, 2.0, True),
            (day2, False, 3.0, False),
        ]
        assert [r.student_id for r in uow.attendance.find(offer_id="o1", attended=True)] == [
            "s1",
            "s3",
        ]
        assert [r.student_id for r in uow.attendance.find(school_ids={"sch2"})] == ["s3"]


def test_a_risk_is_flagged_once_then_cleared_then_flagged_again(
    uow_factory: UnitOfWorkFactory,
) -> None:
    _seed(uow_factory)
    code = RiskCode.INSURANCE_EXPIRES
    with uow_factory() as uow:
        assert uow.risks.flag(None, "o1", code, "expires 2027-03-01")
        assert not uow.risks.flag(None, "o1", code, "expires 2027-02-28")  # no change of state
        assert uow.risks.flag("s1", "o1", code, "student-level flag is a different risk")
        assert uow.risks.flag("s1", "o1", RiskCode.NO_CONSENT, "no consent form")
        uow.commit()
    with uow_factory() as uow:
        offer_level = uow.risks.get(None, "o1", code)
        assert offer_level is not None and offer_level.detail == "expires 2027-02-28"
        assert uow.risks.clear(None, "o1", code)
        assert not uow.risks.clear(None, "o1", code)
        assert not uow.risks.clear("s2", "o1", code)
        uow.commit()
    with uow_factory() as uow:
        cleared = uow.risks.get(None, "o1", code)
        assert cleared is not None and cleared.status is RiskStatus.CLEARED
        assert cleared.cleared_at is not None
        flagged = uow.risks.find(status=RiskStatus.FLAGGED)
        assert [(r.student_id, r.code) for r in flagged] == [
            ("s1", RiskCode.INSURANCE_EXPIRES),
            ("s1", RiskCode.NO_CONSENT),
        ]
        assert uow.risks.flag(None, "o1", code, "still expiring")
        uow.commit()
    with uow_factory() as uow:
        again = uow.risks.get(None, "o1", code)
        assert again is not None and again.status is RiskStatus.FLAGGED
        assert again.cleared_at is None
        assert [r.student_id for r in uow.risks.find(offer_id="o1")] == [None, "s1", "s1"]


def test_an_outbox_message_carries_the_event_as_json(uow_factory: UnitOfWorkFactory) -> None:
    event = StudentRegistered(student=f.student("s1"))
    with uow_factory() as uow:
        uow.outbox.add(event, "students", key="s1")
        uow.outbox.add(OfferWithdrawn(offer_id="o1"), "offers", key="o1")
        uow.commit()
    with uow_factory() as uow:
        message = uow.outbox.get(event.event_id)
        assert message is not None
        assert (message.topic, message.key, message.published_at) == ("students", "s1", None)
        assert message.payload == event.model_dump_json().encode()
        assert ANY_EVENT.validate_json(message.payload) == event
        assert [m.topic for m in uow.outbox.unpublished(10)] == ["students", "offers"]


def test_an_event_id_enters_the_outbox_only_once(uow_factory: UnitOfWorkFactory) -> None:
    event = OfferWithdrawn(offer_id="o1")
    with uow_factory() as uow:
        uow.outbox.add(event, "offers", key="o1")
        uow.commit()
    with pytest.raises(Conflict), uow_factory() as uow:
        uow.outbox.add(event, "offers", key="o1")
        uow.commit()
