"""The web dashboard: its pages (public HTML shells) and the read-only JSON they draw.

The pages hold no data: each loads its figures with `fetch`, sending the bearer token the user
entered once on /dashboard/login (kept in sessionStorage). The JSON routes under `/views` take
the same tokens and tenancy checks as the rest of the API (services/api/auth.py).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from services.api.auth import Caller, Context, ProviderAccess, RoundAccess, SchoolAccess
from services.api.dashboard import pages
from services.api.dashboard.views import (
    CoverageView,
    OffersView,
    RoundSummary,
    UncoveredView,
    coverage_view,
    offers_view,
    round_summary,
    rounds_of_school,
    uncovered_students,
)
from services.api.errors import AUTH_RESPONSES, NOT_FOUND, forbidden, not_found
from services.persistence import RoundRecord

# The JSON views sit under the user group they serve (the tags of services/api/app.py).
router = APIRouter(responses=AUTH_RESPONSES)


class Me(BaseModel):
    token_id: str
    role: Literal["careers", "employer", "student", "admin"]
    tenant: str | None


@router.get("/views/me", tags=["service"], summary="Who the token is for: role and tenant")
def me(caller: Caller) -> Me:
    return Me(token_id=caller.token_id, role=caller.role.value, tenant=caller.tenant)


@router.get(
    "/views/schools/{school_id}/coverage",
    tags=["careers"],
    summary="Benchmark 8/9 coverage per form, school totals, and the fill over time",
)
def coverage(school: SchoolAccess, context: Context) -> CoverageView:
    with context.read() as uow:
        return coverage_view(uow, school.school_id, context.now().date())


@router.get(
    "/views/schools/{school_id}/uncovered",
    tags=["careers"],
    summary="Students without the Benchmark 8 pair: what they lack and why",
)
def uncovered(school: SchoolAccess, context: Context) -> UncoveredView:
    with context.read() as uow:
        return uncovered_students(uow, school.school_id)


@router.get(
    "/views/schools/{school_id}/rounds",
    tags=["careers"],
    summary="The school's rounds, newest first",
)
def rounds(school: SchoolAccess, context: Context) -> list[RoundRecord]:
    with context.read() as uow:
        return rounds_of_school(uow, school.school_id)


@router.get(
    "/views/offers",
    tags=["careers"],
    summary="Open offers with fill rate, demand and risk flags (careers and admin)",
)
def offers(caller: Caller, context: Context) -> OffersView:
    if caller.role.value not in ("careers", "admin"):
        raise forbidden(
            f"this view is for careers and admin tokens; yours is a {caller.role.value} token "
            "(an employer sees /views/providers/{provider_id}/offers)"
        )
    with context.read() as uow:
        return offers_view(uow)


@router.get(
    "/views/providers/{provider_id}/offers",
    tags=["employers"],
    summary="The provider's offers with fill rate, demand and risk flags",
)
def provider_offers(provider: ProviderAccess, context: Context) -> OffersView:
    with context.read() as uow:
        return offers_view(uow, provider.provider_id)


@router.get(
    "/views/rounds/{round_id}",
    tags=["careers"],
    summary="A round's record and, once committed, its students left unplaced, with reasons",
    responses=NOT_FOUND,
)
def round_view(record: RoundAccess, context: Context) -> RoundSummary:
    with context.read() as uow:
        return round_summary(uow, record)


# -- the pages: public shells, no data ---------------------------------------------------------


@router.get("/dashboard", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/", include_in_schema=False, response_class=HTMLResponse)
def start(request: Request) -> Response:
    return pages.render(request, "start")


@router.get("/dashboard/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    path = pages.static_file(name)
    if path is None:
        raise not_found(f"no static file {name}")
    return FileResponse(path, headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/rounds/{round_id}", include_in_schema=False, response_class=HTMLResponse)
def round_page(request: Request, round_id: str) -> Response:
    return pages.render(request, "round", round_id=round_id)


@router.get("/dashboard/{page}", include_in_schema=False, response_class=HTMLResponse)
def page(request: Request, page: str) -> Response:
    if page not in pages.PAGES:
        raise not_found(f"no dashboard page {page}")
    return pages.render(request, page)
