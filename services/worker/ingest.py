"""Ingest: validate a batch of student, offer, preference or attendance events and apply it.

The offers topic also carries providers' host-again answers; the preferences topic a careers
team's pins and forbids; the attendance topic the employer's pre-interview decisions and the
students' reflections.

    outcome = ingest(db.unit_of_work, messages, clock)

A batch commits in one transaction (one per event would cap ingest at a few hundred events a
second on PostgreSQL). Within it, for each message in order:

- bytes that are not a valid event of the topic are dead-lettered with the field and reason;
- an event whose id was applied before is a duplicate and does nothing;
- a valid event that must not be applied (`Rejected`: preferences of an unknown student, an
  ineligible ranking, a passed deadline, an offer withdrawn twice...) is dead-lettered with its
  reason, and nothing of it is written;
- otherwise it is applied, with what follows from it: risk re-checks when an offer or a student
  changes under an allocation, revocations and a re-match round when an offer is withdrawn or a
  student does not show up or is declined after a pre-interview.

A rejection that time may cure (a student or offer not stored yet) is not dead-lettered at
first: the batch is applied without it and the message comes back in `Outcome.retry`, for the
caller to offer again shortly (with `final=True` the last time, when it is dead-lettered).
Should the database refuse a write anyway (a race the checks could not see), the batch is rolled
back and applied one event per transaction, so only the offending event is dead-lettered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from matching.eligibility import ineligibility
from schemas import Student, StudentOffer
from schemas.events import (
    AllocationRevoked,
    AttendanceRecorded,
    DeadLettered,
    Envelope,
    FieldError,
    HostAgainAnswered,
    InterviewDecided,
    OfferSubmitted,
    OfferWithdrawn,
    OverrideRemoved,
    PairForbidden,
    PairPinned,
    PreferencesRanked,
    ReflectionSubmitted,
    RoundRequested,
    StudentRegistered,
)
from schemas.result import RiskCode
from services.persistence import (
    AbstractUnitOfWork,
    AllocationStatus,
    AttendanceRecord,
    Clock,
    Conflict,
    HostAgainRecord,
    InterviewRecord,
    OfferRecord,
    ReflectionRecord,
    StoredAllocation,
    UnitOfWorkFactory,
)
from services.worker.messages import (
    Message,
    Rejected,
    dead_letter,
    decode_or_letter,
    queue,
    queue_dead_letter,
)
from services.worker.risks import IN_FORCE, flag_risk, recheck

SOURCE = "placement-ingest"
INGEST_TOPICS = ("students", "offers", "preferences", "attendance")


@dataclass
class Outcome:
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retry: list[Message] = field(default_factory=list)
    rematches: list[str] = field(default_factory=list)  # round ids requested

    def add(self, other: Outcome) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.dead_lettered += other.dead_lettered
        self.retry += other.retry
        self.rematches += other.rematches


def ingest(
    uow_factory: UnitOfWorkFactory,
    messages: Sequence[Message],
    clock: Clock,
    *,
    final: bool = False,
) -> Outcome:
    """Apply `messages` (all of one ingest topic) as described in the module docstring."""
    decoded = [_decode(m) for m in messages]
    indices = list(range(len(messages)))
    try:
        return _apply(uow_factory, messages, decoded, indices, clock, final)
    except Conflict:
        outcome = Outcome()
        for i in indices:
            try:
                outcome.add(_apply(uow_factory, messages, decoded, [i], clock, final))
            except Conflict as error:
                with uow_factory() as uow:
                    letter = dead_letter(
                        messages[i],
                        f"the database refused it: {error}",
                        original_event_id=_event_id(decoded[i]),
                    )
                    if queue_dead_letter(uow, letter):
                        outcome.dead_lettered += 1
                    uow.commit()
        return outcome


@dataclass(frozen=True)
class _Bad:
    letter: DeadLettered


def _decode(message: Message) -> Envelope | _Bad:
    decoded = decode_or_letter(message)
    return _Bad(decoded) if isinstance(decoded, DeadLettered) else decoded


def _event_id(decoded: Envelope | _Bad) -> str | None:
    return decoded.event_id if isinstance(decoded, Envelope) else decoded.letter.original_event_id


def _apply(
    uow_factory: UnitOfWorkFactory,
    messages: Sequence[Message],
    decoded: Sequence[Envelope | _Bad],
    indices: Sequence[int],
    clock: Clock,
    final: bool,
) -> Outcome:
    if not indices:
        return Outcome()
    topic = messages[indices[0]].topic
    with uow_factory() as uow:
        outcome = Outcome()
        events = [e for e in (decoded[i] for i in indices) if isinstance(e, Envelope)]
        claimed = uow.mark_processed_many([e.event_id for e in events], topic)
        handler = _Handler(uow, clock, events)
        retry: list[int] = []
        for i in indices:
            item = decoded[i]
            if isinstance(item, _Bad):
                handler.flush()  # what the events before it queued goes first
                if queue_dead_letter(uow, item.letter):
                    outcome.dead_lettered += 1
                else:
                    outcome.duplicates += 1
                continue
            if item.event_id not in claimed:
                outcome.duplicates += 1
                continue
            claimed.discard(item.event_id)  # a second copy in this batch is a duplicate too
            try:
                handler.check(item)
            except Rejected as rejected:
                if rejected.retry and not final:
                    retry.append(i)
                    continue
                errors = (FieldError(field=rejected.field, message=str(rejected)),)
                letter = dead_letter(messages[i], str(rejected), errors, item.event_id)
                handler.flush()
                if queue_dead_letter(uow, letter):
                    outcome.dead_lettered += 1
                continue
            handler.apply(item)
            outcome.applied += 1
        if retry:
            # The retried events were claimed above: start again without them, so their ids
            # stay free for the next attempt.
            uow.rollback()
            again = _apply(
                uow_factory,
                messages,
                decoded,
                [i for i in indices if i not in set(retry)],
                clock,
                final,
            )
            again.retry += [messages[i] for i in retry]
            return again
        handler.finish()
        outcome.rematches = handler.rematches
        uow.commit()
    return outcome


class _Handler:
    """Checks and applies the events of one batch inside one unit of work.

    Registrations and rankings are written at the end (`finish`), offer submissions as soon as
    another kind of event follows them (`flush`): each is one statement for the whole run, and
    every other event sees the writes of those before it.
    """

    def __init__(self, uow: AbstractUnitOfWork, clock: Clock, events: Sequence[Envelope]) -> None:
        self.uow = uow
        self.clock = clock
        self.students: list[Student] = []
        self.preferences: list[PreferencesRanked] = []
        self.submitted: dict[str, OfferSubmitted] = {}  # not written yet, in order
        self.rematches: list[str] = []
        # What the checks of preference and attendance events read, fetched at once.
        student_ids: set[str] = set()
        offer_ids: set[str] = set()
        for event in events:
            if isinstance(event, PreferencesRanked):
                student_ids.add(event.preferences.student_id)
                offer_ids.update(event.preferences.ranked)
            elif isinstance(event, _PAIR_EVENTS):
                student_ids.add(event.student_id)
                offer_ids.add(event.offer_id)
        self.known_students = uow.students.get_many(student_ids) if student_ids else {}
        self.known_offers = uow.offers.get_records(offer_ids) if offer_ids else {}
        # Submissions and withdrawals: the offers as stored, and which of them have placements
        # (only those need a risk re-check or a revocation), read once for the whole batch.
        catalogue = {
            e.offer.offer_id if isinstance(e, OfferSubmitted) else e.offer_id
            for e in events
            if isinstance(e, OfferSubmitted | OfferWithdrawn)
        }
        self.catalogue = uow.offers.get_records(catalogue) if catalogue else {}
        self.placed_in = (
            {
                a.allocation.offer_id
                for a in uow.allocations.find(offer_ids=catalogue, statuses=IN_FORCE)
            }
            if catalogue
            else set()
        )

    # -- checks: raise Rejected, write nothing ------------------------------------------------

    def check(self, event: Envelope) -> None:
        if not isinstance(event, OfferSubmitted):
            self.flush()  # its checks may read the offers submitted before it
        match event:
            case OfferSubmitted():
                self._check_submission(event)
            case OfferWithdrawn():
                self._check_withdrawal(event)
            case PreferencesRanked():
                self._check_preferences(event)
            case AttendanceRecorded():
                self._check_attendance(event)
            case PairPinned() | PairForbidden():
                self._check_override(event)
            case OverrideRemoved():
                self._check_removal(event)
            case InterviewDecided():
                self._check_interview(event)
            case ReflectionSubmitted():
                self._check_reflection(event)
            case HostAgainAnswered():
                self._check_host_again(event)

    def _check_submission(self, event: OfferSubmitted) -> None:
        record = self.catalogue.get(event.offer.offer_id)
        if record is not None and record.withdrawn_at is not None:
            raise Rejected(
                f"offer {event.offer.offer_id} was withdrawn on {_day(record.withdrawn_at)}; "
                "a withdrawn offer cannot be edited, submit it again under a new offer_id",
                "offer.offer_id",
            )

    def _check_withdrawal(self, event: OfferWithdrawn) -> None:
        record = self.catalogue.get(event.offer_id)
        if record is None:
            raise Rejected(f"offer {event.offer_id} is unknown: nothing to withdraw", "offer_id")
        if record.withdrawn_at is not None:
            raise Rejected(
                f"offer {event.offer_id} was already withdrawn on {_day(record.withdrawn_at)}",
                "offer_id",
            )

    def _check_preferences(self, event: PreferencesRanked) -> None:
        ranking = event.preferences
        student = self.known_students.get(ranking.student_id)
        if student is None:
            raise Rejected(
                f"student {ranking.student_id} is not registered; register the student first",
                "preferences.student_id",
                retry=True,
            )
        for j, offer_id in enumerate(ranking.ranked):
            where = f"preferences.ranked.{j}"
            record = self.known_offers.get(offer_id)
            if record is None:
                raise Rejected(f"offer {offer_id} is unknown", where, retry=True)
            if record.withdrawn_at is not None:
                raise Rejected(f"offer {offer_id} was withdrawn and cannot be ranked", where)
            deadline = record.preference_deadline
            if deadline is not None and event.occurred_at > deadline:
                raise Rejected(
                    f"the deadline for ranking offer {offer_id} passed at "
                    f"{deadline:%Y-%m-%d %H:%M} UTC",
                    where,
                )
            reasons = ineligibility(student, record.offer)
            if reasons:
                raise Rejected(
                    f"student {student.student_id} is not eligible for offer {offer_id}: "
                    + "; ".join(reasons),
                    where,
                )

    def _check_attendance(self, event: AttendanceRecorded) -> None:
        if event.student_id not in self.known_students:
            raise Rejected(
                f"student {event.student_id} is not registered", "student_id", retry=True
            )
        record = self.known_offers.get(event.offer_id)
        if record is None:
            raise Rejected(f"offer {event.offer_id} is unknown", "offer_id", retry=True)
        if event.date not in {s.date for s in record.offer.sessions}:
            days = ", ".join(str(s.date) for s in record.offer.sessions)
            raise Rejected(
                f"offer {event.offer_id} has no session on {event.date} (its sessions: {days})",
                "date",
            )
        if not self.uow.allocations.find(student_id=event.student_id, offer_id=event.offer_id):
            raise Rejected(
                f"student {event.student_id} was never allocated to offer {event.offer_id}",
                "offer_id",
            )

    def _known_pair(
        self, event: PairPinned | PairForbidden | OverrideRemoved | InterviewDecided
    ) -> tuple[Student, OfferRecord]:
        """The stored student and offer the event names; Rejected (to retry) otherwise."""
        student = self.known_students.get(event.student_id)
        if student is None:
            raise Rejected(
                f"student {event.student_id} is not registered", "student_id", retry=True
            )
        record = self.known_offers.get(event.offer_id)
        if record is None:
            raise Rejected(f"offer {event.offer_id} is unknown", "offer_id", retry=True)
        return student, record

    def _check_override(self, event: PairPinned | PairForbidden) -> None:
        student, record = self._known_pair(event)
        if isinstance(event, PairPinned):
            problem = pin_problem(self.uow, student, record)
            if problem is not None:
                raise Rejected(*problem)

    def _check_removal(self, event: OverrideRemoved) -> None:
        self._known_pair(event)
        if override_of(self.uow, event.student_id, event.offer_id) is None:
            raise Rejected(
                f"student {event.student_id} has no pin or forbid on offer {event.offer_id}",
                "offer_id",
            )

    def _check_interview(self, event: InterviewDecided) -> None:
        student, record = self._known_pair(event)
        problem = interview_problem(self.uow, student.student_id, record)
        if problem is not None:
            raise Rejected(*problem)

    def _check_reflection(self, event: ReflectionSubmitted) -> None:
        if event.student_id not in self.known_students:
            raise Rejected(
                f"student {event.student_id} is not registered", "student_id", retry=True
            )
        if event.offer_id not in self.known_offers:
            raise Rejected(f"offer {event.offer_id} is unknown", "offer_id", retry=True)
        problem = reflection_problem(self.uow, event.student_id, event.offer_id)
        if problem is not None:
            raise Rejected(*problem)

    def _check_host_again(self, event: HostAgainAnswered) -> None:
        record = self.uow.offers.get_record(event.offer_id)
        if record is None:
            raise Rejected(f"offer {event.offer_id} is unknown", "offer_id", retry=True)
        problem = host_again_problem(record, event.occurred_at.date())
        if problem is not None:
            raise Rejected(*problem)

    # -- effects -----------------------------------------------------------------------------

    def apply(self, event: Envelope) -> None:
        if isinstance(event, OfferSubmitted):
            self._submit(event)
            return
        self.flush()
        match event:
            case StudentRegistered():
                self.students.append(event.student)
            case OfferWithdrawn():
                self._withdraw(event)
            case PreferencesRanked():
                self.preferences.append(event)
            case AttendanceRecorded():
                self._attend(event)
            case PairPinned():
                self.uow.overrides.pin(_pair(event))
            case PairForbidden():
                self.uow.overrides.forbid(_pair(event))
            case OverrideRemoved():
                self.uow.overrides.remove(_pair(event))
            case InterviewDecided():
                self._interview(event)
            case ReflectionSubmitted():
                self.uow.feedback.reflect(ReflectionRecord.from_event(event))
            case HostAgainAnswered():
                self.uow.feedback.answer_host_again(HostAgainRecord.from_event(event))

    def _submit(self, event: OfferSubmitted) -> None:
        offer_id = event.offer.offer_id
        if offer_id in self.submitted:
            self.flush()  # each edit is written, and its risks re-checked, in turn
        self.submitted[offer_id] = event
        self.catalogue[offer_id] = OfferRecord(
            offer=event.offer, preference_deadline=event.preference_deadline
        )

    def flush(self) -> None:
        """Write the offers submitted since the last flush, then re-check the risks of the
        placements in them, offer by offer in the order submitted."""
        if not self.submitted:
            return
        submitted = list(self.submitted.values())
        self.submitted = {}
        self.uow.offers.add_many((e.offer, e.preference_deadline) for e in submitted)
        placed = [e.offer.offer_id for e in submitted if e.offer.offer_id in self.placed_in]
        if placed:
            by_offer: dict[str, list[StoredAllocation]] = {}
            for stored in self.uow.allocations.find(offer_ids=placed, statuses=IN_FORCE):
                by_offer.setdefault(stored.allocation.offer_id, []).append(stored)
            recheck(self.uow, [a for offer_id in placed for a in by_offer.get(offer_id, [])])

    def finish(self) -> None:
        """The batched writes, then what follows from them."""
        self.flush()
        if self.students:
            self.uow.students.add_many(self.students)
            ids = {s.student_id for s in self.students}
            recheck(self.uow, self.uow.allocations.find(student_ids=ids, statuses=IN_FORCE))
        if self.preferences:
            self.uow.preferences.add_many(e.preferences for e in self.preferences)

    def _withdraw(self, event: OfferWithdrawn) -> None:
        self.uow.offers.withdraw(event.offer_id, event.reason)
        withdrawn = self.uow.offers.get_record(event.offer_id)
        if withdrawn is not None:  # a later event of this batch must see the withdrawal
            self.catalogue[event.offer_id] = withdrawn
        if event.offer_id not in self.placed_in:
            return  # nobody placed: nothing to revoke or re-match
        detail = f"offer {event.offer_id} was withdrawn" + (
            f": {event.reason}" if event.reason else ""
        )
        affected = self._revoke(
            self.uow.allocations.find(offer_id=event.offer_id, statuses=IN_FORCE),
            detail,
            flag=RiskCode.OFFER_WITHDRAWN,
        )
        self._rematch(event, affected, detail)

    def _attend(self, event: AttendanceRecorded) -> None:
        self.uow.attendance.record(AttendanceRecord.from_event(event))
        if event.attended:
            return
        in_force = self.uow.allocations.find(
            student_id=event.student_id, offer_id=event.offer_id, statuses=IN_FORCE
        )
        detail = f"student {event.student_id} did not attend offer {event.offer_id} on {event.date}"
        affected = self._revoke(in_force, detail)
        self._rematch(event, affected, detail, freed=event.offer_id)

    def _interview(self, event: InterviewDecided) -> None:
        self.uow.feedback.decide_interview(InterviewRecord.from_event(event))
        if event.outcome == "confirmed":
            return
        in_force = self.uow.allocations.find(
            student_id=event.student_id, offer_id=event.offer_id, statuses=IN_FORCE
        )
        detail = (
            f"the provider of offer {event.offer_id} declined student {event.student_id} "
            "after the pre-interview"
        )
        affected = self._revoke(in_force, detail)
        self._rematch(event, affected, detail, freed=event.offer_id)

    def _revoke(
        self, allocations: Sequence[StoredAllocation], reason: str, flag: RiskCode | None = None
    ) -> list[str]:
        affected: list[str] = []
        for stored in allocations:
            a = stored.allocation
            if flag is not None:
                flag_risk(self.uow, a.student_id, a.offer_id, flag, reason, SOURCE)
            self.uow.allocations.set_status(
                stored.round_id, a.student_id, a.offer_id, AllocationStatus.REVOKED, reason
            )
            queue(
                self.uow,
                AllocationRevoked(
                    source=SOURCE,
                    round_id=stored.round_id,
                    student_id=a.student_id,
                    offer_id=a.offer_id,
                    reason=reason,
                ),
            )
            affected.append(a.student_id)
        return affected

    def _rematch(
        self, cause: Envelope, students: Sequence[str], reason: str, freed: str | None = None
    ) -> None:
        """Ask for a re-match of just these students, and of those waiting for the place
        freed at offer `freed` (`_waitlisted`); the round runs on the rounds topic."""
        if not students:
            return
        if freed is not None:
            students = [*students, *self._waitlisted(freed, students)]
        digest = hashlib.sha256(cause.event_id.encode()).hexdigest()[:16]
        round_id = f"rematch-{digest}"
        queue(
            self.uow,
            RoundRequested(
                source=SOURCE,
                round_id=round_id,
                scope="students",
                student_ids=tuple(sorted(set(students))),
                mode="commit",
                reason=reason[:500],
            ),
        )
        self.rematches.append(round_id)

    def _waitlisted(self, offer_id: str, affected: Sequence[str]) -> list[str]:
        """Who a place freed at `offer_id` may go to, besides `affected`: the students who
        ranked it and hold nothing in force in its group. None once it has begun (a begun
        offer takes nobody new) or is withdrawn."""
        record = self.known_offers.get(offer_id)
        if record is None or record.withdrawn or record.offer.first_day <= self.clock().date():
            return []
        ranking = set(self.uow.preferences.students_ranking(offer_id)) - set(affected)
        if not ranking:
            return []
        group = record.offer.kind.group
        held = {
            a.allocation.student_id
            for a in self.uow.allocations.find(student_ids=ranking, statuses=IN_FORCE)
            if a.allocation.group == group
        }
        return sorted(ranking - held)


def _day(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d}"


_PAIR_EVENTS = (
    AttendanceRecorded,
    PairPinned,
    PairForbidden,
    OverrideRemoved,
    InterviewDecided,
    ReflectionSubmitted,
)


def _pair(event: PairPinned | PairForbidden | OverrideRemoved) -> StudentOffer:
    return StudentOffer(student_id=event.student_id, offer_id=event.offer_id)


# -- the checks the API makes too: (message, field) of the problem, or None -------------------

Problem = tuple[str, str]


def override_of(uow: AbstractUnitOfWork, student_id: str, offer_id: str) -> str | None:
    """ "pinned", "forbidden" or None: the careers team's override of the pair."""
    student = uow.students.get(student_id)
    schools = None if student is None else [student.school_id]
    pair = StudentOffer(student_id=student_id, offer_id=offer_id)
    if pair in uow.overrides.pinned(schools):
        return "pinned"
    if pair in uow.overrides.forbidden(schools):
        return "forbidden"
    return None


def pin_problem(uow: AbstractUnitOfWork, student: Student, record: OfferRecord) -> Problem | None:
    """Why the pair cannot be pinned: what would make the next round infeasible (a withdrawn
    or ineligible offer, two pins in one level group or overlapping in time, more pins than
    places)."""
    offer = record.offer
    if record.withdrawn_at is not None:
        return f"offer {offer.offer_id} was withdrawn and cannot be pinned", "offer_id"
    reasons = ineligibility(student, offer)
    if reasons:
        return (
            f"student {student.student_id} cannot take offer {offer.offer_id}: "
            + "; ".join(reasons),
            "offer_id",
        )
    pins = [p for p in uow.overrides.pinned() if p.offer_id != offer.offer_id]
    mine = [p.offer_id for p in pins if p.student_id == student.student_id]
    others = uow.offers.get_records(mine)
    for offer_id in mine:
        other = others[offer_id].offer
        if other.kind.group is offer.kind.group:
            return (
                f"student {student.student_id} is pinned to offer {offer_id} already, of the "
                f"same level group ({offer.kind.group.value}); a student takes one per group",
                "offer_id",
            )
        if offer.clashes_with(other):
            return (
                f"offer {offer.offer_id} overlaps in time with offer {offer_id}, to which "
                f"student {student.student_id} is pinned",
                "offer_id",
            )
    taken = [
        p
        for p in uow.overrides.pinned()
        if p.offer_id == offer.offer_id and p.student_id != student.student_id
    ]
    if len(taken) >= offer.capacity:
        return (
            f"offer {offer.offer_id} has {offer.capacity} place(s), all pinned to other students",
            "offer_id",
        )
    return None


def interview_problem(
    uow: AbstractUnitOfWork, student_id: str, record: OfferRecord
) -> Problem | None:
    """Why the provider cannot decide on this student's pre-interview."""
    offer_id = record.offer.offer_id
    if not record.offer.requires_interview:
        return f"offer {offer_id} has no pre-interview", "offer_id"
    if not uow.allocations.find(student_id=student_id, offer_id=offer_id, statuses=IN_FORCE):
        return (
            f"student {student_id} holds no place in offer {offer_id} to interview for",
            "student_id",
        )
    return None


def reflection_problem(uow: AbstractUnitOfWork, student_id: str, offer_id: str) -> Problem | None:
    """A reflection comes after an encounter the student attended."""
    if not uow.attendance.find(student_id=student_id, offer_id=offer_id, attended=True):
        return (
            f"student {student_id} has no attended session of offer {offer_id} on record; "
            "reflect after the encounter",
            "offer_id",
        )
    return None


def host_again_problem(record: OfferRecord, today: dt.date) -> Problem | None:
    """A provider says whether it would host again once its offer has taken place."""
    offer = record.offer
    if offer.last_day > today:
        return (
            f"offer {offer.offer_id} runs until {offer.last_day}; say whether you would host "
            "again after its last session",
            "offer_id",
        )
    return None
