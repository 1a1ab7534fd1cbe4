"""Students: the offers open to them (and why not the others), their ranking, their places."""

from __future__ import annotations

import datetime as dt

from matching.eligibility import ineligibility
from schemas import PreferenceList, Student
from schemas.events import PreferencesRanked
from services.api.auth import Principal
from services.api.context import ApiContext
from services.api.errors import conflict, invalid, not_found
from services.api.models import Accepted, OfferSummary, Ranking, StudentAllocation, StudentOffers
from services.persistence import AbstractUnitOfWork, OfferRecord
from services.worker.rounds import latest_rules


def _registered(uow: AbstractUnitOfWork, student_id: str) -> Student:
    student = uow.students.get(student_id)
    if student is None:
        raise not_found(f"student {student_id} is not registered", "student_id")
    return student


def _passed(record: OfferRecord, now: dt.datetime) -> bool:
    return record.preference_deadline is not None and now > record.preference_deadline


def offers_for(context: ApiContext, student_id: str) -> StudentOffers:
    """Every open offer: those the student may rank, and the others with the reasons."""
    now = context.now()
    with context.read() as uow:
        student = _registered(uow, student_id)
        records = uow.offers.records(include_withdrawn=False)
    eligible: list[OfferSummary] = []
    ineligible: list[OfferSummary] = []
    for record in records:
        reasons = ineligibility(student, record.offer)
        offer = record.offer
        summary = OfferSummary(
            offer_id=offer.offer_id,
            title=offer.title,
            provider_name=offer.provider_name,
            kind=offer.kind,
            sector=offer.sector,
            district=offer.district,
            period=offer.period,
            sessions=offer.sessions,
            capacity=offer.capacity,
            requires_interview=offer.requires_interview,
            preference_deadline=record.preference_deadline,
            deadline_passed=_passed(record, now),
            reasons=reasons,
        )
        (ineligible if reasons else eligible).append(summary)
    return StudentOffers(student_id=student_id, eligible=eligible, ineligible=ineligible)


def preferences_of(context: ApiContext, student_id: str) -> PreferenceList:
    with context.read() as uow:
        _registered(uow, student_id)
        found = uow.preferences.get(student_id)
    return found or PreferenceList(student_id=student_id)


def rank(context: ApiContext, principal: Principal, student_id: str, ranking: Ranking) -> Accepted:
    """Checks what the worker would refuse (unknown, withdrawn or closed offers, ineligible
    rankings, too many ranks), then publishes the ranking."""
    now = context.now()
    with context.read() as uow:
        student = _registered(uow, student_id)
        records = uow.offers.get_records(ranking.ranked)
        max_ranks = latest_rules(uow).max_ranks
    if len(ranking.ranked) > max_ranks:
        raise invalid(f"{len(ranking.ranked)} offers ranked; at most {max_ranks} count", "ranked")
    for j, offer_id in enumerate(ranking.ranked):
        where = f"ranked.{j}"
        record = records.get(offer_id)
        if record is None:
            raise invalid(f"offer {offer_id} is unknown", where)
        if record.withdrawn_at is not None:
            raise conflict(f"offer {offer_id} was withdrawn and cannot be ranked", where)
        if _passed(record, now):
            assert record.preference_deadline is not None
            raise conflict(
                f"the deadline for ranking offer {offer_id} passed at "
                f"{record.preference_deadline:%Y-%m-%d %H:%M} UTC",
                where,
            )
        reasons = ineligibility(student, record.offer)
        if reasons:
            raise conflict(
                f"student {student_id} is not eligible for offer {offer_id}: " + "; ".join(reasons),
                where,
            )
    event = PreferencesRanked(
        preferences=PreferenceList(student_id=student_id, ranked=ranking.ranked, submitted_at=now),
        occurred_at=now,
        source=principal.source,
    )
    context.publisher.publish([event])
    return Accepted(event_id=event.event_id)


def allocations_for(context: ApiContext, student_id: str) -> list[StudentAllocation]:
    """Every allocation of the student, revoked ones included (with the reason)."""
    with context.read() as uow:
        _registered(uow, student_id)
        allocations = uow.allocations.find(student_id=student_id)
        offers = uow.offers.get_records({a.allocation.offer_id for a in allocations})
    out = []
    for stored in allocations:
        a = stored.allocation
        offer = offers[a.offer_id].offer
        out.append(
            StudentAllocation(
                round_id=stored.round_id,
                offer_id=a.offer_id,
                offer_title=offer.title,
                provider_name=offer.provider_name,
                kind=a.kind,
                sessions=offer.sessions,
                rank=a.rank,
                pending_interview=a.pending_interview,
                status=stored.status,
                reason=stored.reason,
                risks=[r.value for r in a.risks],
            )
        )
    return out
