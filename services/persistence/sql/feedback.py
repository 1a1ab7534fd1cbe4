"""What follows a placement besides attendance: interviews, reflections, hosting again."""

from __future__ import annotations

from sqlalchemy import select

from services.persistence import repository as repo
from services.persistence.orm import HostAgainRow, InterviewRow, ReflectionRow
from services.persistence.records import HostAgainRecord, InterviewRecord, ReflectionRecord
from services.persistence.sql.base import SqlRepository, equals_or_any


class SqlFeedbackRepository(SqlRepository, repo.FeedbackRepository):
    def decide_interview(self, decision: InterviewRecord) -> None:
        row = self.session.get(InterviewRow, (decision.student_id, decision.offer_id))
        if row is None:
            row = InterviewRow(student_id=decision.student_id, offer_id=decision.offer_id)
            self.session.add(row)
        row.outcome = decision.outcome
        row.note = decision.note
        row.decided_at = decision.decided_at

    def interviews(
        self, *, offer_id: str | None = None, student_id: str | None = None
    ) -> list[InterviewRecord]:
        query = (
            select(InterviewRow)
            .where(
                equals_or_any(InterviewRow.offer_id, offer_id),
                equals_or_any(InterviewRow.student_id, student_id),
            )
            .order_by(InterviewRow.offer_id, InterviewRow.student_id)
        )
        return [
            InterviewRecord(
                student_id=row.student_id,
                offer_id=row.offer_id,
                outcome="confirmed" if row.outcome == "confirmed" else "declined",
                note=row.note,
                decided_at=row.decided_at,
            )
            for row in self.session.scalars(query)
        ]

    def reflect(self, reflection: ReflectionRecord) -> None:
        row = self.session.get(ReflectionRow, (reflection.student_id, reflection.offer_id))
        if row is None:
            row = ReflectionRow(student_id=reflection.student_id, offer_id=reflection.offer_id)
            self.session.add(row)
        row.text = reflection.text
        row.submitted_at = reflection.submitted_at

    def reflections(
        self, *, student_id: str | None = None, offer_id: str | None = None
    ) -> list[ReflectionRecord]:
        query = (
            select(ReflectionRow)
            .where(
                equals_or_any(ReflectionRow.student_id, student_id),
                equals_or_any(ReflectionRow.offer_id, offer_id),
            )
            .order_by(ReflectionRow.student_id, ReflectionRow.offer_id)
        )
        return [
            ReflectionRecord(
                student_id=row.student_id,
                offer_id=row.offer_id,
                text=row.text,
                submitted_at=row.submitted_at,
            )
            for row in self.session.scalars(query)
        ]

    def answer_host_again(self, answer: HostAgainRecord) -> None:
        row = self.session.get(HostAgainRow, answer.offer_id)
        if row is None:
            row = HostAgainRow(offer_id=answer.offer_id)
            self.session.add(row)
        row.would_host_again = answer.would_host_again
        row.comment = answer.comment
        row.answered_at = answer.answered_at

    def host_again(self, offer_id: str) -> HostAgainRecord | None:
        row = self.session.get(HostAgainRow, offer_id)
        if row is None:
            return None
        return HostAgainRecord(
            offer_id=row.offer_id,
            would_host_again=row.would_host_again,
            comment=row.comment,
            answered_at=row.answered_at,
        )
