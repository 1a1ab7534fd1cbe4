"""Access control: 401 without a valid token, 403 for another role or tenant, on every route."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.api.tokens import parse
from services.cli.main import main
from services.persistence import Database, migrate
from services.persistence.orm import ApiTokenRow
from services.settings import Settings
from tests.services.api.conftest import (
    CHEMISTRY,
    CLASSMATE,
    L1,
    OTHER_PROVIDER,
    OTHER_SCHOOL,
    PROVIDER,
    ROUND,
    SCHOOL,
    STUDENT,
    STUDENTS_CSV,
    FakePublisher,
    Tokens,
    offer_body,
)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None
    upload: bool = False

    def send(self, client: TestClient, headers: dict[str, str]) -> Any:
        if self.upload:
            files = {"file": ("students.csv", STUDENTS_CSV.encode(), "text/csv")}
            return client.request(self.method, self.path, headers=headers, files=files)
        return client.request(self.method, self.path, headers=headers, json=self.body)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


SCHOOL_CALLS = [
    Call("POST", f"/schools/{SCHOOL}/students/import", upload=True),
    Call("GET", f"/schools/{SCHOOL}/students"),
    Call("GET", f"/schools/{SCHOOL}/coverage"),
    Call("GET", f"/schools/{SCHOOL}/allocations.csv"),
    Call("POST", "/rounds", {"scope": "school", "school_ids": [SCHOOL]}),
    Call("GET", f"/rounds/{ROUND}"),
    Call(
        "POST",
        f"/schools/{SCHOOL}/attendance",
        {"student_id": STUDENT, "offer_id": L1, "date": "2027-03-01", "attended": True},
    ),
    Call("GET", f"/schools/{SCHOOL}/feedback/overdue"),
    Call("GET", f"/schools/{SCHOOL}/overrides"),
    Call("PUT", f"/schools/{SCHOOL}/overrides/{STUDENT}/{CHEMISTRY}", {"kind": "pinned"}),
    Call("DELETE", f"/schools/{SCHOOL}/overrides/{STUDENT}/{L1}"),
]
PROVIDER_CALLS = [
    Call("POST", "/offers", offer_body()),
    Call("PUT", f"/offers/{L1}", offer_body(L1)),
    Call("POST", f"/offers/{L1}/withdraw", {"reason": "closed"}),
    Call("GET", f"/providers/{PROVIDER}/offers"),
    Call("GET", f"/providers/{PROVIDER}/allocations"),
    Call("GET", f"/offers/{L1}/roster.csv"),
    Call("POST", f"/offers/{L1}/interviews/{STUDENT}", {"outcome": "confirmed"}),
    Call("POST", f"/offers/{L1}/host-again", {"would_host_again": True}),
]
STUDENT_CALLS = [
    Call("GET", f"/students/{STUDENT}/offers"),
    Call("GET", f"/students/{STUDENT}/preferences"),
    Call("PUT", f"/students/{STUDENT}/preferences", {"ranked": [L1]}),
    Call("GET", f"/students/{STUDENT}/allocations"),
    Call("POST", f"/students/{STUDENT}/reflections", {"offer_id": L1, "text": "A busy day."}),
    Call("GET", f"/students/{STUDENT}/reflections"),
]
EVERY_CALL = SCHOOL_CALLS + PROVIDER_CALLS + STUDENT_CALLS

Headers = Callable[[Tokens], dict[str, str]]
# Each route's group with a token of the same role for another tenant.
CROSS_TENANT: list[tuple[Call, Headers]] = (
    [(call, lambda t: t.careers(OTHER_SCHOOL)) for call in SCHOOL_CALLS]
    + [(call, lambda t: t.employer(OTHER_PROVIDER)) for call in PROVIDER_CALLS]
    + [(call, lambda t: t.student(CLASSMATE)) for call in STUDENT_CALLS]
    + [(call, lambda t: t.careers(OTHER_SCHOOL)) for call in STUDENT_CALLS]
)
# Each route's group with a token of a role that has no business there.
WRONG_ROLE: list[tuple[Call, Headers]] = (
    [(call, lambda t: t.student(STUDENT)) for call in SCHOOL_CALLS]
    + [(call, lambda t: t.careers(SCHOOL)) for call in PROVIDER_CALLS]
    + [(call, lambda t: t.employer(PROVIDER)) for call in STUDENT_CALLS]
)


@pytest.mark.parametrize("call", EVERY_CALL, ids=str)
def test_a_request_without_a_token_gets_401_with_a_bearer_challenge(
    world: Database, client: TestClient, publisher: FakePublisher, call: Call
) -> None:
    response = call.send(client, {})
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"].startswith("a bearer token is required")
    assert publisher.events == []


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "plc_0123456789abcdef_short",
        "plc_0123456789abcdef_" + "A" * 43,  # well formed, unknown id
    ],
    ids=["malformed", "truncated", "unknown"],
)
@pytest.mark.parametrize("call", EVERY_CALL, ids=str)
def test_a_bad_token_gets_401_with_a_bearer_challenge(
    world: Database, client: TestClient, publisher: FakePublisher, call: Call, token: str
) -> None:
    response = call.send(client, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert publisher.events == []


@pytest.mark.parametrize(("call", "headers"), CROSS_TENANT, ids=[str(c) for c, _ in CROSS_TENANT])
def test_every_cross_tenant_read_and_write_is_refused_with_403(
    world: Database,
    client: TestClient,
    tokens: Tokens,
    publisher: FakePublisher,
    call: Call,
    headers: Headers,
) -> None:
    response = call.send(client, headers(tokens))
    assert response.status_code == 403, response.text
    assert response.json()["detail"].startswith("your token is for")
    assert publisher.events == []


@pytest.mark.parametrize(("call", "headers"), WRONG_ROLE, ids=[str(c) for c, _ in WRONG_ROLE])
def test_a_token_of_another_role_is_refused_with_403(
    world: Database,
    client: TestClient,
    tokens: Tokens,
    publisher: FakePublisher,
    call: Call,
    headers: Headers,
) -> None:
    response = call.send(client, headers(tokens))
    assert response.status_code == 403, response.text
    assert "this route is for" in response.json()["detail"]
    assert publisher.events == []


def test_a_token_with_the_right_id_but_a_wrong_secret_gets_401(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    token = tokens.token("careers", SCHOOL)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = client.get(
        f"/schools/{SCHOOL}/students", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "the bearer token is not valid"


def test_an_expired_token_gets_401_saying_when_it_expired(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    token = tokens.token("careers", SCHOOL, expires_in=dt.timedelta(seconds=2))
    headers = {"Authorization": f"Bearer {token}"}
    # The test clock moves one second per reading: the first call is inside the two seconds.
    assert client.get(f"/schools/{SCHOOL}/students", headers=headers).status_code == 200
    response = client.get(f"/schools/{SCHOOL}/students", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "expired" in response.json()["detail"]


def test_a_revoked_token_gets_401(world: Database, client: TestClient, tokens: Tokens) -> None:
    from services.api.tokens import revoke_token

    token = tokens.token("employer", PROVIDER)
    parsed = parse(token)
    assert parsed is not None
    revoke_token(world, parsed[0])
    response = client.get(
        f"/providers/{PROVIDER}/offers", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "the bearer token was revoked"


def test_an_admin_token_may_use_every_tenants_routes(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    admin = tokens.admin()
    for call in (c for c in EVERY_CALL if c.method == "GET"):
        assert call.send(client, admin).status_code == 200, str(call)


def test_tokens_are_stored_as_a_hash_of_their_secret_never_in_clear(
    world: Database, tokens: Tokens
) -> None:
    token = tokens.token("student", STUDENT)
    parsed = parse(token)
    assert parsed is not None
    token_id, secret = parsed
    with world.engine.connect() as connection:
        row = connection.execute(select(ApiTokenRow).where(ApiTokenRow.token_id == token_id)).one()
    stored = " ".join(str(value) for value in row)
    assert secret not in stored
    assert row.secret_sha256 != secret and len(row.secret_sha256) == 64
    assert (row.role, row.tenant) == ("student", STUDENT)


def test_the_health_check_needs_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


# -- placement token create --------------------------------------------------------------------


@pytest.fixture
def token_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    migrate(Settings(database_url=sqlite_url))
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return sqlite_url


def test_token_create_prints_a_token_once_which_the_api_then_accepts(
    token_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.api import create_app

    assert (
        main(["token", "create", "--role", "careers", "--tenant", SCHOOL, "--expires-days", "30"])
        == 0
    )
    out = capsys.readouterr().out
    token = next(line for line in out.splitlines() if line.startswith("plc_"))
    assert "careers for sch-001, until" in out
    db = Database(token_db)
    try:
        app = create_app(Settings(database_url=token_db), db, FakePublisher())
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {token}"}
            assert client.get(f"/schools/{SCHOOL}/coverage", headers=headers).status_code == 200
            assert (
                client.get(f"/schools/{OTHER_SCHOOL}/coverage", headers=headers).status_code == 403
            )
    finally:
        db.dispose()
    assert main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "careers" in listing and "usable" in listing and token not in listing


def test_token_create_refuses_a_careers_token_without_its_school(
    token_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "--role", "careers"]) == 2
    assert "a careers token needs its tenant: the school id" in capsys.readouterr().err


def test_token_revoke_names_an_unknown_token(
    token_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "revoke", "0123456789abcdef"]) == 2
    assert "no such token" in capsys.readouterr().err
