"""Careers teams: import students, watch coverage, run rounds, export allocations."""

from __future__ import annotations

import csv
import io
import uuid

from schemas import Student
from schemas.events import RoundRequested, StudentRegistered
from services.api.auth import Principal, authorize_round_request
from services.api.context import ApiContext
from services.api.errors import ApiError, Problem, invalid
from services.api.imports import FileProblem, read_students
from services.api.models import CoverageOut, ImportAccepted, RoundAccepted, RoundRequest
from services.worker.downstream import coverage_rows
from services.worker.risks import IN_FORCE

MAX_IMPORT_BYTES = 10 * 1024 * 1024


def import_students(
    context: ApiContext, principal: Principal, school_id: str, data: bytes
) -> ImportAccepted:
    """Register every student of the file, or none: a bad row fails the whole import."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ApiError(413, f"the file is over {MAX_IMPORT_BYTES // 2**20} MiB", "file")
    try:
        parsed = read_students(data, school_id)
    except FileProblem as error:
        raise invalid(str(error), "file") from None
    errors = list(parsed.errors)
    with context.read() as uow:
        known = uow.students.get_many([s.student_id for _, s in parsed.students])
    for line, student in parsed.students:
        stored = known.get(student.student_id)
        if stored is not None and stored.school_id != school_id:
            errors.append(
                Problem(
                    line=line,
                    field="student_id",
                    message=f"student {student.student_id} is registered at another school",
                )
            )
    if errors:
        errors.sort(key=lambda p: (p.line or 0, p.field))
        first = errors[0]
        raise ApiError(
            422,
            f"{len(errors)} problem{'s' if len(errors) > 1 else ''} in the file, nothing was "
            f"imported; first: line {first.line}, {first.field}: {first.message}",
            "file",
            errors=errors,
        )
    now = context.now()
    events = [
        StudentRegistered(student=student, occurred_at=now, source=principal.source)
        for _, student in parsed.students
    ]
    context.publisher.publish(events)
    return ImportAccepted(students=len(events), event_ids=[e.event_id for e in events])


def students_of(context: ApiContext, school_id: str) -> list[Student]:
    with context.read() as uow:
        return uow.students.find([school_id])


def coverage_of(context: ApiContext, school_id: str) -> list[CoverageOut]:
    with context.read() as uow:
        rows = coverage_rows(uow, [school_id], context.now().date())
    return [
        CoverageOut(
            school_id=row.school_id,
            form=row.form,
            students=row.students,
            b8_projected=row.b8_projected,
            b8_achieved=row.b8_achieved,
            projected_pct=round(row.projected_pct, 2),
            achieved_pct=round(row.achieved_pct, 2),
            target_pct=row.target_pct,
            below_target=row.below_target,
            fe_visits=row.fe_visits,
            fe_interactions=row.fe_interactions,
        )
        for row in rows
    ]


def request_round(
    context: ApiContext, principal: Principal, request: RoundRequest
) -> RoundAccepted:
    school_ids = authorize_round_request(principal, request.scope, request.school_ids)
    now = context.now()
    try:
        event = RoundRequested(
            round_id=f"round-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}",
            scope=request.scope,
            school_ids=school_ids,
            mode=request.mode,
            matching_mode=request.matching_mode,
            seed=request.seed,
            rules=request.rules,
            occurred_at=now,
            source=principal.source,
        )
    except ValueError as error:  # the scope and its schools disagree
        message = str(error).split("Value error, ")[-1].strip()
        raise invalid(message, "school_ids") from None
    context.publisher.publish([event])
    return RoundAccepted(
        event_id=event.event_id, round_id=event.round_id, status_url=f"/rounds/{event.round_id}"
    )


EXPORT_COLUMNS = (
    "student_id",
    "student_name",
    "form",
    "offer_id",
    "offer_title",
    "provider_name",
    "kind",
    "first_day",
    "last_day",
    "rank",
    "status",
    "risks",
    "round_id",
)


def allocations_csv(context: ApiContext, school_id: str) -> str:
    """The school's allocations in force (active, or held on a risk), one row each."""
    with context.read() as uow:
        allocations = uow.allocations.find(statuses=IN_FORCE, school_ids=[school_id])
        students = uow.students.get_many({a.allocation.student_id for a in allocations})
        offers = uow.offers.get_records({a.allocation.offer_id for a in allocations})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for stored in sorted(allocations, key=lambda s: (s.allocation.student_id, s.round_id)):
        a = stored.allocation
        student = students[a.student_id]
        offer = offers[a.offer_id].offer
        writer.writerow(
            _safe(value)
            for value in (
                a.student_id,
                student.name or "",
                student.form.value,
                a.offer_id,
                offer.title,
                offer.provider_name,
                a.kind.value,
                offer.first_day.isoformat(),
                offer.last_day.isoformat(),
                "" if a.rank is None else str(a.rank),
                stored.status.value,
                ";".join(r.value for r in a.risks),
                stored.round_id,
            )
        )
    return out.getvalue()


def _safe(value: str) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
