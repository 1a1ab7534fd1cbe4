"""Careers teams: `/schools/{school_id}/...` and `/rounds`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import Response

from schemas import Student
from services.api.auth import Caller, Context, OfferId, RoundAccess, SchoolAccess, StudentId
from services.api.errors import AUTH_RESPONSES, CONFLICT, NOT_FOUND, ErrorBody
from services.api.handlers import careers
from services.api.imports import __doc__ as IMPORT_COLUMNS
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
from services.persistence import RoundRecord

router = APIRouter(tags=["careers"], responses=AUTH_RESPONSES)


@router.post(
    "/schools/{school_id}/students/import",
    status_code=202,
    summary="Import the school's students from CSV or XLSX",
    description=IMPORT_COLUMNS or "",
    responses={413: {"model": ErrorBody, "description": "the file is too large"}},
)
def import_students(
    school: SchoolAccess,
    context: Context,
    file: Annotated[UploadFile, File(description="CSV (UTF-8) or XLSX, a header row first")],
) -> ImportAccepted:
    data = file.file.read(careers.MAX_IMPORT_BYTES + 1)
    return careers.import_students(context, school.principal, school.school_id, data)


@router.get("/schools/{school_id}/students", summary="The school's registered students")
def students(school: SchoolAccess, context: Context) -> list[Student]:
    return careers.students_of(context, school.school_id)


@router.get(
    "/schools/{school_id}/coverage",
    summary="Benchmark 8 (projected and achieved) and Benchmark 9 coverage per form",
)
def coverage(school: SchoolAccess, context: Context) -> list[CoverageOut]:
    return careers.coverage_of(context, school.school_id)


@router.get(
    "/schools/{school_id}/allocations.csv",
    summary="The school's allocations in force, as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "one row per allocation"}},
)
def allocations_csv(
    school: SchoolAccess,
    context: Context,
    provider_id: Annotated[
        str | None, Query(description="only this employer's placements: its roster")
    ] = None,
) -> Response:
    name = f"allocations-{school.school_id}" + (f"-{provider_id}" if provider_id else "")
    return Response(
        careers.allocations_csv(context, school.school_id, provider_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.post(
    "/schools/{school_id}/attendance",
    status_code=202,
    summary="Record a session of a placement: attended or not, hours, and the debrief",
    description="A no-show revokes the placement and re-matches the student. A debrief, once "
    "recorded, stays recorded.",
    responses={**NOT_FOUND, **CONFLICT},
)
def record_attendance(school: SchoolAccess, context: Context, body: AttendanceIn) -> Accepted:
    return careers.record_attendance(context, school.principal, school.school_id, body)


@router.get(
    "/schools/{school_id}/feedback/overdue",
    summary="Encounters attended more than a week ago with no debrief recorded",
)
def overdue_feedback(school: SchoolAccess, context: Context) -> list[OverdueFeedback]:
    return careers.overdue_feedback(context, school.school_id)


@router.get(
    "/schools/{school_id}/overrides",
    summary="The school's pinned and forbidden pairs",
)
def overrides(school: SchoolAccess, context: Context) -> list[OverrideOut]:
    return careers.overrides_of(context, school.school_id)


@router.put(
    "/schools/{school_id}/overrides/{student_id}/{offer_id}",
    status_code=202,
    summary="Pin or forbid a pair for the next rounds; re-run with POST /rounds",
    responses={**NOT_FOUND, **CONFLICT},
)
def set_override(
    school: SchoolAccess,
    context: Context,
    student_id: StudentId,
    offer_id: OfferId,
    body: OverrideIn,
) -> Accepted:
    return careers.set_override(
        context, school.principal, school.school_id, student_id, offer_id, body
    )


@router.delete(
    "/schools/{school_id}/overrides/{student_id}/{offer_id}",
    status_code=202,
    summary="Lift the pin or forbid of a pair; re-run with POST /rounds",
    responses=NOT_FOUND,
)
def remove_override(
    school: SchoolAccess, context: Context, student_id: StudentId, offer_id: OfferId
) -> Accepted:
    return careers.remove_override(
        context, school.principal, school.school_id, student_id, offer_id
    )


@router.post(
    "/rounds",
    status_code=202,
    summary="Run an allocation round (a preview unless mode is commit); poll its status_url",
)
def request_round(caller: Caller, context: Context, body: RoundRequest) -> RoundAccepted:
    return careers.request_round(context, caller, body)


@router.get(
    "/rounds/{round_id}",
    summary="A round's status, progress and, once done, its metrics",
    responses=NOT_FOUND,
)
def round_status(record: RoundAccess) -> RoundRecord:
    return record
