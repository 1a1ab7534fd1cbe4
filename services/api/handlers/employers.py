"""Employers and institutions: submit, edit and withdraw offers; see who is placed with them;
decide on pre-interviews; say whether they would host again."""

from __future__ import annotations

import csv
import datetime as dt
import io

from matching.eligibility import insurance_problem
from schemas import Offer
from schemas.events import HostAgainAnswered, InterviewDecided, OfferSubmitted, OfferWithdrawn
from services.api.auth import Principal, authorize_provider
from services.api.context import ApiContext
from services.api.errors import conflict, invalid, not_found
from services.api.handlers.careers import safe_cell
from services.api.models import (
    Accepted,
    HostAgain,
    InterviewDecision,
    OfferSubmission,
    ProviderAllocation,
    Withdrawal,
)
from services.persistence import OfferRecord
from services.worker.ingest import host_again_problem, interview_problem
from services.worker.risks import IN_FORCE


def submit_offer(context: ApiContext, principal: Principal, body: OfferSubmission) -> Accepted:
    """A new offer; 409 if its id is taken (edit it with PUT)."""
    authorize_provider(principal, body.provider_id)
    offer = body.as_offer()
    now = context.now()
    check_offer(offer, body.preference_deadline, now)
    with context.read() as uow:
        existing = uow.offers.get_record(offer.offer_id)
    if existing is not None:
        raise conflict(
            f"offer {offer.offer_id} exists already; edit it with PUT /offers/{offer.offer_id}",
            "offer_id",
        )
    return _publish_submission(context, principal, offer, body.preference_deadline, now)


def edit_offer(
    context: ApiContext, principal: Principal, record: OfferRecord, body: OfferSubmission
) -> Accepted:
    """Replace a stored offer (`record`, which the caller may edit)."""
    if body.offer_id != record.offer.offer_id:
        raise invalid(
            f"is {body.offer_id}, but the URL names offer {record.offer.offer_id}", "offer_id"
        )
    authorize_provider(principal, body.provider_id)
    if record.withdrawn_at is not None:
        raise conflict(
            f"offer {body.offer_id} was withdrawn on {record.withdrawn_at:%Y-%m-%d}; submit it "
            "again under a new offer_id",
            "offer_id",
        )
    offer = body.as_offer()
    now = context.now()
    check_offer(offer, body.preference_deadline, now)
    return _publish_submission(context, principal, offer, body.preference_deadline, now)


def withdraw_offer(
    context: ApiContext, principal: Principal, record: OfferRecord, body: Withdrawal
) -> Accepted:
    if record.withdrawn_at is not None:
        raise conflict(
            f"offer {record.offer.offer_id} was already withdrawn on "
            f"{record.withdrawn_at:%Y-%m-%d}",
            "offer_id",
        )
    event = OfferWithdrawn(
        offer_id=record.offer.offer_id,
        reason=body.reason,
        occurred_at=context.now(),
        source=principal.source,
    )
    context.publisher.publish([event])
    return Accepted(event_id=event.event_id)


def check_offer(offer: Offer, deadline: dt.datetime | None, now: dt.datetime) -> None:
    """What the schema cannot know: insurance valid on every session (L2/L3) and not expired,
    and a ranking deadline before the first session."""
    today = now.date()
    if offer.kind.needs_insurance and offer.insurance is None:
        raise invalid(
            f"a {offer.kind.value} offer needs insurance cover on every session date", "insurance"
        )
    cover = offer.insurance
    if cover is not None and cover.expires < today:
        raise invalid(f"the insurance expired on {cover.expires}", "insurance.expires")
    problem = insurance_problem(offer)
    if problem is not None:
        assert cover is not None
        field = "insurance.expires" if offer.last_day > cover.expires else "insurance.valid_from"
        raise invalid(problem, field)
    if deadline is not None:
        first = dt.datetime.combine(offer.first_day, dt.time(0, 0), tzinfo=dt.UTC)
        if deadline > first:
            raise invalid(
                f"{deadline:%Y-%m-%d %H:%M} is after the first session ({offer.first_day}); "
                "students must rank before it begins",
                "preference_deadline",
            )


def _publish_submission(
    context: ApiContext,
    principal: Principal,
    offer: Offer,
    deadline: dt.datetime | None,
    now: dt.datetime,
) -> Accepted:
    event = OfferSubmitted(
        offer=offer, preference_deadline=deadline, occurred_at=now, source=principal.source
    )
    context.publisher.publish([event])
    return Accepted(event_id=event.event_id)


def offers_of(context: ApiContext, provider_id: str) -> list[OfferRecord]:
    with context.read() as uow:
        return [r for r in uow.offers.records() if r.offer.provider_id == provider_id]


def allocations_of(context: ApiContext, provider_id: str) -> list[ProviderAllocation]:
    """Students placed in the provider's offers: name and school, nothing else."""
    with context.read() as uow:
        offers = {
            r.offer.offer_id: r.offer
            for r in uow.offers.records()
            if r.offer.provider_id == provider_id
        }
        allocations = [
            stored
            for offer_id in sorted(offers)
            for stored in uow.allocations.find(offer_id=offer_id, statuses=IN_FORCE)
        ]
        students = uow.students.get_many({s.allocation.student_id for s in allocations})
    out = []
    for stored in allocations:
        offer = offers[stored.allocation.offer_id]
        student = students[stored.allocation.student_id]
        out.append(
            ProviderAllocation(
                offer_id=offer.offer_id,
                offer_title=offer.title,
                first_day=offer.first_day,
                student_name=student.name or "(name not given; ask the school)",
                school_id=student.school_id,
                status=stored.status,
            )
        )
    out.sort(key=lambda a: (a.offer_id, a.school_id, a.student_name))
    return out


ROSTER_COLUMNS = (
    "offer_id",
    "offer_title",
    "first_day",
    "last_day",
    "student_id",
    "student_name",
    "school_id",
    "contact",
    "interview",
    "status",
)


def roster_csv(context: ApiContext, record: OfferRecord) -> str:
    """The students placed in the offer (in force): name and school, and the school's careers
    team as the contact. Nothing else of theirs; the student id is the reference the interview
    route takes."""
    offer = record.offer
    with context.read() as uow:
        placed = uow.allocations.find(offer_id=offer.offer_id, statuses=IN_FORCE)
        students = uow.students.get_many({s.allocation.student_id for s in placed})
        decided = {
            i.student_id: i.outcome for i in uow.feedback.interviews(offer_id=offer.offer_id)
        }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ROSTER_COLUMNS)
    rows = []
    for stored in placed:
        student = students[stored.allocation.student_id]
        interview = ""
        if offer.requires_interview:
            interview = decided.get(student.student_id, "pending")
        rows.append(
            (
                offer.offer_id,
                offer.title,
                offer.first_day.isoformat(),
                offer.last_day.isoformat(),
                student.student_id,
                student.name or "(name not given; ask the school)",
                student.school_id,
                f"through the careers team of school {student.school_id}",
                interview,
                stored.status.value,
            )
        )
    for row in sorted(rows, key=lambda r: (r[6], r[5], r[4])):
        writer.writerow(safe_cell(value) for value in row)
    return out.getvalue()


def decide_interview(
    context: ApiContext,
    principal: Principal,
    record: OfferRecord,
    student_id: str,
    body: InterviewDecision,
) -> Accepted:
    """Confirm or decline the pre-interview of a student placed in the offer; a decline gives
    the place up and the worker re-matches the student."""
    with context.read() as uow:
        if uow.students.get(student_id) is None:
            raise not_found(f"student {student_id} is not registered", "student_id")
        problem = interview_problem(uow, student_id, record)
    if problem is not None:
        message, field = problem
        raise conflict(message, field)
    event = InterviewDecided(
        student_id=student_id,
        offer_id=record.offer.offer_id,
        outcome=body.outcome,
        note=body.note,
        occurred_at=context.now(),
        source=principal.source,
    )
    context.publisher.publish([event])
    return Accepted(event_id=event.event_id)


def host_again(
    context: ApiContext, principal: Principal, record: OfferRecord, body: HostAgain
) -> Accepted:
    """Would the provider host this offer again? Asked once its last session has passed."""
    now = context.now()
    problem = host_again_problem(record, now.date())
    if problem is not None:
        message, field = problem
        raise conflict(message, field)
    event = HostAgainAnswered(
        offer_id=record.offer.offer_id,
        would_host_again=body.would_host_again,
        comment=body.comment,
        occurred_at=now,
        source=principal.source,
    )
    context.publisher.publish([event])
    return Accepted(event_id=event.event_id)
