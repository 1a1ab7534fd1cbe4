"""Rounds (a solving job: status, progress, metrics) and the allocations they commit."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import insert, select

from schemas import Allocation, Metrics, RoundRules
from services.persistence import repository as repo
from services.persistence.errors import NotFound
from services.persistence.orm import AllocationRow, RoundRow
from services.persistence.records import (
    AllocationStatus,
    RoundRecord,
    RoundStatus,
    StoredAllocation,
)
from services.persistence.sql.base import SqlRepository, equals_or_any, in_schools


class SqlRoundRepository(SqlRepository, repo.RoundRepository):
    def add(self, round_: RoundRecord) -> None:
        data = round_.model_dump(exclude={"rules", "metrics"})
        row = RoundRow(
            **data,
            rules=round_.rules.model_dump(mode="json"),
            metrics=None if round_.metrics is None else round_.metrics.model_dump(mode="json"),
            updated_at=self.clock(),
        )
        row.school_ids = list(round_.school_ids)
        row.student_ids = list(round_.student_ids)
        self.session.add(row)
        self.session.flush()  # a duplicate round id is a Conflict here, not at commit

    def get(self, round_id: str) -> RoundRecord | None:
        row = self.session.get(RoundRow, round_id)
        return None if row is None else _round(row)

    def set_status(
        self,
        round_id: str,
        status: RoundStatus,
        *,
        progress: float | None = None,
        message: str | None = None,
        metrics: Metrics | None = None,
    ) -> RoundRecord:
        row = self.session.get(RoundRow, round_id)
        if row is None:
            raise NotFound(f"round {round_id} is unknown")
        now = self.clock()
        changed = _round(row).moved_to(
            status, now, progress=progress, message=message, metrics=metrics
        )
        row.status = changed.status.value
        row.progress = changed.progress
        row.message = changed.message
        row.started_at = changed.started_at
        row.finished_at = changed.finished_at
        if metrics is not None:
            row.metrics = metrics.model_dump(mode="json")
        row.updated_at = now
        return changed

    def find(self, status: RoundStatus | None = None) -> list[RoundRecord]:
        query = (
            select(RoundRow)
            .where(equals_or_any(RoundRow.status, status))
            .order_by(RoundRow.requested_at, RoundRow.round_id)
        )
        return [_round(row) for row in self.session.scalars(query)]


def _round(row: RoundRow) -> RoundRecord:
    return RoundRecord(
        round_id=row.round_id,
        scope=row.scope,
        school_ids=tuple(row.school_ids),
        student_ids=tuple(row.student_ids),
        mode=row.mode,
        matching_mode=row.matching_mode,
        seed=row.seed,
        rules=RoundRules.model_validate(row.rules),
        status=RoundStatus(row.status),
        progress=row.progress,
        message=row.message,
        requested_at=row.requested_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        metrics=None if row.metrics is None else Metrics.model_validate(row.metrics),
    )


class SqlAllocationRepository(SqlRepository, repo.AllocationRepository):
    def add(
        self,
        round_id: str,
        allocations: Iterable[Allocation],
        status: AllocationStatus = AllocationStatus.ACTIVE,
    ) -> int:
        now = self.clock()
        rows = [
            {
                "round_id": round_id,
                "student_id": a.student_id,
                "offer_id": a.offer_id,
                "kind": a.kind.value,
                "level_group": a.group.value,
                "rank": a.rank,
                "pinned": a.pinned,
                "pending_interview": a.pending_interview,
                "risks": [r.value for r in a.risks],
                "status": status.value,
                "reason": "",
                "created_at": now,
                "updated_at": now,
            }
            for a in allocations
        ]
        if rows:
            self.session.execute(insert(AllocationRow), rows)  # one batched INSERT
        return len(rows)

    def find(
        self,
        *,
        round_id: str | None = None,
        student_id: str | None = None,
        offer_id: str | None = None,
        statuses: Collection[AllocationStatus] | None = None,
        school_ids: repo.SchoolIds = None,
        student_ids: Collection[str] | None = None,
        offer_ids: Collection[str] | None = None,
    ) -> list[StoredAllocation]:
        query = in_schools(select(AllocationRow), AllocationRow.student_id, school_ids).where(
            equals_or_any(AllocationRow.round_id, round_id),
            equals_or_any(AllocationRow.student_id, student_id),
            equals_or_any(AllocationRow.offer_id, offer_id),
        )
        if statuses is not None:
            query = query.where(AllocationRow.status.in_(sorted(s.value for s in statuses)))
        if student_ids is not None:  # callers pass batches, well under SQLite's parameter limit
            query = query.where(AllocationRow.student_id.in_(sorted(set(student_ids))))
        if offer_ids is not None:
            query = query.where(AllocationRow.offer_id.in_(sorted(set(offer_ids))))
        query = query.order_by(
            AllocationRow.round_id, AllocationRow.student_id, AllocationRow.offer_id
        )
        return [_allocation(row) for row in self.session.scalars(query)]

    def set_status(
        self,
        round_id: str,
        student_id: str,
        offer_id: str,
        status: AllocationStatus,
        reason: str = "",
    ) -> StoredAllocation:
        row = self.session.scalars(
            select(AllocationRow).where(
                AllocationRow.round_id == round_id,
                AllocationRow.student_id == student_id,
                AllocationRow.offer_id == offer_id,
            )
        ).one_or_none()
        if row is None:
            raise NotFound(f"no allocation of {student_id} to {offer_id} in round {round_id}")
        row.status = status.value
        row.reason = reason
        row.updated_at = self.clock()
        return _allocation(row)


def _allocation(row: AllocationRow) -> StoredAllocation:
    allocation = Allocation.model_validate(
        {
            "student_id": row.student_id,
            "offer_id": row.offer_id,
            "kind": row.kind,
            "group": row.level_group,
            "rank": row.rank,
            "pinned": row.pinned,
            "pending_interview": row.pending_interview,
            "risks": row.risks,
        }
    )
    return StoredAllocation(
        round_id=row.round_id,
        allocation=allocation,
        status=AllocationStatus(row.status),
        reason=row.reason,
        created_at=row.created_at,
    )
