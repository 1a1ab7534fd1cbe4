"""What every SQLAlchemy repository shares: the unit of work's session and clock."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from services.persistence.orm import Base, StudentRow
from services.persistence.records import Clock
from services.persistence.repository import SchoolIds


class SqlRepository:
    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock


def equals_or_any(column: InstrumentedAttribute[Any], value: object | None) -> ColumnElement[bool]:
    """`column = value`, or no condition when value is None."""
    return true() if value is None else column == value


Query = TypeVar("Query", bound=Select[*tuple[Any, ...]])


def in_schools(query: Query, student_id: InstrumentedAttribute[str], schools: SchoolIds) -> Query:
    """Restrict `query` to students of these schools (no restriction when None)."""
    if schools is None:
        return query
    return query.join(StudentRow, StudentRow.student_id == student_id).where(
        StudentRow.school_id.in_(sorted(schools))
    )


def dialect_insert(session: Session, table: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ON CONFLICT, which both backends spell the same way."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts on {dialect}: use SQLite or PostgreSQL")


def upsert(
    session: Session,
    table: type[Base],
    rows: Sequence[dict[str, Any]],
    keep: Collection[str] = (),
) -> None:
    """Insert the rows, or update the existing ones (by primary key) except the columns in
    `keep`: one statement (executemany for several rows) and no SELECT, which is what makes
    ingestion fast. Readers of the table use populate_existing, since this bypasses the
    session's identity map."""
    key = [column.name for column in table.__table__.primary_key]
    # One row per key, the last one winning: PostgreSQL refuses to update a row twice in one
    # statement.
    rows = list({tuple(row[k] for k in key): row for row in rows}.values())
    if not rows:
        return
    statement = dialect_insert(session, table)
    update = {c: statement.excluded[c] for c in rows[0] if c not in key and c not in keep}
    session.execute(statement.on_conflict_do_update(index_elements=key, set_=update), rows)
