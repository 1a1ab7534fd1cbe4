"""Employers and institutions: `/offers` and `/providers/{provider_id}/...`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from services.api.auth import Caller, Context, OfferAccess, ProviderAccess, StudentId
from services.api.errors import AUTH_RESPONSES, CONFLICT, NOT_FOUND
from services.api.handlers import employers
from services.api.models import (
    Accepted,
    HostAgain,
    InterviewDecision,
    OfferSubmission,
    ProviderAllocation,
    Withdrawal,
)
from services.persistence import OfferRecord

router = APIRouter(tags=["employers"], responses=AUTH_RESPONSES)


@router.post(
    "/offers",
    status_code=202,
    summary="Submit a new offer (L2/L3 need insurance valid on every session)",
    responses=CONFLICT,
)
def submit_offer(caller: Caller, context: Context, body: OfferSubmission) -> Accepted:
    return employers.submit_offer(context, caller, body)


@router.put(
    "/offers/{offer_id}",
    status_code=202,
    summary="Replace an offer (not once withdrawn)",
    responses={**NOT_FOUND, **CONFLICT},
)
def edit_offer(scope: OfferAccess, context: Context, body: OfferSubmission) -> Accepted:
    return employers.edit_offer(context, scope.principal, scope.record, body)


@router.post(
    "/offers/{offer_id}/withdraw",
    status_code=202,
    summary="Withdraw an offer: its students are re-matched",
    responses={**NOT_FOUND, **CONFLICT},
)
def withdraw_offer(
    scope: OfferAccess, context: Context, body: Withdrawal | None = None
) -> Accepted:
    return employers.withdraw_offer(context, scope.principal, scope.record, body or Withdrawal())


@router.get("/providers/{provider_id}/offers", summary="The provider's offers, withdrawn included")
def offers(provider: ProviderAccess, context: Context) -> list[OfferRecord]:
    return employers.offers_of(context, provider.provider_id)


@router.get(
    "/providers/{provider_id}/allocations",
    summary="Students placed in the provider's offers: name and school only",
)
def allocations(provider: ProviderAccess, context: Context) -> list[ProviderAllocation]:
    return employers.allocations_of(context, provider.provider_id)


@router.get(
    "/offers/{offer_id}/roster.csv",
    summary="The offer's roster: each placed student's name and school, contact through the school",
    response_class=Response,
    responses={
        **NOT_FOUND,
        200: {"content": {"text/csv": {}}, "description": "one row per placed student"},
    },
)
def roster_csv(scope: OfferAccess, context: Context) -> Response:
    offer_id = scope.record.offer.offer_id
    return Response(
        employers.roster_csv(context, scope.record),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="roster-{offer_id}.csv"'},
    )


@router.post(
    "/offers/{offer_id}/interviews/{student_id}",
    status_code=202,
    summary="Confirm or decline the pre-interview of a student placed in the offer",
    description="A decline gives the place up: the student is re-matched.",
    responses={**NOT_FOUND, **CONFLICT},
)
def decide_interview(
    scope: OfferAccess, context: Context, student_id: StudentId, body: InterviewDecision
) -> Accepted:
    return employers.decide_interview(context, scope.principal, scope.record, student_id, body)


@router.post(
    "/offers/{offer_id}/host-again",
    status_code=202,
    summary="Say whether you would host this offer again (after its last session)",
    responses={**NOT_FOUND, **CONFLICT},
)
def host_again(scope: OfferAccess, context: Context, body: HostAgain) -> Accepted:
    return employers.host_again(context, scope.principal, scope.record, body)
