"""Students: the offers open to them (and why not the others), their ranking, their places
with the explanation, and their reflections after an encounter."""

from __future__ import annotations

import datetime as dt

from matching.eligibility import ineligibility
from schemas import PreferenceList, Student, StudentOffer
from schemas.events import PreferencesRanked, ReflectionSubmitted
from services.api.auth import Principal
from services.api.context import ApiContext
from services.api.errors import conflict, invalid, not_found
from services.api.models import (
    Accepted,
    Explanation,
    HigherChoice,
    OfferSummary,
    Ranking,
    Reflection,
    StudentAllocation,
    StudentOffers,
)
from services.persistence import (
    AbstractUnitOfWork,
    OfferRecord,
    ReflectionRecord,
    StoredAllocation,
)
from services.worker.ingest import reflection_problem
from services.worker.risks import IN_FORCE
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
    """Every allocation of the student, revoked ones included (with the reason), each with its
    explanation: the rank, and why no higher-ranked offer of the same level group was given."""
    with context.read() as uow:
        student = _registered(uow, student_id)
        allocations = uow.allocations.find(student_id=student_id)
        ranking = uow.preferences.get(student_id) or PreferenceList(student_id=student_id)
        wanted = {a.allocation.offer_id for a in allocations} | set(ranking.ranked)
        offers = uow.offers.get_records(wanted)
        taken = {
            offer_id: [
                a
                for a in uow.allocations.find(offer_id=offer_id, statuses=IN_FORCE)
                if a.allocation.student_id != student_id
            ]
            for offer_id in ranking.ranked
        }
        forbidden = set(uow.overrides.forbidden([student.school_id]))
        decided = {i.offer_id: i.outcome for i in uow.feedback.interviews(student_id=student_id)}
    facts = _Facts(student, ranking, offers, taken, forbidden, allocations)
    out = []
    for stored in allocations:
        a = stored.allocation
        offer = offers[a.offer_id].offer
        interview = None
        if offer.requires_interview:
            interview = decided.get(a.offer_id, "pending")
        out.append(
            StudentAllocation(
                round_id=stored.round_id,
                offer_id=a.offer_id,
                offer_title=offer.title,
                provider_name=offer.provider_name,
                kind=a.kind,
                sessions=offer.sessions,
                rank=a.rank,
                pending_interview=a.pending_interview and interview == "pending",
                status=stored.status,
                reason=stored.reason,
                risks=[r.value for r in a.risks],
                interview=interview,
                explanation=facts.explain(stored),
            )
        )
    return out


class _Facts:
    """What the explanations are computed from, read at once: the student's current ranking,
    the offers, the other students' places in force and the pairs ruled out."""

    def __init__(
        self,
        student: Student,
        ranking: PreferenceList,
        offers: dict[str, OfferRecord],
        taken: dict[str, list[StoredAllocation]],
        forbidden: set[StudentOffer],
        allocations: list[StoredAllocation],
    ) -> None:
        self.student = student
        self.ranking = ranking
        self.offers = offers
        self.taken = taken
        self.forbidden = forbidden
        self.mine = [a for a in allocations if a.status in IN_FORCE]

    def explain(self, stored: StoredAllocation) -> Explanation:
        a = stored.allocation
        ranked = self.ranking.ranked
        if a.pinned:
            summary = "pinned by your school's careers team"
            return Explanation(rank=a.rank, first_choice=a.rank == 1, summary=summary)
        if a.rank is None:
            return Explanation(
                rank=None,
                first_choice=False,
                summary="not one of your ranked offers: the round placed you in an offer open "
                "to you, in your interest sectors, so that you get this kind of encounter",
            )
        if a.rank == 1:
            return Explanation(rank=1, first_choice=True, summary="your first choice")
        above = ranked[: ranked.index(a.offer_id)] if a.offer_id in ranked else ranked[: a.rank - 1]
        group = a.kind.group
        higher = [
            HigherChoice(
                offer_id=offer_id,
                rank=ranked.index(offer_id) + 1,
                title=self.offers[offer_id].offer.title,
                reasons=self._why_not(offer_id, stored),
            )
            for offer_id in above
            if offer_id in self.offers and self.offers[offer_id].offer.kind.group is group
        ]
        summary = f"your choice {a.rank}"
        if higher:
            summary += "; your higher choices of this kind: " + "; ".join(
                f"{h.offer_id} ({h.reasons[0]})" for h in higher
            )
        else:
            summary += "; you ranked no other offer of this kind higher"
        return Explanation(rank=a.rank, first_choice=False, summary=summary, higher_choices=higher)

    def _why_not(self, offer_id: str, placed: StoredAllocation) -> list[str]:
        record = self.offers[offer_id]
        offer = record.offer
        reasons: list[str] = []
        if record.withdrawn_at is not None:
            reasons.append(f"withdrawn by the provider on {record.withdrawn_at:%Y-%m-%d}")
        reasons += ineligibility(self.student, offer)
        pair = StudentOffer(student_id=self.student.student_id, offer_id=offer_id)
        if pair in self.forbidden:
            reasons.append("your school's careers team ruled this pair out")
        others = len(self.taken.get(offer_id, []))
        if others >= offer.capacity:
            reasons.append(f"full: its {offer.capacity} place(s) went to other students")
        for mine in self.mine:
            other = self.offers.get(mine.allocation.offer_id)
            if mine is placed or other is None:
                continue
            if offer.clashes_with(other.offer):
                reasons.append(f"overlaps in time with your placement in {other.offer.offer_id}")
        if not reasons:
            reasons.append(
                f"{others} of its {offer.capacity} place(s) are taken now; the round weighs "
                "completing more students' Benchmark 8 pairs and placing more students above "
                "ranks, and places may have freed up since it ran"
            )
        return reasons


def reflect(
    context: ApiContext, principal: Principal, student_id: str, body: Reflection
) -> Accepted:
    """A reflection on an encounter the student attended (a later one replaces it)."""
    with context.read() as uow:
        _registered(uow, student_id)
        if uow.offers.get_record(body.offer_id) is None:
            raise invalid(f"offer {body.offer_id} is unknown", "offer_id")
        problem = reflection_problem(uow, student_id, body.offer_id)
    if problem is not None:
        message, field = problem
        raise conflict(message, field)
    event = ReflectionSubmitted(
        student_id=student_id,
        offer_id=body.offer_id,
        text=body.text,
        occurred_at=context.now(),
        source=principal.source,
    )
    context.publisher.publish([event])
    return Accepted(event_id=event.event_id)


def reflections_of(context: ApiContext, student_id: str) -> list[ReflectionRecord]:
    with context.read() as uow:
        _registered(uow, student_id)
        return uow.feedback.reflections(student_id=student_id)
