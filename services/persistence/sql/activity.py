"""What happens after allocation: attendance (with debriefs) and risk flags."""

from __future__ import annotations

from sqlalchemy import select

from schemas import RiskCode
from services.persistence import repository as repo
from services.persistence.orm import AttendanceRow, RiskFlagRow
from services.persistence.records import AttendanceRecord, RiskFlagRecord, RiskStatus
from services.persistence.sql.base import SqlRepository, equals_or_any, in_schools


class SqlAttendanceRepository(SqlRepository, repo.AttendanceRepository):
    def record(self, attendance: AttendanceRecord) -> AttendanceRecord:
        key = (attendance.student_id, attendance.offer_id, attendance.date)
        row = self.session.get(AttendanceRow, key)
        stored = attendance.stored_over(None if row is None else _attendance(row))
        if row is None:
            row = AttendanceRow(student_id=key[0], offer_id=key[1], date=key[2])
            self.session.add(row)
        row.attended = stored.attended
        row.hours = stored.hours
        row.debriefed = stored.debriefed
        row.debriefed_at = stored.debriefed_at
        row.recorded_at = stored.recorded_at
        return stored

    def find(
        self,
        *,
        school_ids: repo.SchoolIds = None,
        student_id: str | None = None,
        offer_id: str | None = None,
        attended: bool | None = None,
    ) -> list[AttendanceRecord]:
        query = in_schools(select(AttendanceRow), AttendanceRow.student_id, school_ids).where(
            equals_or_any(AttendanceRow.student_id, student_id),
            equals_or_any(AttendanceRow.offer_id, offer_id),
            equals_or_any(AttendanceRow.attended, attended),
        )
        query = query.order_by(AttendanceRow.student_id, AttendanceRow.offer_id, AttendanceRow.date)
        return [_attendance(row) for row in self.session.scalars(query)]


def _attendance(row: AttendanceRow) -> AttendanceRecord:
    return AttendanceRecord(
        student_id=row.student_id,
        offer_id=row.offer_id,
        date=row.date,
        attended=row.attended,
        hours=row.hours,
        debriefed=row.debriefed,
        recorded_at=row.recorded_at,
        debriefed_at=row.debriefed_at,
    )


class SqlRiskFlagRepository(SqlRepository, repo.RiskFlagRepository):
    def flag(self, student_id: str | None, offer_id: str, code: RiskCode, detail: str) -> bool:
        row = self._row(student_id, offer_id, code)
        now = self.clock()
        if row is None:
            row = RiskFlagRow(student_id=student_id, offer_id=offer_id, code=code.value)
            self.session.add(row)
        elif row.status == RiskStatus.FLAGGED:
            row.detail = detail
            return False
        row.status = RiskStatus.FLAGGED.value
        row.detail = detail
        row.flagged_at = row.updated_at = now
        row.cleared_at = None
        return True

    def clear(self, student_id: str | None, offer_id: str, code: RiskCode) -> bool:
        row = self._row(student_id, offer_id, code)
        if row is None or row.status == RiskStatus.CLEARED:
            return False
        row.status = RiskStatus.CLEARED.value
        row.cleared_at = row.updated_at = self.clock()
        return True

    def get(self, student_id: str | None, offer_id: str, code: RiskCode) -> RiskFlagRecord | None:
        row = self._row(student_id, offer_id, code)
        return None if row is None else _risk(row)

    def find(
        self,
        *,
        offer_id: str | None = None,
        student_id: str | None = None,
        status: RiskStatus | None = None,
    ) -> list[RiskFlagRecord]:
        query = select(RiskFlagRow).where(
            equals_or_any(RiskFlagRow.offer_id, offer_id),
            equals_or_any(RiskFlagRow.student_id, student_id),
            equals_or_any(RiskFlagRow.status, status),
        )
        query = query.order_by(
            RiskFlagRow.offer_id,
            RiskFlagRow.student_id.is_not(None),  # offer-level flags first on every backend
            RiskFlagRow.student_id,
            RiskFlagRow.code,
        )
        return [_risk(row) for row in self.session.scalars(query)]

    def _row(self, student_id: str | None, offer_id: str, code: RiskCode) -> RiskFlagRow | None:
        student = (
            RiskFlagRow.student_id.is_(None)
            if student_id is None
            else RiskFlagRow.student_id == student_id
        )
        query = select(RiskFlagRow).where(
            student, RiskFlagRow.offer_id == offer_id, RiskFlagRow.code == code.value
        )
        return self.session.scalars(query).one_or_none()


def _risk(row: RiskFlagRow) -> RiskFlagRecord:
    return RiskFlagRecord(
        student_id=row.student_id,
        offer_id=row.offer_id,
        code=RiskCode(row.code),
        detail=row.detail,
        status=RiskStatus(row.status),
        flagged_at=row.flagged_at,
        cleared_at=row.cleared_at,
    )
