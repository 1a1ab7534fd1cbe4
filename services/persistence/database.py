"""Engines and sessions for the two supported backends: a SQLite file and PostgreSQL.

SQLite needs three adjustments to behave like a transactional database:
- foreign keys are off unless asked for on every connection;
- Python's sqlite3 driver does not emit BEGIN before a SELECT, so a "transaction" of reads is a
  series of independent snapshots. The driver's own transaction handling is switched off and
  BEGIN is emitted when SQLAlchemy begins. A unit of work that writes begins IMMEDIATE (it takes
  the write lock up front, so it waits for another writer instead of failing later when it
  upgrades its lock); a snapshot read begins DEFERRED and, in WAL mode, reads one consistent
  version of the database without blocking writers;
- WAL journal mode, so readers and the one writer don't block each other.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, Connection, ExceptionContext, make_url
from sqlalchemy.orm import sessionmaker

from services.persistence.errors import Conflict
from services.persistence.records import Clock, utcnow
from services.persistence.sql import CommittedPayloads
from services.persistence.unit_of_work import SqlAlchemyUnitOfWork
from services.settings import Settings

# Execution option read by the BEGIN hook: "IMMEDIATE" (default) or "DEFERRED".
SQLITE_BEGIN = "placement_sqlite_begin"
SQLITE_BUSY_TIMEOUT_S = 30.0  # how long a writer waits for SQLite's single write lock


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for `url` (sqlite:///file or postgresql+psycopg://...), configured as above."""
    url = make_url(url)
    # Compact JSON, as pydantic writes it: a stored event's text is its wire form, so the relay
    # reads it as text and publishes it without parsing and re-encoding (see sql/messaging.py).
    kwargs.setdefault("json_serializer", compact_json)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine, "handle_error", _conflict)
    return engine


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _conflict(context: ExceptionContext) -> BaseException | None:
    """A refused write (duplicate key, dangling reference, failed check) becomes `Conflict`."""
    if isinstance(context.sqlalchemy_exception, exc.IntegrityError):
        return Conflict(str(context.original_exception).strip())
    return None


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _sqlite_begin
    dbapi_connection.execute("PRAGMA foreign_keys = ON")
    dbapi_connection.execute("PRAGMA journal_mode = WAL")
    # In WAL mode NORMAL survives a crash of the process (a power loss may lose the last
    # commits) and saves an fsync per transaction.
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")


def _sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
    if mode not in ("IMMEDIATE", "DEFERRED"):
        raise ValueError(f"{SQLITE_BEGIN}={mode!r}: use IMMEDIATE or DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One engine and the units of work over it: build it once per process, from Settings."""

    def __init__(self, url: str | URL, clock: Clock = utcnow, **engine_kwargs: Any) -> None:
        self.engine = make_engine(url, **engine_kwargs)
        self.clock = clock
        snapshot: dict[str, Any] = (
            {SQLITE_BEGIN: "DEFERRED"}
            if self.engine.dialect.name == "sqlite"
            else {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        self._writes = sessionmaker(self.engine, expire_on_commit=False)
        self._snapshots = sessionmaker(
            self.engine.execution_options(**snapshot), expire_on_commit=False
        )
        self.committed_payloads: CommittedPayloads | None = None  # see keep_outbox_payloads

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = utcnow) -> Database:
        return cls(settings.database_url, clock)

    def unit_of_work(self, snapshot: bool = False) -> SqlAlchemyUnitOfWork:
        """A unit of work; `snapshot=True` for a consistent, read-only view (REPEATABLE READ on
        PostgreSQL, a deferred read transaction on SQLite) such as a round's input."""
        if snapshot:
            return SqlAlchemyUnitOfWork(self._snapshots, self.clock)
        return SqlAlchemyUnitOfWork(self._writes, self.clock, self.committed_payloads)

    def keep_outbox_payloads(self) -> CommittedPayloads:
        """Keep the payloads of outbox rows committed through this object for the outbox relay
        running in this process (see `CommittedPayloads`); a process without one keeps none."""
        if self.committed_payloads is None:
            self.committed_payloads = CommittedPayloads()
        return self.committed_payloads

    def dispose(self) -> None:
        self.engine.dispose()
