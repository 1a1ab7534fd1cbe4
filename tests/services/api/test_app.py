"""The application as a whole: its OpenAPI description, its errors, its publisher."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.testclient import TestClient

from schemas.events import Envelope
from services.api import create_app
from services.broker import BrokerUnavailable
from services.persistence import Database
from services.settings import Settings
from tests.services.api.conftest import SCHOOL, Tokens


def test_every_route_is_described_under_its_user_group_with_bearer_security(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    groups = {"careers", "employers", "students", "service"}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            assert set(operation["tags"]) <= groups, f"{method} {path}"
            if path != "/health":
                assert operation["security"] == [{"HTTPBearer": []}], f"{method} {path}"
                assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    described = spec["paths"]["/schools/{school_id}/students/import"]["post"]["description"]
    assert "parental_consent" in described and "Line 1 is the header" in described


def test_a_malformed_path_parameter_is_refused_naming_it(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    response = client.get("/schools/not an id/coverage", headers=tokens.admin())
    assert response.status_code == 422
    assert response.json()["field"] == "school_id"


def test_an_unknown_route_answers_json_404(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "field": None, "errors": []}


class _Down:
    def publish(self, events: Sequence[Envelope]) -> None:
        raise BrokerUnavailable("broker at 127.0.0.1:1 unreachable")


def test_a_write_while_the_event_stream_is_down_answers_503(
    world: Database, tokens: Tokens
) -> None:
    app = create_app(Settings(), world, _Down())
    with TestClient(app) as client:
        response = client.post("/rounds", headers=tokens.careers(SCHOOL), json={})
    assert response.status_code == 503
    assert "nothing was sent" in response.json()["detail"]


def test_the_broker_publisher_provisions_the_topics_and_publishes_to_the_events_topic(
    settings: Settings,
) -> None:
    from schemas.events import RoundRequested
    from services.api import BrokerPublisher
    from services.broker import tail

    event = RoundRequested(round_id="r-api", scope="school", school_ids=(SCHOOL,))
    BrokerPublisher(settings).publish([event])
    (received,) = list(tail(settings, "rounds", from_beginning=True, limit=1, timeout=10))
    assert received.event == event and received.key == "r-api"
