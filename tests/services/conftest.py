"""Real parts for the service tests: the embedded broker, a SQLite file and PostgreSQL.

The broker: one real embedded tansu for the whole session, and a fresh topic namespace (a
unique prefix) per test, so tests never see each other's messages.

Databases: in-memory fakes, a SQLite file and PostgreSQL.

PostgreSQL is reached at PLACEMENT_TEST_POSTGRES_URL (default: the project machines' server,
postgresql+psycopg://postgres@127.0.0.1:5432/test). Each test session creates its own schemas
with unique names in that database and drops them at the end, so concurrent runs don't interfere
and nothing is left behind. If the server is unreachable the PostgreSQL tests fail, saying so; set
PLACEMENT_TEST_POSTGRES_URL to an empty string to skip them deliberately.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from services.broker import EmbeddedBroker, provision
from services.persistence import Database, MemoryStore, MemoryUnitOfWork, UnitOfWorkFactory, migrate
from services.persistence.orm import Base
from services.settings import Settings

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)


class Ticker:
    """A clock for tests: every reading is one second after the previous one."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


class PostgresServer:
    """Hands out empty, uniquely named schemas and drops them all at close().

    A schema per use rather than a database: DROP DATABASE forces a checkpoint of the whole
    cluster (seconds on a busy disk), DROP SCHEMA does not. The URL it returns sets the
    connection's search_path, so the application and Alembic see that schema alone.
    """

    def __init__(self, url: URL) -> None:
        self.url = url
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def fresh(self) -> URL:
        name = f"placement_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
        self.created.append(name)
        return self.url.update_query_dict({"options": f"-csearch_path={name}"})

    def close(self) -> None:
        with self.admin.connect() as connection:
            for name in self.created:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    configured = os.environ.get("PLACEMENT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    if not configured:
        pytest.skip("PostgreSQL tests disabled: PLACEMENT_TEST_POSTGRES_URL is empty")
    server = PostgresServer(make_url(configured))
    try:
        with server.admin.connect():
            pass
    except OperationalError as e:
        pytest.fail(
            f"PostgreSQL at {server.url.render_as_string(hide_password=True)} is unreachable "
            f"({e.orig}); start it, point PLACEMENT_TEST_POSTGRES_URL at one, or set it to an "
            "empty string to skip the PostgreSQL tests"
        )
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres_database(postgres: PostgresServer) -> Iterator[Database]:
    """One migrated database for the session; `database` empties it before each test."""
    url = postgres.fresh()
    migrate(Settings(database_url=url.render_as_string(hide_password=False)))
    db = Database(url)
    yield db
    db.dispose()


def _truncate(db: Database) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def clock() -> Ticker:
    return Ticker()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'placement.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Database:
    """A migrated, empty database on each real backend, with the test clock."""
    db: Database = request.getfixturevalue(f"database_{request.param}")
    return db


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def uow_factory(request: pytest.FixtureRequest, clock: Ticker) -> UnitOfWorkFactory:
    """Units of work on every backend, the in-memory fake included: the contract is shared."""
    if request.param == "memory":
        store = MemoryStore()
        return lambda: MemoryUnitOfWork(store, clock)
    db: Database = request.getfixturevalue(f"database_{request.param}")
    return db.unit_of_work


@pytest.fixture
def database_sqlite(sqlite_url: str, clock: Ticker) -> Iterator[Database]:
    migrate(Settings(database_url=sqlite_url))
    db = Database(sqlite_url, clock)
    yield db
    db.dispose()


@pytest.fixture
def database_postgresql(postgres_database: Database, clock: Ticker) -> Iterator[Database]:
    _truncate(postgres_database)
    db = Database(postgres_database.engine.url, clock)
    yield db
    db.dispose()


FreshUrl = Callable[[str], str]


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, sqlite_url: str) -> FreshUrl:
    """An empty, unmigrated database of the given backend ("sqlite" or "postgresql"; there, a
    fresh schema)."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            return sqlite_url
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.fresh().render_as_string(hide_password=False)

    return make


# -- the broker ---------------------------------------------------------------------------

PARTITIONS = 3


def group_is_gone(pgid: int) -> bool:
    """True when no process is left in the process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def eventually(condition: object, timeout: float = 10.0) -> bool:
    """Poll `condition()` until it is true or `timeout` seconds pass; never a fixed sleep."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker()
    embedded.start()
    pgid = embedded.pid
    assert pgid is not None
    yield embedded
    embedded.stop()
    assert group_is_gone(pgid), "a tansu process outlived stop()"


@pytest.fixture
def settings(broker: EmbeddedBroker) -> Settings:
    """Settings on the shared broker, with topics of their own (a unique prefix per test)."""
    return Settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        topic_partitions=PARTITIONS,
    )


@pytest.fixture
def provisioned(settings: Settings) -> Settings:
    provision(settings)
    return settings
