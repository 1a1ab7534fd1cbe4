"""Careers teams after the round: attendance, hours and debriefs, overdue feedback, and the pins
and forbidden pairs the next round must respect."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from schemas import StudentOffer
from schemas.events import AttendanceRecorded, OverrideRemoved, PairForbidden, PairPinned
from services.persistence import AttendanceRecord, Database
from tests.services.api.conftest import (
    CHEMISTRY,
    CLASSMATE,
    CLOSED,
    L1,
    L2,
    L2_OTHER,
    OTHER_STUDENT,
    SCHOOL,
    STUDENT,
    FakePublisher,
    Tokens,
)
from tests.services.conftest import Ticker

DAY = dt.date(2027, 3, 1)  # every offer of the world has its one session on this day
AFTER = dt.datetime(2027, 3, 2, 9, 0, tzinfo=dt.UTC)


def _attendance(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "student_id": STUDENT,
        "offer_id": L1,
        "date": DAY.isoformat(),
        "attended": True,
        "hours": 3,
        "debriefed": False,
    }
    body.update(changes)
    return body


# -- attendance --------------------------------------------------------------------------------


def test_attendance_of_a_placed_student_is_published_with_hours_and_debrief_and_answered_202(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher, clock: Ticker
) -> None:
    headers = tokens.careers()
    clock.now = AFTER
    response = client.post(
        f"/schools/{SCHOOL}/attendance", headers=headers, json=_attendance(debriefed=True)
    )
    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, AttendanceRecorded)
    assert response.json() == {"event_id": event.event_id}
    assert (event.student_id, event.offer_id, event.date) == (STUDENT, L1, DAY)
    assert (event.attended, event.hours, event.debriefed) == (True, 3.0, True)
    assert event.source.startswith("placement-api:careers:")


@pytest.mark.parametrize(
    ("changes", "status", "field", "words"),
    [
        ({"date": "2027-03-02"}, 422, "date", "has no session on 2027-03-02"),
        ({"hours": 9}, 422, "hours", "less than or equal to 8"),
        ({"offer_id": "o-none"}, 422, "offer_id", "unknown"),
        ({"student_id": CLASSMATE}, 409, "offer_id", "never allocated"),
        ({"student_id": "s-none"}, 404, "student_id", "not registered"),
        ({"student_id": OTHER_STUDENT}, 403, "student_id", "not one of its students"),
    ],
    ids=[
        "not a session",
        "too many hours",
        "unknown offer",
        "not placed",
        "unknown",
        "other school",
    ],
)
def test_attendance_that_cannot_be_recorded_is_refused_naming_the_field(
    world: Database,
    client: TestClient,
    tokens: Tokens,
    publisher: FakePublisher,
    clock: Ticker,
    changes: dict[str, Any],
    status: int,
    field: str,
    words: str,
) -> None:
    headers = tokens.careers()
    clock.now = AFTER
    response = client.post(
        f"/schools/{SCHOOL}/attendance", headers=headers, json=_attendance(**changes)
    )
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    assert publisher.events == []


def test_attendance_of_a_session_still_to_come_is_a_conflict_on_the_date(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    # The test clock is in January; the session is in March.
    response = client.post(
        f"/schools/{SCHOOL}/attendance", headers=tokens.careers(), json=_attendance()
    )
    assert response.status_code == 409
    assert response.json()["field"] == "date"
    assert "has not taken place yet" in response.json()["detail"]
    assert publisher.events == []


# -- overdue feedback --------------------------------------------------------------------------


def _record(db: Database, student: str, offer: str, attended: bool, debriefed: bool) -> None:
    with db.unit_of_work() as uow:
        uow.attendance.record(
            AttendanceRecord(
                student_id=student,
                offer_id=offer,
                date=DAY,
                attended=attended,
                hours=3 if attended else 0,
                debriefed=debriefed,
            )
        )
        uow.commit()


def test_feedback_is_overdue_for_an_encounter_attended_over_a_week_ago_without_a_debrief(
    world: Database, client: TestClient, tokens: Tokens, clock: Ticker
) -> None:
    _record(world, STUDENT, L1, attended=True, debriefed=False)  # overdue
    _record(world, STUDENT, L2, attended=True, debriefed=True)  # debriefed
    _record(world, CLASSMATE, L2, attended=False, debriefed=False)  # a no-show
    _record(world, OTHER_STUDENT, L2_OTHER, attended=True, debriefed=False)  # another school
    headers = tokens.careers()
    url = f"/schools/{SCHOOL}/feedback/overdue"

    clock.now = dt.datetime(2027, 3, 8, 9, 0, tzinfo=dt.UTC)  # a week after: not yet overdue
    assert client.get(url, headers=headers).json() == []
    clock.now = dt.datetime(2027, 3, 9, 9, 0, tzinfo=dt.UTC)
    response = client.get(url, headers=headers)

    assert response.status_code == 200
    [row] = response.json()
    assert (row["student_id"], row["offer_id"]) == (STUDENT, L1)
    assert row["student_name"] == "Chan Tai Man" and row["form"] == "S5"
    assert (row["last_attended"], row["days_since"], row["hours"]) == ("2027-03-01", 8, 3.0)


def test_a_debrief_recorded_later_takes_an_encounter_off_the_overdue_list(
    world: Database, client: TestClient, tokens: Tokens, clock: Ticker
) -> None:
    _record(world, STUDENT, L1, attended=True, debriefed=False)
    clock.now = dt.datetime(2027, 3, 20, 9, 0, tzinfo=dt.UTC)
    url = f"/schools/{SCHOOL}/feedback/overdue"
    assert len(client.get(url, headers=tokens.careers()).json()) == 1
    _record(world, STUDENT, L1, attended=True, debriefed=True)
    assert client.get(url, headers=tokens.careers()).json() == []


# -- pins and forbidden pairs ------------------------------------------------------------------


def _override(student: str, offer: str) -> str:
    return f"/schools/{SCHOOL}/overrides/{student}/{offer}"


def test_pinning_an_eligible_pair_publishes_the_pin_and_answers_202(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.put(
        _override(STUDENT, CHEMISTRY), headers=tokens.careers(), json={"kind": "pinned"}
    )
    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, PairPinned)
    assert response.json() == {"event_id": event.event_id}
    assert (event.student_id, event.offer_id) == (STUDENT, CHEMISTRY)


def test_forbidding_a_pair_publishes_the_forbid_even_for_an_offer_the_student_holds(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.put(
        _override(CLASSMATE, L2), headers=tokens.careers(), json={"kind": "forbidden"}
    )
    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, PairForbidden)
    assert (event.student_id, event.offer_id) == (CLASSMATE, L2)


def test_the_schools_overrides_read_back_from_the_database_and_one_is_removed(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    with world.unit_of_work() as uow:
        uow.overrides.pin(StudentOffer(student_id=STUDENT, offer_id=CHEMISTRY))
        uow.overrides.forbid(StudentOffer(student_id=CLASSMATE, offer_id=L1))
        uow.overrides.forbid(StudentOffer(student_id=OTHER_STUDENT, offer_id=L1))
        uow.commit()
    headers = tokens.careers()
    listed = client.get(f"/schools/{SCHOOL}/overrides", headers=headers)
    assert listed.status_code == 200
    assert listed.json() == [
        {"student_id": STUDENT, "offer_id": CHEMISTRY, "kind": "pinned"},
        {"student_id": CLASSMATE, "offer_id": L1, "kind": "forbidden"},
    ]

    response = client.delete(_override(CLASSMATE, L1), headers=headers)

    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, OverrideRemoved)
    assert (event.student_id, event.offer_id) == (CLASSMATE, L1)


def test_removing_a_pair_that_has_no_override_is_404_naming_the_offer(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.delete(_override(STUDENT, L1), headers=tokens.careers())
    assert response.status_code == 404
    assert response.json()["field"] == "offer_id"
    assert "no pin or forbid" in response.json()["detail"]
    assert publisher.events == []


@pytest.mark.parametrize(
    ("student", "offer", "body", "status", "field", "words"),
    [
        (CLASSMATE, CHEMISTRY, {"kind": "pinned"}, 409, "offer_id", "missing subject chemistry"),
        (STUDENT, CLOSED, {"kind": "pinned"}, 409, "offer_id", "withdrawn"),
        (STUDENT, L1, {"kind": "pinned"}, 409, "offer_id", "same level group"),
        (STUDENT, "o-none", {"kind": "pinned"}, 404, "offer_id", "unknown"),
        ("s-none", L1, {"kind": "pinned"}, 404, "student_id", "not registered"),
        (OTHER_STUDENT, L1, {"kind": "forbidden"}, 403, "student_id", "not one of its students"),
        (STUDENT, L1, {"kind": "preferred"}, 422, "kind", "pinned"),
    ],
    ids=[
        "ineligible",
        "withdrawn",
        "second pin",
        "unknown offer",
        "unknown",
        "other school",
        "kind",
    ],
)
def test_a_pin_or_forbid_that_cannot_be_made_is_refused_naming_the_field(
    world: Database,
    client: TestClient,
    tokens: Tokens,
    publisher: FakePublisher,
    student: str,
    offer: str,
    body: dict[str, str],
    status: int,
    field: str,
    words: str,
) -> None:
    with world.unit_of_work() as uow:
        uow.offers.withdraw(CLOSED, "venue closed")
        uow.overrides.pin(StudentOffer(student_id=STUDENT, offer_id=CHEMISTRY))  # an L1 too
        uow.commit()
    response = client.put(_override(student, offer), headers=tokens.careers(), json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    assert publisher.events == []
