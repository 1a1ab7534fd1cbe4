"""Exactly-once effects over at-least-once delivery: processed event ids and the outbox."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import psycopg
from sqlalchemy import Text, cast, exists, select, update
from sqlalchemy.orm import Session

from services.persistence import repository as repo
from services.persistence.errors import Conflict
from services.persistence.orm import Base, OutboxRow, ProcessedEventRow
from services.persistence.records import Clock, OutboxMessage
from services.persistence.sql.base import Skip, SqlRepository, any_of, insert_many

COPY_FROM = 50  # rows from which PostgreSQL gets a COPY rather than an INSERT
PUBLISHED_CHUNK = 30_000  # ids per statement on SQLite, below its 32,766 parameters
COMMITTED_PAYLOADS = 100_000  # payloads kept for the relay: a 10,000-student round's 29,000 3x


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


class CommittedPayloads:
    """The payloads of outbox rows this process committed, by event id, kept for the relay.

    A round commits tens of thousands of events and the relay reads them straight back; with
    their payloads at hand it reads only the rows' ids and keys, a tenth of the bytes. A
    payload is forgotten once its row is committed as published; one not here (another process
    committed it, or the memo started over) is read from the database. An event's payload
    never changes once committed (its event_id is unique in the outbox), so a payload here is
    never stale. Keep one per database: event ids are unique within a database, not across
    them.

    At most `size` payloads are kept (rows another worker published are never forgotten one by
    one); past that the memo starts over.
    """

    def __init__(self, size: int = COMMITTED_PAYLOADS) -> None:
        self._size = size
        self._payloads: dict[str, str] = {}

    def add(self, entries: Iterable[tuple[str, str]]) -> None:
        """Keep (event_id, payload) pairs that have just been committed."""
        payloads = self._payloads
        for event_id, payload in entries:
            if len(payloads) >= self._size:
                payloads = self._payloads = {}
            payloads[event_id] = payload

    def get(self, event_id: str) -> str | None:
        return self._payloads.get(event_id)

    def forget(self, event_ids: Iterable[str]) -> None:
        payloads = self._payloads
        for event_id in event_ids:
            payloads.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._payloads)


class SqlOutbox(SqlRepository, repo.Outbox):
    """Rows are inserted at once, in the order queued (ids follow that order), and read back
    as the JSON text stored, which is the event's wire form (`model_dump_json()`, compact).

    With `committed`, the payloads this unit of work queued are handed to it once the
    transaction commits (`on_commit`), `unpublished` reads payloads from it, and those of rows
    marked published are forgotten once that commits.
    """

    def __init__(
        self, session: Session, clock: Clock, committed: CommittedPayloads | None = None
    ) -> None:
        super().__init__(session, clock)
        self.committed = committed
        self._queued: list[tuple[str, str]] = []  # (event_id, payload) added
        self._read: dict[int, str] = {}  # event ids of the rows `unpublished` returned, by id
        self._marked: list[str] = []  # event ids of the rows marked published

    def add_serialised(self, entries: Iterable[tuple[str, str, str, str]]) -> None:
        now = stored(self.session, OutboxRow.__table__.c.created_at, self.clock())
        rows: Iterable[tuple[str, str, str, str, Any]] = (
            (event_id, topic, key, payload, now) for event_id, topic, key, payload in entries
        )
        if self.committed is None:
            append_rows(self.session, OutboxRow, _OUTBOX_COLUMNS, rows)
            return
        added: list[tuple[str, str]] = []
        append_rows(self.session, OutboxRow, _OUTBOX_COLUMNS, _noting(rows, added))
        self._queued += added  # only once the statement took every row

    def on_commit(self) -> None:
        """The transaction committed: its payloads are the relay's, and those it published are
        no longer needed."""
        if self.committed is not None:
            self.committed.add(self._queued)
            self.committed.forget(self._marked)
        self.on_rollback()

    def on_rollback(self) -> None:
        self._queued, self._read, self._marked = [], {}, []

    def unpublished(self, limit: int, after: int | None = None) -> list[OutboxMessage]:
        committed = self.committed
        query = _SELECT_HEADERS if committed is not None else _SELECT_MESSAGES
        query = query.where(OutboxRow.published_at.is_(None))
        if after is not None:
            query = query.where(OutboxRow.id > after)
        query = (
            query.order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update()  # rendered on PostgreSQL only; SQLite has one writer anyway
        )
        self.session.flush()
        connection = self.session.connection()
        rows = connection.execute(query).all()
        if committed is None:
            return [_message(row[:-1], row[-1]) for row in rows]
        payloads = {row[1]: p for row in rows if (p := committed.get(row[1])) is not None}
        missing = [row[0] for row in rows if row[1] not in payloads]
        for ids in any_of(self.session, OutboxRow.id, missing, chunk=PUBLISHED_CHUNK):
            # Rows locked by the query above already.
            found = connection.execute(select(OutboxRow.event_id, _PAYLOAD_TEXT).where(ids))
            payloads.update((event_id, payload) for event_id, payload in found)
        self._read.update((row[0], row[1]) for row in rows)
        return [_message(row, payloads[row[1]]) for row in rows]

    def mark_published(self, ids: Collection[int]) -> None:
        if not ids:
            return
        if self.committed is not None:
            read = self._read
            self._marked += [read[id_] for id_ in ids if id_ in read]
        now = self.clock()
        for condition in any_of(self.session, OutboxRow.id, ids, chunk=PUBLISHED_CHUNK):
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
        return None if row is None else _message(row[:-1], row[-1])


_SELECT_HEADERS = select(
    OutboxRow.id,
    OutboxRow.event_id,
    OutboxRow.topic,
    OutboxRow.key,
    OutboxRow.created_at,
    OutboxRow.published_at,
)
_PAYLOAD_TEXT = cast(OutboxRow.payload, Text)  # the text stored, not parsed and encoded again
_SELECT_MESSAGES = select(*_SELECT_HEADERS.selected_columns, _PAYLOAD_TEXT)


def _noting(
    rows: Iterable[tuple[str, str, str, str, Any]], queued: list[tuple[str, str]]
) -> Iterator[tuple[str, str, str, str, Any]]:
    for row in rows:
        queued.append((row[0], row[3]))
        yield row


def _message(row: Any, payload: str) -> OutboxMessage:
    id_, event_id, topic, key, created_at, published_at = row
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
