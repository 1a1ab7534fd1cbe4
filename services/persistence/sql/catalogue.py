"""The round's inputs: students, offers, preference lists, and the careers team's overrides."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, func, select

from schemas import Offer, PreferenceList, Student, StudentOffer
from services.persistence import repository as repo
from services.persistence.errors import NotFound
from services.persistence.orm import (
    OfferRow,
    OverrideRow,
    PreferenceListRow,
    PreferenceRankRow,
    StudentRow,
)
from services.persistence.records import OfferRecord
from services.persistence.sql.base import (
    Row,
    RowMemo,
    SqlRepository,
    any_of,
    in_schools,
    insert_many,
    json_text,
    upsert,
)

# Decoded records kept per process (see RowMemo): about 2 KB a student, 5 KB an offer.
MEMO_STUDENTS = 25_000
MEMO_OFFERS = 10_000


def _columns(*columns: Any) -> tuple[ColumnElement[Any], ...]:
    """Columns to select for a RowMemo: JSON ones as their stored text, which is cheap to
    compare and parsed only when the row has changed (JSON null, as SQLAlchemy writes None,
    read as SQL NULL, as a bulk insert writes it)."""
    return tuple(
        func.nullif(cast(c, Text), "null").label(c.key) if c.key in _JSON_COLUMNS else c
        for c in columns
    )


_JSON_COLUMNS = {
    "subjects",
    "interests",
    "prior_encounters",
    "sessions",
    "prerequisites",
    "insurance",
}


class SqlStudentRepository(SqlRepository, repo.StudentRepository):
    def add(self, student: Student) -> None:
        self.add_many([student])

    def add_many(self, students: Iterable[Student]) -> None:
        now = self.clock()
        latest = {s.student_id: s for s in students}  # a later registration wins
        rows = [_student_row(s, now) for s in latest.values()]
        upsert(self.session, StudentRow, rows)
        for student, row in zip(latest.values(), rows, strict=True):
            _STUDENTS.remember(_stored(row, _STUDENT_COLUMNS), student)

    def get(self, student_id: str) -> Student | None:
        return self.get_many([student_id]).get(student_id)

    def get_many(self, student_ids: Collection[str]) -> dict[str, Student]:
        out: dict[str, Student] = {}
        for ids in any_of(self.session, StudentRow.student_id, student_ids):
            students = _STUDENTS.read(self.session, _SELECT_STUDENTS.where(ids))
            out.update((s.student_id, s) for s in students)
        return out

    def find(self, school_ids: repo.SchoolIds = None) -> list[Student]:
        query = _SELECT_STUDENTS.order_by(StudentRow.student_id)
        if school_ids is not None:
            query = query.where(StudentRow.school_id.in_(sorted(school_ids)))
        return _STUDENTS.read(self.session, query)


def _student_row(student: Student, now: dt.datetime) -> dict[str, Any]:
    row = student.model_dump(mode="json", exclude={"attended"})
    row["date_of_birth"] = student.date_of_birth
    row["prior_encounters"] = [e.model_dump(mode="json") for e in student.attended]
    row["updated_at"] = now
    return row


def _stored(row: dict[str, Any], columns: tuple[str, ...]) -> Row:
    """The row as a RowMemo reads it back: JSON columns as their stored text."""
    return tuple(
        json_text(row[c]) if c in _JSON_COLUMNS and row[c] is not None else row[c] for c in columns
    )


_STUDENT_COLUMNS = (
    "student_id",
    "school_id",
    "form",
    "date_of_birth",
    "subjects",
    "interests",
    "academic_band",
    "parental_consent",
    "priority",
    "prior_encounters",
    "name",
)
_SELECT_STUDENTS = select(*_columns(*(getattr(StudentRow, c) for c in _STUDENT_COLUMNS)))


def _student(row: Row) -> Student:
    data = dict(zip(_STUDENT_COLUMNS, row, strict=True))
    for name in ("subjects", "interests", "prior_encounters"):
        data[name] = json.loads(data[name])
    data["attended"] = data.pop("prior_encounters")
    return Student.model_validate(data)


_STUDENTS = RowMemo(_student, MEMO_STUDENTS)


class SqlOfferRepository(SqlRepository, repo.OfferRepository):
    def add(self, offer: Offer, preference_deadline: dt.datetime | None = None) -> None:
        self.add_many([(offer, preference_deadline)])

    def add_many(self, offers: Iterable[tuple[Offer, dt.datetime | None]]) -> None:
        now = self.clock()
        latest = {offer.offer_id: (offer, deadline) for offer, deadline in offers}
        rows = []
        for offer, deadline in latest.values():
            row = offer.model_dump(mode="json")
            row.update(
                preference_deadline=deadline,
                withdrawn_at=None,
                withdrawal_reason="",
                updated_at=now,
            )
            rows.append(row)
        # An edit replaces the offer but not its withdrawal.
        upsert(self.session, OfferRow, rows, keep=("withdrawn_at", "withdrawal_reason"))
        for (offer, deadline), row in zip(latest.values(), rows, strict=True):
            # As read back (in UTC), unless the offer was withdrawn before: then the memo misses.
            utc = None if deadline is None else deadline.astimezone(dt.UTC)
            record = OfferRecord(offer=offer, preference_deadline=utc)
            _OFFERS.remember(_stored(row, _OFFER_COLUMNS), record)

    def get(self, offer_id: str) -> Offer | None:
        record = self.get_record(offer_id)
        return None if record is None else record.offer

    def get_record(self, offer_id: str) -> OfferRecord | None:
        return self.get_records([offer_id]).get(offer_id)

    def get_records(self, offer_ids: Collection[str]) -> dict[str, OfferRecord]:
        out: dict[str, OfferRecord] = {}
        for ids in any_of(self.session, OfferRow.offer_id, offer_ids):
            records = _OFFERS.read(self.session, _SELECT_OFFERS.where(ids))
            out.update((r.offer.offer_id, r) for r in records)
        return out

    def withdraw(self, offer_id: str, reason: str = "") -> None:
        row = self.session.get(OfferRow, offer_id, populate_existing=True)
        if row is None:
            raise NotFound(f"offer {offer_id} is unknown")
        if row.withdrawn_at is None:
            row.withdrawn_at = row.updated_at = self.clock()
            row.withdrawal_reason = reason

    def find(self, include_withdrawn: bool = False) -> list[Offer]:
        return [r.offer for r in self.records(include_withdrawn)]

    def records(self, include_withdrawn: bool = True) -> list[OfferRecord]:
        query = _SELECT_OFFERS.order_by(OfferRow.offer_id)
        if not include_withdrawn:
            query = query.where(OfferRow.withdrawn_at.is_(None))
        return _OFFERS.read(self.session, query)


_OFFER_FIELDS = tuple(name for name in Offer.model_fields if name != "offer_id")
_OFFER_COLUMNS = (
    "offer_id",
    *_OFFER_FIELDS,
    "preference_deadline",
    "withdrawn_at",
    "withdrawal_reason",
)
_SELECT_OFFERS = select(*_columns(*(getattr(OfferRow, c) for c in _OFFER_COLUMNS)))


def _offer_record(row: Row) -> OfferRecord:
    data = dict(zip(_OFFER_COLUMNS, row, strict=True))
    for name in ("sessions", "prerequisites", "insurance"):
        if data[name] is not None:
            data[name] = json.loads(data[name])
    return OfferRecord(
        offer=Offer.model_validate({name: data[name] for name in ("offer_id", *_OFFER_FIELDS)}),
        preference_deadline=data["preference_deadline"],
        withdrawn_at=data["withdrawn_at"],
        withdrawal_reason=data["withdrawal_reason"],
    )


_OFFERS = RowMemo(_offer_record, MEMO_OFFERS)


class SqlPreferenceRepository(SqlRepository, repo.PreferenceRepository):
    def add(self, preferences: PreferenceList) -> None:
        self.add_many([preferences])

    def add_many(self, lists: Iterable[PreferenceList]) -> None:
        latest = {p.student_id: p for p in lists}  # a student's later list wins
        if not latest:
            return
        now = self.clock()
        lists_rows = [
            {"student_id": p.student_id, "submitted_at": p.submitted_at, "updated_at": now}
            for p in latest.values()
        ]
        upsert(self.session, PreferenceListRow, lists_rows)
        # Ranks are written and read as plain rows (never ORM objects), so replacing them needs
        # no identity-map bookkeeping.
        for ids in any_of(self.session, PreferenceRankRow.student_id, latest):
            self.session.execute(delete(PreferenceRankRow).where(ids))
        ranks = [
            {"student_id": p.student_id, "rank": rank, "offer_id": offer_id}
            for p in latest.values()
            for rank, offer_id in enumerate(p.ranked, start=1)
        ]
        insert_many(self.session, PreferenceRankRow, ranks)

    def get(self, student_id: str) -> PreferenceList | None:
        row = self.session.get(PreferenceListRow, student_id, populate_existing=True)
        if row is None:
            return None
        ranked = self.session.scalars(
            select(PreferenceRankRow.offer_id)
            .where(PreferenceRankRow.student_id == student_id)
            .order_by(PreferenceRankRow.rank)
        )
        return PreferenceList(
            student_id=student_id, ranked=tuple(ranked), submitted_at=row.submitted_at
        )

    def find(self, school_ids: repo.SchoolIds = None) -> list[PreferenceList]:
        lists = in_schools(
            select(PreferenceListRow.student_id, PreferenceListRow.submitted_at),
            PreferenceListRow.student_id,
            school_ids,
        )
        ranks = in_schools(
            select(PreferenceRankRow.student_id, PreferenceRankRow.offer_id),
            PreferenceRankRow.student_id,
            school_ids,
        ).order_by(PreferenceRankRow.student_id, PreferenceRankRow.rank)
        ranked: dict[str, list[str]] = {}
        for student_id, offer_id in self.session.execute(ranks):
            ranked.setdefault(student_id, []).append(offer_id)
        return [
            PreferenceList(
                student_id=student_id,
                ranked=tuple(ranked.get(student_id, ())),
                submitted_at=submitted_at,
            )
            for student_id, submitted_at in self.session.execute(
                lists.order_by(PreferenceListRow.student_id)
            )
        ]

    def students_ranking(self, offer_id: str) -> list[str]:
        query = (
            select(PreferenceRankRow.student_id)
            .where(PreferenceRankRow.offer_id == offer_id)
            .order_by(PreferenceRankRow.student_id)
        )
        return list(self.session.scalars(query))


class SqlOverrideRepository(SqlRepository, repo.OverrideRepository):
    def pin(self, pair: StudentOffer) -> None:
        self._set(pair, "pinned")

    def forbid(self, pair: StudentOffer) -> None:
        self._set(pair, "forbidden")

    def remove(self, pair: StudentOffer) -> bool:
        removed = self.session.execute(
            delete(OverrideRow)
            .where(OverrideRow.student_id == pair.student_id, OverrideRow.offer_id == pair.offer_id)
            .returning(OverrideRow.kind)
        ).first()
        return removed is not None

    def pinned(self, school_ids: repo.SchoolIds = None) -> list[StudentOffer]:
        return self._pairs("pinned", school_ids)

    def forbidden(self, school_ids: repo.SchoolIds = None) -> list[StudentOffer]:
        return self._pairs("forbidden", school_ids)

    def _set(self, pair: StudentOffer, kind: str) -> None:
        row = self.session.get(OverrideRow, (pair.student_id, pair.offer_id))
        if row is None:
            row = OverrideRow(student_id=pair.student_id, offer_id=pair.offer_id)
            self.session.add(row)
        row.kind = kind
        row.created_at = self.clock()

    def _pairs(self, kind: str, school_ids: repo.SchoolIds) -> list[StudentOffer]:
        query = in_schools(
            select(OverrideRow.student_id, OverrideRow.offer_id).where(OverrideRow.kind == kind),
            OverrideRow.student_id,
            school_ids,
        ).order_by(OverrideRow.student_id, OverrideRow.offer_id)
        return [StudentOffer(student_id=s, offer_id=o) for s, o in self.session.execute(query)]
