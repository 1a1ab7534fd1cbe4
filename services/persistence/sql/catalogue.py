"""The round's inputs: students, offers, preference lists, and the careers team's overrides."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import delete, insert, select

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
from services.persistence.sql.base import SqlRepository, in_schools, upsert

FRESH = {"populate_existing": True}  # rows written by upsert() bypass the identity map
IN_CHUNK = 1000  # ids per IN list, far below SQLite's 32,766 parameters


class SqlStudentRepository(SqlRepository, repo.StudentRepository):
    def add(self, student: Student) -> None:
        self.add_many([student])

    def add_many(self, students: Iterable[Student]) -> None:
        now = self.clock()
        upsert(self.session, StudentRow, [_student_row(s, now) for s in students])

    def get(self, student_id: str) -> Student | None:
        row = self.session.get(StudentRow, student_id, populate_existing=True)
        return None if row is None else _student(row)

    def get_many(self, student_ids: Collection[str]) -> dict[str, Student]:
        out: dict[str, Student] = {}
        ids = sorted(set(student_ids))
        for start in range(0, len(ids), IN_CHUNK):
            query = select(StudentRow).where(
                StudentRow.student_id.in_(ids[start : start + IN_CHUNK])
            )
            for row in self.session.scalars(query, execution_options=FRESH):
                out[row.student_id] = _student(row)
        return out

    def find(self, school_ids: repo.SchoolIds = None) -> list[Student]:
        query = select(StudentRow).order_by(StudentRow.student_id)
        if school_ids is not None:
            query = query.where(StudentRow.school_id.in_(sorted(school_ids)))
        return [_student(row) for row in self.session.scalars(query, execution_options=FRESH)]


def _student_row(student: Student, now: dt.datetime) -> dict[str, Any]:
    row = student.model_dump(mode="json", exclude={"attended"})
    row["date_of_birth"] = student.date_of_birth
    row["prior_encounters"] = [e.model_dump(mode="json") for e in student.attended]
    row["updated_at"] = now
    return row


def _student(row: StudentRow) -> Student:
    return Student.model_validate(
        {
            "student_id": row.student_id,
            "school_id": row.school_id,
            "form": row.form,
            "date_of_birth": row.date_of_birth,
            "subjects": row.subjects,
            "interests": row.interests,
            "academic_band": row.academic_band,
            "parental_consent": row.parental_consent,
            "priority": row.priority,
            "attended": row.prior_encounters,
            "name": row.name,
        }
    )


class SqlOfferRepository(SqlRepository, repo.OfferRepository):
    def add(self, offer: Offer, preference_deadline: dt.datetime | None = None) -> None:
        row = offer.model_dump(mode="json")
        row.update(
            preference_deadline=preference_deadline,
            withdrawn_at=None,
            withdrawal_reason="",
            updated_at=self.clock(),
        )
        # An edit replaces the offer but not its withdrawal.
        upsert(self.session, OfferRow, [row], keep=("withdrawn_at", "withdrawal_reason"))

    def get(self, offer_id: str) -> Offer | None:
        row = self.session.get(OfferRow, offer_id, populate_existing=True)
        return None if row is None else _offer(row)

    def get_record(self, offer_id: str) -> OfferRecord | None:
        row = self.session.get(OfferRow, offer_id, populate_existing=True)
        return None if row is None else _offer_record(row)

    def get_records(self, offer_ids: Collection[str]) -> dict[str, OfferRecord]:
        out: dict[str, OfferRecord] = {}
        ids = sorted(set(offer_ids))
        for start in range(0, len(ids), IN_CHUNK):
            query = select(OfferRow).where(OfferRow.offer_id.in_(ids[start : start + IN_CHUNK]))
            for row in self.session.scalars(query, execution_options=FRESH):
                out[row.offer_id] = _offer_record(row)
        return out

    def withdraw(self, offer_id: str, reason: str = "") -> None:
        row = self.session.get(OfferRow, offer_id, populate_existing=True)
        if row is None:
            raise NotFound(f"offer {offer_id} is unknown")
        if row.withdrawn_at is None:
            row.withdrawn_at = row.updated_at = self.clock()
            row.withdrawal_reason = reason

    def find(self, include_withdrawn: bool = False) -> list[Offer]:
        return [_offer(row) for row in self._rows(include_withdrawn)]

    def records(self, include_withdrawn: bool = True) -> list[OfferRecord]:
        return [_offer_record(row) for row in self._rows(include_withdrawn)]

    def _rows(self, include_withdrawn: bool) -> list[OfferRow]:
        query = select(OfferRow).order_by(OfferRow.offer_id)
        if not include_withdrawn:
            query = query.where(OfferRow.withdrawn_at.is_(None))
        return list(self.session.scalars(query, execution_options=FRESH))


_OFFER_FIELDS = tuple(name for name in Offer.model_fields if name != "offer_id")


def _offer(row: OfferRow) -> Offer:
    data = {name: getattr(row, name) for name in _OFFER_FIELDS}
    return Offer.model_validate({"offer_id": row.offer_id, **data})


def _offer_record(row: OfferRow) -> OfferRecord:
    return OfferRecord(
        offer=_offer(row),
        preference_deadline=row.preference_deadline,
        withdrawn_at=row.withdrawn_at,
        withdrawal_reason=row.withdrawal_reason,
    )


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
        self.session.execute(
            delete(PreferenceRankRow).where(PreferenceRankRow.student_id.in_(sorted(latest)))
        )
        ranks = [
            {"student_id": p.student_id, "rank": rank, "offer_id": offer_id}
            for p in latest.values()
            for rank, offer_id in enumerate(p.ranked, start=1)
        ]
        if ranks:
            self.session.execute(insert(PreferenceRankRow), ranks)

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
