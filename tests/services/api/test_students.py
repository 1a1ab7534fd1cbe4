"""Students: their offers with reasons, their ranking (checked first), their allocations."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from schemas.events import PreferencesRanked
from services.persistence import Database
from tests.services.api.conftest import (
    CHEMISTRY,
    CLASSMATE,
    CLOSED,
    L1,
    L2,
    L2_OTHER,
    SCHOOL,
    STUDENT,
    FakePublisher,
    Tokens,
)


def test_a_student_sees_the_offers_open_to_them_and_why_the_others_are_not(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    response = client.get(f"/students/{CLASSMATE}/offers", headers=tokens.student(CLASSMATE))
    assert response.status_code == 200
    body = response.json()
    eligible = {o["offer_id"]: o for o in body["eligible"]}
    assert set(eligible) == {L1, L2, L2_OTHER, CLOSED}
    assert eligible[CLOSED]["deadline_passed"] and not eligible[L1]["deadline_passed"]
    (chemistry,) = body["ineligible"]
    assert chemistry["offer_id"] == CHEMISTRY
    assert chemistry["reasons"] == [f"missing subject chemistry for offer {CHEMISTRY}"]


def test_the_careers_team_of_the_students_school_may_see_their_offers(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    response = client.get(f"/students/{STUDENT}/offers", headers=tokens.careers(SCHOOL))
    assert response.status_code == 200


def test_a_ranking_of_eligible_open_offers_is_published_and_answered_202(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.put(
        f"/students/{STUDENT}/preferences",
        headers=tokens.student(),
        json={"ranked": [L2, CHEMISTRY, L1]},
    )
    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, PreferencesRanked)
    assert response.json() == {"event_id": event.event_id}
    assert event.preferences.student_id == STUDENT
    assert event.preferences.ranked == (L2, CHEMISTRY, L1)
    assert event.preferences.submitted_at == event.occurred_at


def test_an_ineligible_ranking_is_a_conflict_naming_the_rank_and_the_reason(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.put(
        f"/students/{CLASSMATE}/preferences",
        headers=tokens.student(CLASSMATE),
        json={"ranked": [L1, CHEMISTRY]},
    )
    assert response.status_code == 409
    assert response.json()["field"] == "ranked.1"
    assert "missing subject chemistry" in response.json()["detail"]
    assert publisher.events == []


def test_ranking_an_offer_after_its_deadline_is_a_conflict_naming_the_rank(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.put(
        f"/students/{STUDENT}/preferences", headers=tokens.student(), json={"ranked": [CLOSED]}
    )
    assert response.status_code == 409
    assert response.json()["field"] == "ranked.0"
    assert "deadline for ranking offer o-closed passed" in response.json()["detail"]
    assert publisher.events == []


def test_ranking_a_withdrawn_offer_is_a_conflict(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    with world.unit_of_work() as uow:
        uow.offers.withdraw(L1)
        uow.commit()
    response = client.put(
        f"/students/{STUDENT}/preferences", headers=tokens.student(), json={"ranked": [L2, L1]}
    )
    assert response.status_code == 409 and response.json()["field"] == "ranked.1"
    assert publisher.events == []


@pytest.mark.parametrize(
    ("ranked", "field", "words"),
    [
        (["o-none"], "ranked.0", "unknown"),
        ([L1, L1], "ranked", "ranked twice"),
        (["not an id"], "ranked.0", "pattern"),
        ([f"o{i}" for i in range(11)], "ranked", "at most 10"),
    ],
    ids=["unknown offer", "twice", "bad id", "too many"],
)
def test_an_invalid_ranking_is_refused_with_422_naming_the_field(
    world: Database,
    client: TestClient,
    tokens: Tokens,
    publisher: FakePublisher,
    ranked: list[str],
    field: str,
    words: str,
) -> None:
    response = client.put(
        f"/students/{STUDENT}/preferences", headers=tokens.student(), json={"ranked": ranked}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    assert publisher.events == []


def test_a_students_ranking_reads_back_from_the_database(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    from tests import factories

    headers = tokens.student()
    empty = client.get(f"/students/{STUDENT}/preferences", headers=headers)
    assert empty.json()["ranked"] == []
    with world.unit_of_work() as uow:
        uow.preferences.add(factories.prefs(STUDENT, L2, L1))
        uow.commit()
    stored = client.get(f"/students/{STUDENT}/preferences", headers=headers)
    assert stored.json()["ranked"] == [L2, L1]


def test_a_student_sees_their_allocations_with_status_and_offer(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    response = client.get(f"/students/{STUDENT}/allocations", headers=tokens.student())
    assert response.status_code == 200
    rows = response.json()
    assert [(r["offer_id"], r["status"], r["rank"]) for r in rows] == [
        (L1, "active", None),
        (L2, "active", 1),
    ]
    assert rows[1]["provider_name"] == "Harbour Health Ltd"


def test_a_student_not_registered_yet_gets_404(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    headers = tokens.student("s-new")
    assert client.get("/students/s-new/offers", headers=headers).status_code == 404
    ranking = client.put("/students/s-new/preferences", headers=headers, json={"ranked": [L1]})
    assert ranking.status_code == 404 and ranking.json()["field"] == "student_id"
    assert publisher.events == []
