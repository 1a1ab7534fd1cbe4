"""Employers and institutions: offers in, edits, withdrawals, and the students placed with them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from schemas.events import OfferSubmitted, OfferWithdrawn
from services.persistence import Database
from tests.services.api.conftest import (
    DEADLINE,
    L1,
    L2,
    OTHER_SCHOOL,
    PROVIDER,
    SCHOOL,
    FakePublisher,
    Tokens,
    offer_body,
)


def test_a_new_offer_is_published_with_its_deadline_and_answered_202(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.post("/offers", headers=tokens.employer(), json=offer_body())
    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, OfferSubmitted)
    assert response.json() == {"event_id": event.event_id}
    assert event.offer.offer_id == "o-new" and event.offer.provider_id == PROVIDER
    assert event.preference_deadline == DEADLINE


def test_an_offer_whose_insurance_expires_before_a_session_is_refused_naming_the_field(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    body = offer_body()
    body["insurance"]["expires"] = "2027-02-15"  # the session is on 2027-03-01
    response = client.post("/offers", headers=tokens.employer(), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "insurance.expires"
    assert "expires 2027-02-15, before the session on 2027-03-01" in response.json()["detail"]
    assert publisher.events == []


def test_an_offer_whose_insurance_has_already_expired_is_refused_naming_the_field(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    body = offer_body(kind="workplace_l1")  # needs none, but what is given must be in force
    body["insurance"]["valid_from"] = "2026-01-01"
    body["insurance"]["expires"] = "2026-12-31"  # the test clock is in January 2027
    response = client.post("/offers", headers=tokens.employer(), json=body)
    assert response.status_code == 422
    assert response.json()["field"] == "insurance.expires"
    assert "expired on 2026-12-31" in response.json()["detail"]
    assert publisher.events == []


def test_an_l2_offer_without_insurance_is_refused_naming_the_field(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.post("/offers", headers=tokens.employer(), json=offer_body(insurance=None))
    assert response.status_code == 422
    assert response.json()["field"] == "insurance"
    assert publisher.events == []


def test_insurance_that_ends_before_it_starts_is_refused_naming_the_field(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    body = offer_body()
    body["insurance"]["expires"] = "2026-08-01"
    response = client.post("/offers", headers=tokens.employer(), json=body)
    assert response.status_code == 422
    assert response.json()["field"] == "insurance.expires"
    assert publisher.events == []


def test_an_offer_breaking_work_experience_rules_is_refused_naming_the_field(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    body = offer_body()
    body["sessions"][0].update(start="13:00:00", end="21:00:00")
    response = client.post("/offers", headers=tokens.employer(), json=body)
    assert response.status_code == 422
    assert response.json()["field"] == "sessions.0"
    assert "must end by 20:00" in response.json()["detail"]
    missing = client.post("/offers", headers=tokens.employer(), json=offer_body(capacity=0))
    assert missing.status_code == 422 and missing.json()["field"] == "capacity"
    assert publisher.events == []


def test_a_ranking_deadline_after_the_first_session_is_refused(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    body = offer_body(preference_deadline="2027-03-02T00:00:00Z")
    response = client.post("/offers", headers=tokens.employer(), json=body)
    assert response.status_code == 422
    assert response.json()["field"] == "preference_deadline"
    assert publisher.events == []


def test_a_new_offer_with_a_taken_id_is_a_conflict(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.post("/offers", headers=tokens.employer(), json=offer_body(L2))
    assert response.status_code == 409
    assert response.json()["field"] == "offer_id"
    assert publisher.events == []


def test_an_edit_replaces_the_offer_through_the_event_stream(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.put(
        f"/offers/{L2}", headers=tokens.employer(), json=offer_body(L2, capacity=5)
    )
    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, OfferSubmitted)
    assert (event.offer.offer_id, event.offer.capacity) == (L2, 5)


def test_an_edit_naming_another_offer_than_its_url_is_refused(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.put(f"/offers/{L2}", headers=tokens.employer(), json=offer_body(L1))
    assert response.status_code == 422 and response.json()["field"] == "offer_id"
    assert publisher.events == []


def test_an_edit_of_an_unknown_offer_is_404(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.put("/offers/o-none", headers=tokens.employer(), json=offer_body("o-none"))
    assert response.status_code == 404
    assert publisher.events == []


def test_a_withdrawn_offer_can_be_neither_edited_nor_withdrawn_again(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    with world.unit_of_work() as uow:
        uow.offers.withdraw(L1, "closed")
        uow.commit()
    edit = client.put(f"/offers/{L1}", headers=tokens.employer(), json=offer_body(L1))
    assert edit.status_code == 409 and "was withdrawn" in edit.json()["detail"]
    again = client.post(f"/offers/{L1}/withdraw", headers=tokens.employer(), json={})
    assert again.status_code == 409 and "already withdrawn" in again.json()["detail"]
    assert publisher.events == []


def test_a_withdrawal_is_published_with_its_reason(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.post(
        f"/offers/{L1}/withdraw", headers=tokens.employer(), json={"reason": "site closed"}
    )
    assert response.status_code == 202
    (event,) = publisher.events
    assert isinstance(event, OfferWithdrawn)
    assert (event.offer_id, event.reason) == (L1, "site closed")
    no_body = client.post(f"/offers/{L2}/withdraw", headers=tokens.employer())
    assert no_body.status_code == 202


def test_a_provider_sees_its_own_offers_withdrawn_ones_included(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    with world.unit_of_work() as uow:
        uow.offers.withdraw(L1, "closed")
        uow.commit()
    response = client.get(f"/providers/{PROVIDER}/offers", headers=tokens.employer())
    assert response.status_code == 200
    offers = {r["offer"]["offer_id"]: r for r in response.json()}
    assert set(offers) == {"o-chem", "o-closed", L1, L2}
    assert offers[L1]["withdrawal_reason"] == "closed" and offers[L2]["withdrawn_at"] is None


def test_a_provider_sees_its_placed_students_by_name_and_school_and_nothing_more(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    response = client.get(f"/providers/{PROVIDER}/allocations", headers=tokens.employer())
    assert response.status_code == 200
    rows = response.json()
    assert [(r["offer_id"], r["student_name"], r["school_id"]) for r in rows] == [
        (L1, "Chan Tai Man", SCHOOL),
        (L2, "=HYPERLINK(1)", SCHOOL),
        (L2, "Chan Tai Man", SCHOOL),
    ]
    assert set(rows[0]) == {
        "offer_id",
        "offer_title",
        "first_day",
        "student_name",
        "school_id",
        "status",
    }
    assert OTHER_SCHOOL not in response.text
