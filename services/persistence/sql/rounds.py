"""Rounds (a solving job: status, progress, metrics) and the allocations they commit."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Text, select, tuple_, update

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
from services.persistence.sql.base import RowMemo, SqlRepository, equals_or_any, in_schools
from services.persistence.sql.messaging import append_rows, stored

STATUS_CHUNK = 5_000  # allocations per UPDATE: 15,000 parameters, below SQLite's 32,766
MEMO_ALLOCATIONS = 60_000  # decoded allocations kept: a 10,000-student cluster's twice over


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
        now = stored(self.session, AllocationRow.__table__.c.created_at, self.clock())
        added = 0

        def rows() -> Iterator[tuple[Any, ...]]:  # streamed: a COPY starts with the first
            nonlocal added
            for a in allocations:
                added += 1
                risks = _json([r.value for r in a.risks]) if a.risks else "[]"
                yield (
                    round_id,
                    a.student_id,
                    a.offer_id,
                    a.kind.value,
                    a.group.value,
                    a.rank,
                    a.pinned,
                    a.pending_interview,
                    risks,
                    status.value,
                    "",
                    now,
                    now,
                )

        append_rows(self.session, AllocationRow, _ALLOCATION_COLUMNS, rows())
        return added

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
        query = in_schools(_SELECT_ALLOCATIONS, AllocationRow.student_id, school_ids).where(
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
        # Core rows, not the ORM's, each decoded once while it stays unchanged: a coverage
        # update or a dashboard page reads every allocation in force, again and again.
        self.session.flush()
        rows = self.session.connection().execute(query).all()
        return [_ALLOCATIONS(tuple(row)) for row in rows]

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

    def set_status_many(
        self, keys: Collection[tuple[str, str, str]], status: AllocationStatus, reason: str = ""
    ) -> None:
        wanted = sorted(set(keys))
        now = self.clock()
        for start in range(0, len(wanted), STATUS_CHUNK):
            chunk = wanted[start : start + STATUS_CHUNK]
            changed = self.session.execute(
                update(AllocationRow)
                .where(
                    tuple_(
                        AllocationRow.round_id, AllocationRow.student_id, AllocationRow.offer_id
                    ).in_(chunk)
                )
                .values(status=status.value, reason=reason, updated_at=now),
                execution_options={"synchronize_session": False},
            )
            if cast(CursorResult[Any], changed).rowcount != len(chunk):
                raise NotFound(f"some of {len(chunk)} allocations are not stored")


_ALLOCATION_COLUMNS = (
    "round_id",
    "student_id",
    "offer_id",
    "kind",
    "level_group",
    "rank",
    "pinned",
    "pending_interview",
    "risks",
    "status",
    "reason",
    "created_at",
    "updated_at",
)
_SELECT_ALLOCATIONS = select(
    AllocationRow.round_id,
    AllocationRow.student_id,
    AllocationRow.offer_id,
    AllocationRow.kind,
    AllocationRow.level_group,
    AllocationRow.rank,
    AllocationRow.pinned,
    AllocationRow.pending_interview,
    AllocationRow.risks.cast(Text),  # its JSON text: most are "[]", read without parsing
    AllocationRow.status,
    AllocationRow.reason,
    AllocationRow.created_at,
)


def _json(value: object) -> str:
    """Compact JSON, as the engine's serializer writes a JSON column (see `Database`)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _stored_allocation(row: Sequence[Any]) -> StoredAllocation:
    """A stored allocation from a row of `_SELECT_ALLOCATIONS`, read as plain columns rather
    than ORM objects (a round reads tens of thousands)."""
    round_id, student_id, offer_id, kind, group, rank, pinned, pending, risks = row[:9]
    allocation = Allocation(
        student_id=student_id,
        offer_id=offer_id,
        kind=kind,
        group=group,
        rank=rank,
        pinned=pinned,
        pending_interview=pending,
        risks=() if risks == "[]" else json.loads(risks),
    )
    status, reason, created_at = row[9:]
    return StoredAllocation(
        round_id=round_id,
        allocation=allocation,
        status=status,
        reason=reason,
        created_at=created_at,
    )


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


_ALLOCATIONS = RowMemo(_stored_allocation, MEMO_ALLOCATIONS, key_columns=3)
