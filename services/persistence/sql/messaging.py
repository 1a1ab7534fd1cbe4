"""Exactly-once effects over at-least-once delivery: processed event ids and the outbox."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import Text, cast, exists, insert, select, update

from schemas.events import Envelope
from services.persistence import repository as repo
from services.persistence.orm import OutboxRow, ProcessedEventRow
from services.persistence.records import OutboxMessage
from services.persistence.sql.base import SqlRepository, dialect_insert

MARK_CHUNK = 1000  # ids per INSERT: 3,000 parameters, far below SQLite's 32,766


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
        now, unique, claimed = self.clock(), list(dict.fromkeys(event_ids)), set[str]()
        for start in range(0, len(unique), MARK_CHUNK):
            rows = [
                {"event_id": event_id, "topic": topic, "processed_at": now}
                for event_id in unique[start : start + MARK_CHUNK]
            ]
            statement = dialect_insert(self.session, ProcessedEventRow).values(rows)
            claimed.update(
                self.session.scalars(
                    statement.on_conflict_do_nothing(index_elements=["event_id"]).returning(
                        ProcessedEventRow.event_id
                    )
                )
            )
        return claimed


class SqlOutbox(SqlRepository, repo.Outbox):
    """Rows are inserted at once, in the order queued (ids follow that order), and read back
    as the JSON text stored, which is the event's wire form (the engine writes compact JSON)."""

    def add(self, event: Envelope, topic: str, key: str) -> None:
        self.add_many([(event, topic, key)])

    def add_many(self, entries: Iterable[tuple[Envelope, str, str]]) -> None:
        now = self.clock()
        rows = [
            {
                "event_id": event.event_id,
                "topic": topic,
                "key": key,
                "payload": event.model_dump(mode="json"),
                "created_at": now,
                "published_at": None,
            }
            for event, topic, key in entries
        ]
        if rows:
            self.session.execute(insert(OutboxRow), rows)

    def unpublished(self, limit: int) -> list[OutboxMessage]:
        query = (
            select(
                OutboxRow.id,
                OutboxRow.event_id,
                OutboxRow.topic,
                OutboxRow.key,
                cast(OutboxRow.payload, Text),
                OutboxRow.created_at,
            )
            .where(OutboxRow.published_at.is_(None))
            .order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update()  # rendered on PostgreSQL only; SQLite has one writer anyway
        )
        return [
            # Trusted rows of our own table: no validation, this runs for every event published.
            OutboxMessage.model_construct(
                id=id_,
                event_id=event_id,
                topic=topic,
                key=key,
                payload=payload.encode(),
                created_at=created_at,
                published_at=None,
            )
            for id_, event_id, topic, key, payload, created_at in self.session.execute(query)
        ]

    def mark_published(self, ids: Collection[int]) -> None:
        if ids:
            self.session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(sorted(ids)), OutboxRow.published_at.is_(None))
                .values(published_at=self.clock()),
                execution_options={"synchronize_session": False},
            )

    def get(self, event_id: str) -> OutboxMessage | None:
        row = self.session.scalars(
            select(OutboxRow).where(OutboxRow.event_id == event_id)
        ).one_or_none()
        return None if row is None else _message(row)


def payload_bytes(payload: object) -> bytes:
    """The stored event as compact UTF-8 JSON, byte for byte what `model_dump_json()` wrote."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        event_id=row.event_id,
        topic=row.topic,
        key=row.key,
        payload=payload_bytes(row.payload),
        created_at=row.created_at,
        published_at=row.published_at,
    )
