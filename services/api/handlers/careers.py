"""Careers teams: import students, watch coverage, run rounds, export allocations, record
attendance and debriefs, see overdue feedback, pin and forbid pairs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

from schemas import Student
from schemas.events import (
    AttendanceRecorded,
    Envelope,
    OverrideRemoved,
    PairForbidden,
    PairPinned,
    RoundRequested,
    StudentRegistered,
)
from services.api.auth import Principal, authorize_round_request, authorize_student
from services.api.context import ApiContext
from services.api.errors import ApiError, Problem, conflict, invalid, not_found
from services.api.imports import FileProblem, read_students
from services.api.models import (
    Accepted,
    AttendanceIn,
    CoverageOut,
    ImportAccepted,
    OverdueFeedback,
    OverrideIn,
    OverrideOut,
    RoundAccepted,
    RoundRequest,
)
from services.persistence import AbstractUnitOfWork, OfferRecord
from services.worker.downstream import coverage_rows
from services.worker.ingest import override_of, pin_problem
from services.worker.risks import IN_FORCE

MAX_IMPORT_BYTES = 10 * 1024 * 1024
FEEDBACK_DUE = dt.timedelta(days=7)  # a debrief is overdue a week after the encounter


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
    return [CoverageOut.from_row(row) for row in rows]


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


def allocations_csv(context: ApiContext, school_id: str, provider_id: str | None = None) -> str:
    """The school's allocations in force (active, or held on a risk), one row each; with
    `provider_id`, only that employer's: the school's roster for it."""
    with context.read() as uow:
        allocations = uow.allocations.find(statuses=IN_FORCE, school_ids=[school_id])
        offers = uow.offers.get_records({a.allocation.offer_id for a in allocations})
        if provider_id is not None:
            allocations = [
                a
                for a in allocations
                if offers[a.allocation.offer_id].offer.provider_id == provider_id
            ]
        students = uow.students.get_many({a.allocation.student_id for a in allocations})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for stored in sorted(allocations, key=lambda s: (s.allocation.student_id, s.round_id)):
        a = stored.allocation
        student = students[a.student_id]
        offer = offers[a.offer_id].offer
        writer.writerow(
            safe_cell(value)
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


def safe_cell(value: str) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# -- attendance, debriefs and overdue feedback -------------------------------------------------


def _student_of_school(
    uow: AbstractUnitOfWork, principal: Principal, school_id: str, student_id: str, field: str
) -> Student:
    """The registered student named by the request, who must be of the school in the URL."""
    student = uow.students.get(student_id)
    if student is None:
        raise not_found(f"student {student_id} is not registered", field)
    authorize_student(principal, student_id, student.school_id, field)
    if student.school_id != school_id:  # an admin naming another school's student
        raise invalid(f"student {student_id} is at school {student.school_id}", field)
    return student


def _publish(context: ApiContext, event: Envelope) -> Accepted:
    context.publisher.publish([event])
    return Accepted(event_id=event.event_id)


def record_attendance(
    context: ApiContext, principal: Principal, school_id: str, body: AttendanceIn
) -> Accepted:
    """A session of a placement: attended or not, hours, debriefed. Checked as the worker
    would: a session of the offer, not in the future, of a student placed in it."""
    now = context.now()
    with context.read() as uow:
        _student_of_school(uow, principal, school_id, body.student_id, "student_id")
        record = uow.offers.get_record(body.offer_id)
        if record is None:
            raise invalid(f"offer {body.offer_id} is unknown", "offer_id")
        placed = uow.allocations.find(student_id=body.student_id, offer_id=body.offer_id)
    days = sorted(s.date for s in record.offer.sessions)
    if body.date not in days:
        listed = ", ".join(str(d) for d in days)
        raise invalid(
            f"offer {body.offer_id} has no session on {body.date} (its sessions: {listed})", "date"
        )
    if body.date > now.date():
        raise conflict(
            f"the session on {body.date} has not taken place yet (today is {now.date()})", "date"
        )
    if not placed:
        raise conflict(
            f"student {body.student_id} was never allocated to offer {body.offer_id}", "offer_id"
        )
    event = AttendanceRecorded(
        student_id=body.student_id,
        offer_id=body.offer_id,
        date=body.date,
        attended=body.attended,
        hours=body.hours,
        debriefed=body.debriefed,
        occurred_at=now,
        source=principal.source,
    )
    return _publish(context, event)


def overdue_feedback(context: ApiContext, school_id: str) -> list[OverdueFeedback]:
    """Encounters (student, offer) attended more than a week ago, by the database clock, with
    no debrief recorded on any of their sessions; the longest overdue first."""
    today = context.now().date()
    with context.read() as uow:
        rows = uow.attendance.find(school_ids=[school_id])
        students = uow.students.get_many({r.student_id for r in rows})
        offers = uow.offers.get_records({r.offer_id for r in rows})
    encounters: dict[tuple[str, str], list[dt.date]] = {}
    hours: dict[tuple[str, str], float] = {}
    debriefed: set[tuple[str, str]] = set()
    for row in rows:
        key = (row.student_id, row.offer_id)
        if row.debriefed:
            debriefed.add(key)
        if row.attended:
            encounters.setdefault(key, []).append(row.date)
            hours[key] = hours.get(key, 0.0) + row.hours
    out = []
    for key, dates in encounters.items():
        last = max(dates)
        if key in debriefed or today - last <= FEEDBACK_DUE:
            continue
        student, offer = students[key[0]], offers[key[1]].offer
        out.append(
            OverdueFeedback(
                student_id=student.student_id,
                student_name=student.name,
                form=student.form,
                offer_id=offer.offer_id,
                offer_title=offer.title,
                provider_name=offer.provider_name,
                last_attended=last,
                days_since=(today - last).days,
                hours=hours[key],
            )
        )
    out.sort(key=lambda o: (-o.days_since, o.student_id, o.offer_id))
    return out


# -- pins and forbidden pairs -----------------------------------------------------------------


def overrides_of(context: ApiContext, school_id: str) -> list[OverrideOut]:
    with context.read() as uow:
        pinned = uow.overrides.pinned([school_id])
        forbidden = uow.overrides.forbidden([school_id])
    out = [OverrideOut(student_id=p.student_id, offer_id=p.offer_id, kind="pinned") for p in pinned]
    out += [
        OverrideOut(student_id=p.student_id, offer_id=p.offer_id, kind="forbidden")
        for p in forbidden
    ]
    out.sort(key=lambda o: (o.student_id, o.offer_id))
    return out


def _pair(
    uow: AbstractUnitOfWork, principal: Principal, school_id: str, student_id: str, offer_id: str
) -> tuple[Student, OfferRecord]:
    student = _student_of_school(uow, principal, school_id, student_id, "student_id")
    record = uow.offers.get_record(offer_id)
    if record is None:
        raise not_found(f"offer {offer_id} is unknown", "offer_id")
    return student, record


def set_override(
    context: ApiContext,
    principal: Principal,
    school_id: str,
    student_id: str,
    offer_id: str,
    body: OverrideIn,
) -> Accepted:
    """Pin or forbid the pair for the next rounds (run one with POST /rounds to apply it)."""
    with context.read() as uow:
        student, record = _pair(uow, principal, school_id, student_id, offer_id)
        problem = pin_problem(uow, student, record) if body.kind == "pinned" else None
    if problem is not None:
        message, field = problem
        raise conflict(message, field)
    now = context.now()
    kind: type[PairPinned] | type[PairForbidden] = (
        PairPinned if body.kind == "pinned" else PairForbidden
    )
    event = kind(student_id=student_id, offer_id=offer_id, occurred_at=now, source=principal.source)
    return _publish(context, event)


def remove_override(
    context: ApiContext, principal: Principal, school_id: str, student_id: str, offer_id: str
) -> Accepted:
    with context.read() as uow:
        _pair(uow, principal, school_id, student_id, offer_id)
        found = override_of(uow, student_id, offer_id)
    if found is None:
        raise not_found(
            f"student {student_id} has no pin or forbid on offer {offer_id}", "offer_id"
        )
    event = OverrideRemoved(
        student_id=student_id,
        offer_id=offer_id,
        occurred_at=context.now(),
        source=principal.source,
    )
    return _publish(context, event)
