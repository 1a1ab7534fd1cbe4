"""Students after the round: why they got the place they got, and their reflections."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from schemas import Allocation, OfferKind, StudentOffer
from schemas.events import ReflectionSubmitted
from services.persistence import (
    AttendanceRecord,
    Database,
    InterviewRecord,
    ReflectionRecord,
    RoundRecord,
)
from tests import factories
from tests.services.api.conftest import (
    CHEMISTRY,
    CLASSMATE,
    DEADLINE,
    L1,
    L2,
    L2_OTHER,
    OTHER_PROVIDER,
    OTHER_SCHOOL,
    OTHER_STUDENT,
    PROVIDER,
    STUDENT,
    FakePublisher,
    Tokens,
)
from tests.services.conftest import START

DAY = dt.date(2027, 3, 1)


# -- explanations ------------------------------------------------------------------------------


def _by_offer(client: TestClient, tokens: Tokens, student: str) -> dict[str, Any]:
    response = client.get(f"/students/{student}/allocations", headers=tokens.student(student))
    assert response.status_code == 200, response.text
    return {row["offer_id"]: row for row in response.json()}


def test_a_first_choice_and_an_unranked_placement_say_so(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    rows = _by_offer(client, tokens, STUDENT)
    first = rows[L2]["explanation"]
    assert (first["rank"], first["first_choice"], first["summary"]) == (
        1,
        True,
        "your first choice",
    )
    assert first["higher_choices"] == []
    unranked = rows[L1]["explanation"]
    assert unranked["rank"] is None and not unranked["first_choice"]
    assert unranked["summary"].startswith("not one of your ranked offers")
    assert rows[L1]["interview"] is None  # the offer has no pre-interview


def test_a_second_choice_names_the_higher_choice_that_was_full(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    with world.unit_of_work() as uow:
        uow.preferences.add(factories.prefs(CLASSMATE, L2_OTHER, L2))
        # p2's one place went to a student of the other school, in that school's round.
        uow.rounds.add(
            RoundRecord(round_id="r2", scope="school", school_ids=(OTHER_SCHOOL,), mode="commit")
        )
        uow.allocations.add(
            "r2",
            [
                Allocation(
                    student_id=OTHER_STUDENT,
                    offer_id=L2_OTHER,
                    kind=OfferKind.WORKPLACE_L2,
                    group="b8_l23",
                    rank=1,
                )
            ],
        )
        uow.commit()

    explanation = _by_offer(client, tokens, CLASSMATE)[L2]["explanation"]

    assert (explanation["rank"], explanation["first_choice"]) == (2, False)
    [higher] = explanation["higher_choices"]
    assert (higher["offer_id"], higher["rank"]) == (L2_OTHER, 1)
    assert higher["reasons"] == ["full: its 1 place(s) went to other students"]
    assert explanation["summary"] == (
        f"your choice 2; your higher choices of this kind: {L2_OTHER} (full: its 1 place(s) "
        "went to other students)"
    )


def test_a_second_choice_names_why_the_higher_choice_was_not_open_to_the_student(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    with world.unit_of_work() as uow:
        # The L2 ranked first now needs chemistry, which s2 does not take; an L1 ranked in
        # between is of another level group and has no bearing on the L2 place.
        uow.offers.add(
            factories.offer(
                L2_OTHER,
                OfferKind.WORKPLACE_L2,
                provider_id=OTHER_PROVIDER,
                prerequisites={"required_subjects": frozenset({"chemistry"})},
            ),
            DEADLINE,
        )
        uow.preferences.add(factories.prefs(CLASSMATE, L2_OTHER, L2))
        uow.overrides.forbid(StudentOffer(student_id=CLASSMATE, offer_id=L2_OTHER))
        uow.commit()

    [higher] = _by_offer(client, tokens, CLASSMATE)[L2]["explanation"]["higher_choices"]

    assert higher["offer_id"] == L2_OTHER
    assert higher["reasons"] == [
        f"missing subject chemistry for offer {L2_OTHER}",
        "your school's careers team ruled this pair out",
    ]


def test_a_second_choice_whose_higher_choice_had_room_says_so_honestly(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    with world.unit_of_work() as uow:
        uow.preferences.add(factories.prefs(CLASSMATE, L2_OTHER, CHEMISTRY, L2))
        uow.commit()
    explanation = _by_offer(client, tokens, CLASSMATE)[L2]["explanation"]
    [higher] = explanation["higher_choices"]  # the L1 that needs chemistry is another group
    assert higher["offer_id"] == L2_OTHER
    assert higher["reasons"][0].startswith("0 of its 1 place(s) are taken now")


def test_an_allocation_shows_its_pre_interview_decision(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    with world.unit_of_work() as uow:
        uow.offers.add(
            factories.offer(
                L2,
                OfferKind.WORKPLACE_L2,
                provider_id=PROVIDER,
                capacity=2,
                requires_interview=True,
            ),
            DEADLINE,
        )
        uow.feedback.decide_interview(
            InterviewRecord(student_id=STUDENT, offer_id=L2, outcome="confirmed", decided_at=START)
        )
        uow.commit()
    assert _by_offer(client, tokens, STUDENT)[L2]["interview"] == "confirmed"
    assert _by_offer(client, tokens, CLASSMATE)[L2]["interview"] == "pending"


# -- reflections -------------------------------------------------------------------------------


def _attended(db: Database, attended: bool = True) -> None:
    with db.unit_of_work() as uow:
        uow.attendance.record(
            AttendanceRecord(student_id=STUDENT, offer_id=L1, date=DAY, attended=attended, hours=3)
        )
        uow.commit()


def test_a_reflection_on_an_attended_encounter_is_published_and_answered_202(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    _attended(world)
    response = client.post(
        f"/students/{STUDENT}/reflections",
        headers=tokens.student(),
        json={"offer_id": L1, "text": "I saw how a ward round works."},
    )
    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, ReflectionSubmitted)
    assert response.json() == {"event_id": event.event_id}
    assert (event.student_id, event.offer_id, event.text) == (
        STUDENT,
        L1,
        "I saw how a ward round works.",
    )
    assert event.source.startswith("placement-api:student:")


@pytest.mark.parametrize(
    ("attended", "body", "status", "field", "words"),
    [
        (None, {"offer_id": L1, "text": "Too early"}, 409, "offer_id", "reflect after"),
        (False, {"offer_id": L1, "text": "A no-show"}, 409, "offer_id", "no attended session"),
        (True, {"offer_id": "o-none", "text": "Where?"}, 422, "offer_id", "unknown"),
        (True, {"offer_id": L1, "text": ""}, 422, "text", "at least 1"),
        (True, {"text": "Which one?"}, 422, "offer_id", "required"),
    ],
    ids=["before the encounter", "no-show", "unknown offer", "empty", "no offer"],
)
def test_a_reflection_that_cannot_be_taken_is_refused_naming_the_field(
    world: Database,
    client: TestClient,
    tokens: Tokens,
    publisher: FakePublisher,
    attended: bool | None,
    body: dict[str, Any],
    status: int,
    field: str,
    words: str,
) -> None:
    if attended is not None:
        _attended(world, attended)
    response = client.post(f"/students/{STUDENT}/reflections", headers=tokens.student(), json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    assert publisher.events == []


def test_a_students_reflections_read_back_from_the_database(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    with world.unit_of_work() as uow:
        uow.feedback.reflect(
            ReflectionRecord(student_id=STUDENT, offer_id=L1, text="Busy.", submitted_at=START)
        )
        uow.commit()
    response = client.get(f"/students/{STUDENT}/reflections", headers=tokens.student())
    assert response.status_code == 200
    assert [(r["offer_id"], r["text"]) for r in response.json()] == [(L1, "Busy.")]
