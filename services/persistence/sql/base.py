"""What every SQLAlchemy repository shares: the unit of work's session and clock."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    Dialect,
    Select,
    Table,
    TextClause,
    any_,
    bindparam,
    text,
    true,
)
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


IN_CHUNK = 1000  # values per IN list on SQLite, far below its 32,766 parameters


Key = TypeVar("Key", str, int)


def any_of(
    session: Session,
    column: InstrumentedAttribute[Key],
    values: Collection[Key],
    chunk: int = IN_CHUNK,
) -> list[ColumnElement[bool]]:
    """Conditions `column IN values` that together cover every value: on PostgreSQL one
    `= ANY(array)`, whatever the count (one parameter to send, and a statement compiled once);
    on SQLite IN lists of at most `chunk` values. None when there are no values."""
    ordered = sorted(set(values))
    if not ordered:
        return []
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, ordered, type_=postgresql.ARRAY(column.type))
        return [column == any_(array)]
    return [column.in_(ordered[start : start + chunk]) for start in range(0, len(ordered), chunk)]


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
    `keep`: one statement and no SELECT, which is what makes ingestion fast (see `insert_many`).
    Readers of the table use populate_existing, since this bypasses the session's identity
    map."""
    key = [column.name for column in table.__table__.primary_key]
    # One row per key, the last one winning: PostgreSQL refuses to update a row twice in one
    # statement.
    rows = list({tuple(row[k] for k in key): row for row in rows}.values())
    if rows:
        insert_many(session, table, rows, conflict=Upsert(tuple(key), tuple(keep)))


@dataclass(frozen=True)
class Upsert:
    """ON CONFLICT (key) DO UPDATE of every column but the key and `keep`."""

    key: tuple[str, ...]
    keep: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skip:
    """ON CONFLICT (key) DO NOTHING: a row whose key is taken is not inserted."""

    key: tuple[str, ...]


def insert_many(
    session: Session,
    table: type[Base],
    rows: Sequence[dict[str, Any]],
    conflict: Upsert | Skip | None = None,
    returning: str | None = None,
) -> list[Any]:
    """Insert the rows (dicts of column values, all with the same keys) in one statement;
    returns column `returning` of the rows written (none when not asked for).

    On PostgreSQL the rows travel as one JSON document that the server unpacks into the table's
    row type (json_populate_recordset): a batch of thousands of rows is one round trip, one
    parse and one C-encoded parameter (an executemany sends and executes every row on its own;
    a VALUES list of that size is slow to compile and to parse; arrays are slow to adapt). SQLite
    runs in the process: an executemany of one prepared statement is its fast path. Pending
    ORM changes are flushed first, as an ORM statement would.
    """
    if not rows:
        return []
    session.flush()
    columns = tuple(rows[0])
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        statement = dialect_insert(session, table)
        if isinstance(conflict, Skip):
            statement = statement.on_conflict_do_nothing(index_elements=conflict.key)
        elif conflict is not None:
            update = {
                c: statement.excluded[c]
                for c in columns
                if c not in conflict.key and c not in conflict.keep
            }
            statement = statement.on_conflict_do_update(index_elements=conflict.key, set_=update)
        if returning is None:
            session.execute(statement, rows)
            return []
        return list(session.scalars(statement.returning(table.__table__.c[returning]), rows))
    sql, processors = _recordset_insert(dialect, table.__table__, columns, conflict, returning)
    if processors:
        rows = [
            {
                **row,
                **{c: process(row[c]) for c, process in processors},
            }
            for row in rows
        ]
    result = session.execute(sql, {"rows": json_text(rows)})
    return [] if returning is None else list(result.scalars())


def json_text(value: Any) -> str:
    """Compact JSON, as the engine writes a JSON column (`database.compact_json`), dates in ISO
    form. A JSON column written by `insert_many` on PostgreSQL stores its value's text so."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_iso)


def _iso(value: object) -> str:
    if isinstance(value, dt.date):  # datetimes included; bind processors made them UTC
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} {value!r} has no JSON form")


@functools.lru_cache(maxsize=64)
def _recordset_insert(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    conflict: Upsert | Skip | None,
    returning: str | None,
) -> tuple[TextClause, tuple[tuple[str, Callable[[Any], Any]], ...]]:
    """The INSERT ... SELECT FROM json_populate_recordset(...) of `columns`, and the bind
    processors of the columns that have one (UTC datetimes, booleans), JSON columns aside."""
    quote = dialect.identifier_preparer.quote
    processors = []
    for name in columns:
        type_ = table.columns[name].type
        process = type_.dialect_impl(dialect).bind_processor(dialect)
        if process is not None and not isinstance(type_, JSON):
            processors.append((name, process))
    names = ", ".join(quote(c) for c in columns)
    target = dialect.identifier_preparer.format_table(table)
    rows = f"json_populate_recordset(CAST(NULL AS {target}), :rows)"
    sql = f"INSERT INTO {target} ({names}) SELECT {names} FROM {rows}"
    if conflict is not None:
        keys = ", ".join(quote(c) for c in conflict.key)
        update = (
            []
            if isinstance(conflict, Skip)
            else [c for c in columns if c not in conflict.key and c not in conflict.keep]
        )
        if update:
            assignments = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
            sql += f" ON CONFLICT ({keys}) DO UPDATE SET {assignments}"
        else:
            sql += f" ON CONFLICT ({keys}) DO NOTHING"
    if returning is not None:
        sql += f" RETURNING {quote(returning)}"
    return text(sql), tuple(processors)


Model = TypeVar("Model")
Row = tuple[Any, ...]


class RowMemo(Generic[Model]):
    """Models decoded from rows, by the row's key (its first `key_columns` columns), each with
    the row it came from: reading an unchanged row again returns the model already built instead
    of parsing and validating it again (a batch of preference lists reads the same thousand
    offers as the one before it). A row that differs in any column is decoded afresh, so the
    memo is never stale, whoever changed the row. Models are immutable, and shared between
    threads and sessions.

    At most `size` rows are kept; past that the memo starts over.
    """

    def __init__(self, decode: Callable[[Row], Model], size: int, key_columns: int = 1) -> None:
        self._decode = decode
        self._size = size
        self._key: Callable[[Row], Any] = (
            (lambda row: row[0]) if key_columns == 1 else (lambda row: row[:key_columns])
        )
        self._memo: dict[Any, tuple[Row, Model]] = {}

    def __call__(self, row: Row) -> Model:
        kept = self._memo.get(self._key(row))
        if kept is not None and kept[0] == row:
            return kept[1]
        model = self._decode(row)
        self.remember(row, model)
        return model

    def remember(self, row: Row, model: Model) -> None:
        """Keep `model` as what `row` decodes to (a writer that has the model at hand)."""
        if len(self._memo) >= self._size:
            self._memo = {}
        self._memo[self._key(row)] = (row, model)

    def read(self, session: Session, query: Select[Any]) -> list[Model]:
        """The models of the rows `query` selects, in its order."""
        return [self(tuple(row)) for row in session.execute(query)]
