"""Exactly-once effects over at-least-once delivery: processed event ids and the outbox."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy import BigInteger, Text, any_, bindparam, cast, exists, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from services.persistence import repository as repo
from services.persistence.errors import Conflict
from services.persistence.orm import Base, OutboxRow, ProcessedEventRow
from services.persistence.records import OutboxMessage
from services.persistence.sql.base import Skip, SqlRepository, insert_many

COPY_FROM = 50  # rows from which PostgreSQL gets a COPY rather than an INSERT
PUBLISHED_CHUNK = 30_000  # ids per UPDATE on SQLite, below its 32,766 parameters


class SqlProcessedEventRepository(SqlRepository, repo.ProcessedEventRepository):
    def seen(self, event_id: str) -> bool:
        query = select(exists().where(ProcessedEventRow.event_id == event_id))
        return bool(self.session.scalar(query))

    def mark(self, event_id: str, topic: str) -> bool:
        return bool(self.mark_many([event_id], topic))

    def mark_many(self, event_ids: Sequence[str], topic: str) -> set[str]:
        # INSERT ... ON CONFLICT DO NOTHING rather than catching a unique violation: on
        # PostgreSQL a failed statement aborts the whole transaction, and a savepoint per event
        # costs two more round trips. A concurrent insert of the same id makes this statement
        # wait for that transaction; if it commits, the id is not inserted and not returned.
        # One statement for the batch (`insert_many`): a VALUES list is compiled again for
        # every batch size, which cost more than the rest of the ingest on PostgreSQL.
        now = self.clock()
        rows = [
            {"event_id": event_id, "topic": topic, "processed_at": now}
            for event_id in dict.fromkeys(event_ids)
        ]
        skip = Skip(("event_id",))
        return set(insert_many(self.session, ProcessedEventRow, rows, skip, "event_id"))


_OUTBOX_COLUMNS = ("event_id", "topic", "key", "payload", "created_at")


class SqlOutbox(SqlRepository, repo.Outbox):
    """Rows are inserted at once, in the order queued (ids follow that order), and read back
    as the JSON text stored, which is the event's wire form (`model_dump_json()`, compact)."""

    def add_serialised(self, entries: Iterable[tuple[str, str, str, str]]) -> None:
        now = stored(self.session, OutboxRow.__table__.c.created_at, self.clock())
        append_rows(
            self.session,
            OutboxRow,
            _OUTBOX_COLUMNS,
            ((event_id, topic, key, payload, now) for event_id, topic, key, payload in entries),
        )

    def unpublished(self, limit: int, after: int | None = None) -> list[OutboxMessage]:
        query = _SELECT_MESSAGES.where(OutboxRow.published_at.is_(None))
        if after is not None:
            query = query.where(OutboxRow.id > after)
        query = (
            query.order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update()  # rendered on PostgreSQL only; SQLite has one writer anyway
        )
        return [_message(row) for row in self.session.execute(query)]

    def mark_published(self, ids: Collection[int]) -> None:
        if not ids:
            return
        ordered = sorted(ids)
        if self.session.get_bind().dialect.name == "postgresql":
            # One array parameter, whatever the batch's size.
            which = [OutboxRow.id == any_(bindparam("ids", ordered, type_=_ID_ARRAY))]
        else:
            which = [
                OutboxRow.id.in_(ordered[start : start + PUBLISHED_CHUNK])
                for start in range(0, len(ordered), PUBLISHED_CHUNK)
            ]
        now = self.clock()
        for condition in which:
            self.session.execute(
                update(OutboxRow)
                .where(condition, OutboxRow.published_at.is_(None))
                .values(published_at=now),
                execution_options={"synchronize_session": False},
            )

    def get(self, event_id: str) -> OutboxMessage | None:
        row = self.session.execute(
            _SELECT_MESSAGES.where(OutboxRow.event_id == event_id)
        ).one_or_none()
        return None if row is None else _message(row)


_ID_ARRAY = ARRAY(BigInteger())
_SELECT_MESSAGES = select(
    OutboxRow.id,
    OutboxRow.event_id,
    OutboxRow.topic,
    OutboxRow.key,
    cast(OutboxRow.payload, Text),  # the text stored, not parsed and encoded again
    OutboxRow.created_at,
    OutboxRow.published_at,
)


def _message(row: Any) -> OutboxMessage:
    id_, event_id, topic, key, payload, created_at, published_at = row
    return OutboxMessage(  # validated in compiled code: quicker than model_construct
        id=id_,
        event_id=event_id,
        topic=topic,
        key=key,
        payload=payload.encode(),
        created_at=created_at,
        published_at=published_at,
    )


def stored(session: Session, column: Any, value: Any) -> Any:
    """`value` as the driver receives it for `column` (what SQLAlchemy's bind processing of
    the column's type makes of it: a UTC timestamp, in SQLite's text form there)."""
    dialect = session.get_bind().dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return value if process is None else process(value)


def append_rows(
    session: Session, table: type[Base], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert `rows` (tuples of values in `columns` order) in their order, so generated ids
    follow it, at the fastest each backend offers: on PostgreSQL a COPY, streamed as `rows`
    are produced (the server works on the first rows while the later ones are built), or for a
    few rows an INSERT; on SQLite one prepared INSERT run for every row. Values go to the
    driver as given: JSON columns as their JSON text, other values as `stored` makes them where
    the type converts (timestamps). A refused row (duplicate key, dangling reference) raises
    `Conflict`, as an ORM write would. Pending ORM changes are flushed first.
    """
    remaining = iter(rows)
    head = list(itertools.islice(remaining, COPY_FROM))
    if not head:
        return
    session.flush()
    connection = session.connection()
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    name = quote(table.__tablename__)
    names = ", ".join(quote(c) for c in columns)
    if dialect.name != "postgresql" or len(head) < COPY_FROM:
        mark = "%s" if dialect.name == "postgresql" else "?"
        values = ", ".join([mark] * len(columns))
        sql = f"INSERT INTO {name} ({names}) VALUES ({values})"
        connection.exec_driver_sql(sql, [*head, *remaining])
        return
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
            for row in itertools.chain(head, remaining):
                copy.write_row(row)
    except psycopg.IntegrityError as error:  # what the engine's handle_error hook would say
        raise Conflict(str(error).strip()) from None
