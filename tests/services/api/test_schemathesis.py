"""Every operation of the OpenAPI spec, with inputs Schemathesis generates from it: none may
answer a server error (5xx).

The app runs in-process (ASGI) on each real database with the `world` of conftest.py and a
publisher that only records (so the world never changes). It is called as an admin and as the
careers team of sch-001, with real tokens minted in the test database; path parameters are
often the ids of that world, so the calls get past the 403s and 404s into the handlers. Each
operation gets at most MAX_EXAMPLES generated cases, valid and invalid ones (Schemathesis'
positive and negative modes), derandomized: the same cases on every run.

The cases are driven with Hypothesis directly rather than with `schema.parametrize()`:
Schemathesis' pytest integration sets `Function._nodeid`, which pytest 9 no longer has.
"""

from __future__ import annotations

import traceback
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Err, Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.hooks import HookContext
from schemathesis.schemas import APIOperation

from services.api import create_app
from services.persistence import Database
from services.settings import Settings
from tests.services.api.conftest import (
    CHEMISTRY,
    CLASSMATE,
    CLOSED,
    L1,
    L2,
    L2_OTHER,
    OTHER_PROVIDER,
    OTHER_SCHOOL,
    OTHER_STUDENT,
    PROVIDER,
    ROUND,
    SCHOOL,
    STUDENT,
    FakePublisher,
    Tokens,
    offer_body,
)

SEED = 20270104
MAX_EXAMPLES = 15  # per operation, role and database

# The ids of the world, by path parameter: one of them, or (as often) a generated one.
KNOWN_IDS = {
    "school_id": [SCHOOL, OTHER_SCHOOL],
    "provider_id": [PROVIDER, OTHER_PROVIDER],
    "student_id": [STUDENT, CLASSMATE, OTHER_STUDENT],
    "offer_id": [L1, L2, CHEMISTRY, CLOSED, L2_OTHER],
    "round_id": [ROUND],
}


def known_path_parameters(
    context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """The generated path parameters, or the same with the world's ids in place."""
    if not path_parameters:
        return st.just(path_parameters)
    known = {
        name: st.sampled_from(KNOWN_IDS[name]) for name in path_parameters if name in KNOWN_IDS
    }
    if not known:
        return st.just(path_parameters)
    generated = path_parameters
    return st.one_of(
        st.just(generated), st.fixed_dictionaries(known).map(lambda ids: generated | ids)
    )


@pytest.fixture(params=["admin", "careers"])
def bearer(request: pytest.FixtureRequest, tokens: Tokens) -> dict[str, str]:
    """The Authorization header of an admin, or of sch-001's careers team."""
    return tokens.admin() if request.param == "admin" else tokens.careers()


def exercise(operation: APIOperation[Any, Any, Any, Any], headers: dict[str, str]) -> int:
    """Send up to MAX_EXAMPLES generated cases to one operation; the number of calls made.
    Raises on a server error, after shrinking it: Schemathesis' FailureGroup, or the exception
    the app raised (the in-process transport passes it on)."""
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    calls = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases)
    def call(case: schemathesis.Case[Any]) -> None:
        nonlocal calls
        calls += 1
        # a copy: the transport adds its default headers to the dict it is given
        case.call_and_validate(headers=dict(headers), checks=[not_a_server_error])

    call()
    return calls


def test_no_operation_answers_a_server_error(
    world: Database, publisher: FakePublisher, bearer: dict[str, str]
) -> None:
    app = create_app(Settings(), world, publisher)
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=SchemathesisConfig.from_dict({"seed": SEED})
    )
    schema.hook("flatmap_path_parameters")(known_path_parameters)

    results = list(schema.get_all_operations())
    assert not [r.err() for r in results if isinstance(r, Err)], "the spec has invalid operations"
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 16, "the spec lost operations"
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    for operation in operations:
        try:
            calls[operation.label] = exercise(operation, bearer)
        except Exception as error:  # a 5xx, or what the app raised behind it
            failures[operation.label] = "".join(traceback.format_exception_only(error))

    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert all(calls.values()), calls


@pytest.mark.parametrize(
    ("start", "end"),
    [("09:30:00Z", "12:30:00Z"), ("09:30:00+08:00", "12:30:00+08:00"), (34200, 45000)],
    ids=["utc", "offset", "seconds"],
)
def test_session_times_with_an_offset_are_refused(
    client: TestClient, tokens: Tokens, start: str | int, end: str | int
) -> None:
    body = offer_body()
    body["sessions"] = [{"date": "2027-03-01", "start": start, "end": end}]
    response = client.post("/offers", json=body, headers=tokens.admin())
    assert response.status_code == 422, response.text
