"""Employers after the round: the roster of an offer, pre-interview decisions, hosting again."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from schemas import OfferKind
from schemas.events import HostAgainAnswered, InterviewDecided
from services.api.handlers.employers import ROSTER_COLUMNS
from services.persistence import Database, InterviewRecord
from tests import factories
from tests.services.api.conftest import (
    CLASSMATE,
    DEADLINE,
    L1,
    L2,
    OTHER_STUDENT,
    PROVIDER,
    SCHOOL,
    STUDENT,
    FakePublisher,
    Tokens,
)
from tests.services.conftest import START, Ticker

AFTER = dt.datetime(2027, 3, 2, 9, 0, tzinfo=dt.UTC)  # the day after every session


def _with_interview(db: Database) -> None:
    """The L2 (where s1 and s2 are placed) asks for a pre-interview; s2's was confirmed."""
    with db.unit_of_work() as uow:
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
            InterviewRecord(
                student_id=CLASSMATE, offer_id=L2, outcome="confirmed", decided_at=START
            )
        )
        uow.commit()


# -- the roster --------------------------------------------------------------------------------


def test_the_roster_lists_each_placed_student_by_name_and_school_with_contact_through_the_school(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    _with_interview(world)
    response = client.get(f"/offers/{L2}/roster.csv", headers=tokens.employer())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert f"roster-{L2}.csv" in response.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(response.text))
    assert tuple(reader.fieldnames or ()) == ROSTER_COLUMNS
    rows = list(reader)
    assert [(r["student_id"], r["school_id"], r["interview"]) for r in rows] == [
        (CLASSMATE, SCHOOL, "confirmed"),
        (STUDENT, SCHOOL, "pending"),
    ]
    assert rows[0]["student_name"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert rows[1]["student_name"] == "Chan Tai Man"
    assert rows[1]["contact"] == f"through the careers team of school {SCHOOL}"
    # Nothing else about the student: no birth date, form, subjects, consent or band.
    assert "2010-01-01" not in response.text and "biology" not in response.text


def test_the_roster_of_an_unknown_offer_is_404(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    response = client.get("/offers/o-none/roster.csv", headers=tokens.employer())
    assert response.status_code == 404
    assert response.json()["field"] == "offer_id"


# -- pre-interviews ----------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["confirmed", "declined"])
def test_a_pre_interview_decision_is_published_and_answered_202(
    world: Database,
    client: TestClient,
    tokens: Tokens,
    publisher: FakePublisher,
    outcome: str,
) -> None:
    _with_interview(world)
    response = client.post(
        f"/offers/{L2}/interviews/{STUDENT}",
        headers=tokens.employer(),
        json={"outcome": outcome, "note": "met on Zoom"},
    )
    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, InterviewDecided)
    assert response.json() == {"event_id": event.event_id}
    assert (event.student_id, event.offer_id, event.outcome, event.note) == (
        STUDENT,
        L2,
        outcome,
        "met on Zoom",
    )


@pytest.mark.parametrize(
    ("offer", "student", "body", "status", "field", "words"),
    [
        (L1, STUDENT, {"outcome": "confirmed"}, 409, "offer_id", "has no pre-interview"),
        (L2, OTHER_STUDENT, {"outcome": "confirmed"}, 409, "student_id", "holds no place"),
        (L2, "s-none", {"outcome": "confirmed"}, 404, "student_id", "not registered"),
        (L2, STUDENT, {"outcome": "maybe"}, 422, "outcome", "confirmed"),
        (L2, STUDENT, {"outcome": "declined", "note": "x" * 501}, 422, "note", "500"),
    ],
    ids=["no interview", "not placed", "unknown student", "bad outcome", "long note"],
)
def test_a_pre_interview_decision_that_cannot_be_taken_is_refused_naming_the_field(
    world: Database,
    client: TestClient,
    tokens: Tokens,
    publisher: FakePublisher,
    offer: str,
    student: str,
    body: dict[str, Any],
    status: int,
    field: str,
    words: str,
) -> None:
    _with_interview(world)
    response = client.post(
        f"/offers/{offer}/interviews/{student}", headers=tokens.employer(), json=body
    )
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    assert publisher.events == []


# -- hosting again -----------------------------------------------------------------------------


def test_would_host_again_is_published_once_the_offer_has_taken_place(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher, clock: Ticker
) -> None:
    headers = tokens.employer()
    clock.now = AFTER
    response = client.post(
        f"/offers/{L1}/host-again",
        headers=headers,
        json={"would_host_again": True, "comment": "curious students"},
    )
    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, HostAgainAnswered)
    assert (event.offer_id, event.would_host_again, event.comment) == (
        L1,
        True,
        "curious students",
    )


def test_would_host_again_before_the_offer_has_taken_place_is_a_conflict(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.post(
        f"/offers/{L1}/host-again", headers=tokens.employer(), json={"would_host_again": False}
    )
    assert response.status_code == 409
    assert response.json()["field"] == "offer_id"
    assert "after its last session" in response.json()["detail"]
    assert publisher.events == []


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "would_host_again"), ({"would_host_again": True, "comment": "x" * 1001}, "comment")],
    ids=["no answer", "long comment"],
)
def test_an_invalid_host_again_answer_is_refused_naming_the_field(
    world: Database,
    client: TestClient,
    tokens: Tokens,
    publisher: FakePublisher,
    clock: Ticker,
    body: dict[str, Any],
    field: str,
) -> None:
    headers = tokens.employer()
    clock.now = AFTER
    response = client.post(f"/offers/{L1}/host-again", headers=headers, json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert publisher.events == []
