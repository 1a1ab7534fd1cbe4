"""Students (and their school's careers team): `/students/{student_id}/...`."""

from __future__ import annotations

from fastapi import APIRouter

from schemas import PreferenceList
from services.api.auth import Context, StudentAccess
from services.api.errors import AUTH_RESPONSES, CONFLICT, NOT_FOUND
from services.api.handlers import students
from services.api.models import Accepted, Ranking, Reflection, StudentAllocation, StudentOffers
from services.persistence import ReflectionRecord

router = APIRouter(tags=["students"], responses={**AUTH_RESPONSES, **NOT_FOUND})


@router.get(
    "/students/{student_id}/offers",
    summary="Open offers: those the student may rank, and the others with the reasons",
)
def offers(scope: StudentAccess, context: Context) -> StudentOffers:
    return students.offers_for(context, scope.student_id)


@router.get("/students/{student_id}/preferences", summary="The student's current ranking")
def preferences(scope: StudentAccess, context: Context) -> PreferenceList:
    return students.preferences_of(context, scope.student_id)


@router.put(
    "/students/{student_id}/preferences",
    status_code=202,
    summary="Rank offers, best first (before each offer's deadline, eligible offers only)",
    responses=CONFLICT,
)
def rank(scope: StudentAccess, context: Context, body: Ranking) -> Accepted:
    return students.rank(context, scope.principal, scope.student_id, body)


@router.get(
    "/students/{student_id}/allocations",
    summary="The student's allocations, revoked ones with the reason, each with its explanation",
)
def allocations(scope: StudentAccess, context: Context) -> list[StudentAllocation]:
    return students.allocations_for(context, scope.student_id)


@router.post(
    "/students/{student_id}/reflections",
    status_code=202,
    summary="Reflect on an encounter the student attended (a later one replaces it)",
    responses=CONFLICT,
)
def reflect(scope: StudentAccess, context: Context, body: Reflection) -> Accepted:
    return students.reflect(context, scope.principal, scope.student_id, body)


@router.get("/students/{student_id}/reflections", summary="The student's reflections")
def reflections(scope: StudentAccess, context: Context) -> list[ReflectionRecord]:
    return students.reflections_of(context, scope.student_id)
