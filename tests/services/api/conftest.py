"""The API on each real database, a publisher that records what it is given, and a small world:
two schools, two providers, their students and offers, a finished round with allocations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from schemas import Allocation, Metrics, OfferKind
from schemas.events import Envelope
from services.api import create_app
from services.api.tokens import create_token
from services.persistence import Database, RoundRecord, RoundStatus
from services.persistence.tokens import TokenRole
from services.settings import Settings
from tests import factories
from tests.services.conftest import START

SCHOOL, OTHER_SCHOOL = "sch-001", "sch-002"
PROVIDER, OTHER_PROVIDER = "p1", "p2"
STUDENT, CLASSMATE, OTHER_STUDENT = "s1", "s2", "s3"
ROUND = "r1"
DEADLINE = START + dt.timedelta(days=30)  # the test clock starts at START


@dataclass
class FakePublisher:
    events: list[Envelope] = field(default_factory=list)

    def publish(self, events: Sequence[Envelope]) -> None:
        self.events.extend(events)


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def client(database: Database, publisher: FakePublisher) -> Iterator[TestClient]:
    app = create_app(Settings(), database, publisher)
    with TestClient(app) as test_client:
        yield test_client


class Tokens:
    """Mints tokens on the test database; `headers(role, tenant)` is ready to send."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def token(
        self, role: TokenRole, tenant: str | None, expires_in: dt.timedelta | None = None
    ) -> str:
        return create_token(self.db, role, tenant, expires_in=expires_in)[1]

    def headers(self, role: TokenRole, tenant: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, tenant)}"}

    def careers(self, school: str = SCHOOL) -> dict[str, str]:
        return self.headers("careers", school)

    def employer(self, provider: str = PROVIDER) -> dict[str, str]:
        return self.headers("employer", provider)

    def student(self, student: str = STUDENT) -> dict[str, str]:
        return self.headers("student", student)

    def admin(self) -> dict[str, str]:
        return self.headers("admin")


@pytest.fixture
def tokens(database: Database) -> Tokens:
    return Tokens(database)


def metrics() -> Metrics:
    return factories.metrics(
        students=2,
        matched_students=1,
        b8_completed=1,
        b8_coverage_pct=50.0,
        lowest_school_coverage_pct=50.0,
        objective=(1, 2),
        bound=(1, 2),
    )


L1, L2, L2_OTHER, CHEMISTRY, CLOSED = "o-l1", "o-l2", "o-p2", "o-chem", "o-closed"


@pytest.fixture
def world(database: Database) -> Database:
    """sch-001: s1 (Chan Tai Man, S5, biology and chemistry) and s2 (S4, biology only);
    sch-002: s3. p1 offers an L1, an L2, an L1 that needs chemistry and an L1 whose ranking
    deadline has passed; p2 offers an L2. Round r1 (sch-001, committed, done) placed s1 in the
    L1 and the L2, and s2 in the L2."""
    with database.unit_of_work() as uow:
        uow.students.add_many(
            [
                factories.student(STUDENT, school_id=SCHOOL, name="Chan Tai Man"),
                factories.student(
                    CLASSMATE,
                    school_id=SCHOOL,
                    name="=HYPERLINK(1)",
                    form="S4",
                    subjects=frozenset({"biology"}),
                ),
                factories.student(OTHER_STUDENT, school_id=OTHER_SCHOOL, name="Lee Siu Ming"),
            ]
        )
        uow.offers.add(factories.offer(L1, provider_id=PROVIDER), DEADLINE)
        uow.offers.add(
            factories.offer(L2, OfferKind.WORKPLACE_L2, provider_id=PROVIDER, capacity=2),
            DEADLINE,
        )
        uow.offers.add(
            factories.offer(
                CHEMISTRY,
                provider_id=PROVIDER,
                prerequisites={"required_subjects": frozenset({"chemistry"})},
            ),
            DEADLINE,
        )
        uow.offers.add(factories.offer(CLOSED, provider_id=PROVIDER), START - dt.timedelta(days=1))
        uow.offers.add(
            factories.offer(L2_OTHER, OfferKind.WORKPLACE_L2, provider_id=OTHER_PROVIDER),
            DEADLINE,
        )
        uow.rounds.add(
            RoundRecord(
                round_id=ROUND,
                scope="school",
                school_ids=(SCHOOL,),
                mode="commit",
                requested_at=START,
            )
        )
        uow.rounds.set_status(ROUND, RoundStatus.RUNNING, progress=0.5, message="solving")
        uow.rounds.set_status(ROUND, RoundStatus.DONE, message="done", metrics=metrics())
        uow.allocations.add(
            ROUND,
            [
                Allocation(
                    student_id=STUDENT, offer_id=L1, kind=OfferKind.WORKPLACE_L1, group="b8_l1"
                ),
                Allocation(
                    student_id=STUDENT,
                    offer_id=L2,
                    kind=OfferKind.WORKPLACE_L2,
                    group="b8_l23",
                    rank=1,
                ),
                Allocation(
                    student_id=CLASSMATE,
                    offer_id=L2,
                    kind=OfferKind.WORKPLACE_L2,
                    group="b8_l23",
                    rank=2,
                ),
            ],
        )
        uow.commit()
    return database


def offer_body(offer_id: str = "o-new", **changes: Any) -> dict[str, Any]:
    """A valid POST /offers body for provider p1 (an L2 with insurance)."""
    body: dict[str, Any] = factories.offer(
        offer_id, OfferKind.WORKPLACE_L2, provider_id=PROVIDER
    ).model_dump(mode="json")
    body["preference_deadline"] = DEADLINE.isoformat()
    body.update(changes)
    return body


STUDENTS_CSV = (
    "student_id,name,form,date_of_birth,subjects,interests,academic_band,parental_consent\n"
    "s10,Wong Ka Yan,S5,2010-05-01,biology;chemistry,healthcare,1,yes\n"
    "s11,Ho Chi Kin,s4,2011-02-03,,,,no\n"
)
