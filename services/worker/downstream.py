"""The consumers of what the service itself publishes: risk checks and coverage.

- `check_risks` re-checks the allocations of each committed round (its RoundCompleted event,
  or single AllocationMade events) against their students and offers as stored now: risks are
  flagged (the allocation is held) or cleared (released), and RiskFlagged / RiskCleared events
  are queued. Each event is claimed under the consumer's own name, so a redelivery has no
  second effect.
- `Coverage.update` recomputes Benchmark 8/9 coverage of the schools a batch of round,
  allocation, attendance and student events touched, and queues CoverageUpdated for every
  (school, form) whose figures changed, and a CoverageAlert when a school's projected coverage
  is below its target. Coverage events carry state, not changes: repeating one has no effect,
  so this consumer claims no event ids; its memory of what it last published only saves
  repeats.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from matching.coverage import CoverageRow, Placement, coverage
from schemas import Form
from schemas.events import (
    AllocationMade,
    AllocationRevoked,
    AttendanceRecorded,
    CoverageAlert,
    CoverageUpdated,
    DeadLettered,
    Envelope,
    RoundCompleted,
)
from services.persistence import (
    AbstractUnitOfWork,
    Clock,
    UnitOfWorkFactory,
)
from services.worker.messages import (
    Message,
    decode_or_letter,
    queue,
    queue_dead_letter,
    scoped_id,
)
from services.worker.risks import IN_FORCE, RiskChanges, recheck
from services.worker.rounds import latest_rules

SOURCE = "placement-coverage"
STUDENTS = "students"  # the topic StudentRegistered is routed to (services.broker.route)


def _decode_all(
    uow: AbstractUnitOfWork, messages: Sequence[Message], consumer: str
) -> list[Envelope]:
    """The valid events of `messages`; the others are dead-lettered (once)."""
    events: list[Envelope] = []
    for message in messages:
        decoded = decode_or_letter(message, consumer)
        if isinstance(decoded, DeadLettered):
            queue_dead_letter(uow, decoded)
        else:
            events.append(decoded)
    return events


def check_risks(uow_factory: UnitOfWorkFactory, messages: Sequence[Message]) -> RiskChanges:
    """The risk agent's handler: re-check what was allocated.

    It reads the rounds topic, where one RoundCompleted stands for all of a committed round's
    allocations (re-checked with one query, not one message each), and accepts AllocationMade
    events too, one allocation each.
    """
    with uow_factory() as uow:
        events = _decode_all(uow, messages, "risk check")
        made = [e for e in events if isinstance(e, AllocationMade)]
        rounds = [
            e
            for e in events
            if isinstance(e, RoundCompleted) and e.mode == "commit" and e.status == "done"
        ]
        claimed = uow.mark_processed_many(
            [scoped_id("risk", e.event_id) for e in [*made, *rounds]], "allocations"
        )
        pairs = {
            (e.round_id, e.allocation.student_id, e.allocation.offer_id)
            for e in made
            if scoped_id("risk", e.event_id) in claimed
        }
        changes = RiskChanges()
        for event in rounds:
            if scoped_id("risk", event.event_id) in claimed:
                _add(changes, recheck(uow, uow.allocations.find(round_id=event.round_id)))
        if pairs:
            stored = uow.allocations.find(
                student_ids={student for _, student, _ in pairs}, statuses=IN_FORCE
            )
            mine = [
                a
                for a in stored
                if (a.round_id, a.allocation.student_id, a.allocation.offer_id) in pairs
            ]
            _add(changes, recheck(uow, mine))
        uow.commit()
    return changes


def _add(total: RiskChanges, more: RiskChanges) -> None:
    total.flagged += more.flagged
    total.cleared += more.cleared
    total.held += more.held
    total.released += more.released


def _registered_schools(messages: Sequence[Message]) -> set[str]:
    """The schools named by the StudentRegistered events among `messages`, read lightly.

    The ingest agent validates every student event and dead-letters a bad one; coverage needs
    only the school, and recomputes it from what was stored. So a student event is parsed as
    JSON, not validated again (a school's whole registration is thousands of events), and one
    that names no school is skipped: recomputing a school is harmless even if the event that
    named it was refused.
    """
    schools: set[str] = set()
    for message in messages:
        try:
            data = json.loads(message.value or b"")
        except ValueError:
            continue
        if not isinstance(data, dict) or data.get("type") != "student_registered":
            continue
        student = data.get("student")
        school = student.get("school_id") if isinstance(student, dict) else None
        if isinstance(school, str) and school:
            schools.add(school)
    return schools


@dataclass
class Coverage:
    """The coverage agent's handler; keeps what it published last, per (school, form)."""

    clock: Clock
    published: dict[tuple[str, Form], CoverageRow] = field(default_factory=dict)
    alerted: dict[str, int] = field(default_factory=dict)  # school -> projected when alerted

    def update(self, uow_factory: UnitOfWorkFactory, messages: Sequence[Message]) -> int:
        """Recompute the touched schools; returns how many events were queued."""
        alerted = dict(self.alerted)  # adopted only once the alerts are committed
        registered = [m for m in messages if m.topic == STUDENTS]
        others = [m for m in messages if m.topic != STUDENTS]
        with uow_factory() as uow:
            events = _decode_all(uow, others, "coverage")
            schools = self._schools(uow, events)
            if schools is not None:
                schools |= _registered_schools(registered)
            queued, rows = 0, []
            if schools is None or schools:
                rows = self._rows(uow, schools)
                queued = self._queue(uow, rows, alerted)
            uow.commit()
        self.alerted = alerted
        for row in rows:
            self.published[(row.school_id, row.form)] = row
        return queued

    def _schools(self, uow: AbstractUnitOfWork, events: Sequence[Envelope]) -> set[str] | None:
        """The schools the events touched; None for every school (a round over all)."""
        schools: set[str] = set()
        student_ids: set[str] = set()
        for event in events:
            match event:
                case AllocationMade():
                    student_ids.add(event.allocation.student_id)
                case AllocationRevoked() | AttendanceRecorded():
                    student_ids.add(event.student_id)
                case RoundCompleted() if event.mode == "commit":
                    record = uow.rounds.get(event.round_id)
                    if record is None:
                        continue
                    if record.scope == "all":
                        return None
                    if record.scope == "students":
                        student_ids.update(record.student_ids)
                    else:
                        schools.update(record.school_ids)
        if student_ids:
            schools |= {s.school_id for s in uow.students.get_many(student_ids).values()}
        return schools

    def _rows(self, uow: AbstractUnitOfWork, schools: set[str] | None) -> list[CoverageRow]:
        return coverage_rows(uow, schools, self.clock().date())

    def _queue(
        self, uow: AbstractUnitOfWork, rows: list[CoverageRow], alerted: dict[str, int]
    ) -> int:
        queued = 0
        for row in rows:
            if self.published.get((row.school_id, row.form)) == row:
                continue
            queue(
                uow,
                CoverageUpdated(
                    source=SOURCE,
                    school_id=row.school_id,
                    form=row.form,
                    students=row.students,
                    b8_projected=row.b8_projected,
                    b8_achieved=row.b8_achieved,
                    target_pct=row.target_pct,
                    fe_visits=row.fe_visits,
                    fe_interactions=row.fe_interactions,
                    below_target=row.below_target,
                ),
            )
            queued += 1
        for school in sorted({row.school_id for row in rows}):
            mine = [r for r in rows if r.school_id == school]
            students = sum(r.students for r in mine)
            projected = sum(r.b8_projected for r in mine)
            target = mine[0].target_pct
            pct = 100.0 * projected / students if students else 0.0
            if pct >= target:
                alerted.pop(school, None)
                continue
            if alerted.get(school) == projected:
                continue  # alerted at this level already
            shortfall = math.ceil(target * students / 100 - 1e-9) - projected
            queue(
                uow,
                CoverageAlert(
                    source=SOURCE,
                    school_id=school,
                    students=students,
                    b8_projected=projected,
                    projected_pct=round(pct, 2),
                    target_pct=target,
                    shortfall=shortfall,
                    detail=(
                        f"school {school}: {projected} of {students} students ({pct:.1f}%) "
                        f"hold the Benchmark 8 pair, below the {target:g}% target; "
                        f"{shortfall} more need an L1 and an L2/L3 placement"
                    ),
                ),
            )
            alerted[school] = projected
            queued += 1
        return queued


def coverage_rows(
    uow: AbstractUnitOfWork, schools: Collection[str] | None, today: dt.date
) -> list[CoverageRow]:
    """Coverage of these schools (None: all) from the system of record, as of `today`."""
    placements = [
        Placement(student_id=a.allocation.student_id, kind=a.allocation.kind)
        for a in uow.allocations.find(statuses=IN_FORCE, school_ids=schools)
    ]
    attended = uow.attendance.find(school_ids=schools, attended=True)
    # Only the offers attended are read (registrations arrive in batches of thousands).
    offers = uow.offers.get_records({row.offer_id for row in attended}) if attended else {}
    placements += [
        Placement(
            student_id=row.student_id,
            kind=offers[row.offer_id].offer.kind,
            attended=True,
            debriefed=row.debriefed,
            date=row.date,
        )
        for row in attended
    ]
    rules = latest_rules(uow)
    return coverage(
        uow.students.find(schools),
        placements,
        targets=rules.school_targets,
        default_target=rules.target_pct,
        today=today,
    )
