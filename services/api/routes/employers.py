"""Employers and institutions: `/offers` and `/providers/{provider_id}/...`."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.auth import Caller, Context, OfferAccess, ProviderAccess
from services.api.errors import AUTH_RESPONSES, CONFLICT, NOT_FOUND
from services.api.handlers import employers
from services.api.models import Accepted, OfferSubmission, ProviderAllocation, Withdrawal
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
