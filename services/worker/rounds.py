"""Allocation rounds: load a consistent snapshot, solve, then commit or preview.

    record = run_round(uow_factory, event, clock, snapshot=db_snapshot_factory)

A round is idempotent by its id, not by its command's event id: a command redelivered after a
crash finds its round queued or running and runs it again (the engine is deterministic, so the
answer is the same), and one redelivered after the round finished does nothing. Everything the
round publishes goes into the outbox in the transaction that finishes the round, so the relay
publishes all of it or, if the worker dies first, none of it.

What a round decides:
- scope school / cluster / all: every student of those schools. A commit replaces their
  allocations in force: unchanged ones stay as they are (and are not published again), the
  others are revoked (AllocationRevoked) and the new ones made (AllocationMade). Allocations
  with attendance already recorded are kept: an encounter that happened is not undone.
- scope students (a re-match after a withdrawal or a no-show): only the students named, with
  the rules of the latest committed round. Their allocations in force are kept, their revoked
  ones forbidden, and offers that have begun have no places, so only what was lost is replaced
  and nobody else's allocation changes.
- A kept allocation is outside the engine's choice: it counts as an encounter the student has,
  and blocks its level group and clashing offers for that student (see `_around_kept`).
- Places held by students outside the scope, and by kept allocations, come off each offer's
  capacity first; a full offer stays in the instance with no places, so ranks keep their
  meaning.
- A preview publishes its proposal (AllocationProposed) and summary, and commits no allocation.
- Every allocation the commit makes is checked for risks: one with a risk is stored held (the
  risk agent publishes the flags when it sees the allocation).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from matching import solve
from matching.collector import collection_paused
from matching.risk import assess
from schemas import (
    Allocation,
    AttendedEncounter,
    Instance,
    Offer,
    Result,
    RoundRules,
    SolveOptions,
    Student,
    StudentOffer,
)
from schemas.events import (
    AllocationMade,
    AllocationProposed,
    AllocationRevoked,
    RoundCompleted,
    RoundRequested,
)
from services.persistence import (
    AbstractUnitOfWork,
    AllocationStatus,
    Clock,
    RoundRecord,
    RoundStatus,
    StoredAllocation,
    UnitOfWorkFactory,
    load_instance,
)
from services.worker.messages import queue, queue_allocations, queue_many
from services.worker.risks import IN_FORCE

SOURCE = "placement-rounds"
PROGRESS_EVERY_S = 0.25  # at most this often, a running round writes its progress

# Where each phase sits in the round's progress (the solver reports its own 0..1).
LOADED, SOLVED = 0.1, 0.9

RoundProgress = Callable[[RoundRecord], None]


@dataclass(frozen=True)
class _Plan:
    """A round's input and what it must know about allocations outside the engine's view."""

    instance: Instance
    in_force: tuple[StoredAllocation, ...]  # the in-scope students' allocations it may replace
    kept: int  # allocations of in-scope students that stay as they are, outside the engine


def run_round(
    uow_factory: UnitOfWorkFactory,
    event: RoundRequested,
    clock: Clock,
    *,
    snapshot: UnitOfWorkFactory | None = None,
    on_progress: RoundProgress | None = None,
) -> RoundRecord | None:
    """Run the round `event` asks for; None if it had finished already (a redelivery)."""
    record = _start(uow_factory, event)
    if record is None:
        return None
    progress = _Progress(uow_factory, record.round_id, on_progress)
    try:
        # One pause of the cyclic collector for the whole round (see matching/collector.py):
        # loading a cluster builds 100,000 rows and models, which set off a full collection
        # of the worker's heap (0.1 s), and a collection between the solve and the commit
        # would walk the result's 30,000 allocations.
        with collection_paused():
            with (snapshot or uow_factory)() as uow:
                plan = _plan(uow, record, clock)
            progress("loaded", LOADED, force=True)
            # No explanations: the round keeps allocations and metrics, and a student's
            # explanation is computed when a teacher asks for it (services/api).
            result = solve(
                plan.instance,
                SolveOptions(mode=record.matching_mode, seed=record.seed, explain=False),
                lambda stage, done: progress(stage, LOADED + (SOLVED - LOADED) * done),
            )
            progress("committing", SOLVED, force=True)
            return _finish(uow_factory, record, plan, result)
    except Exception as error:  # the round fails, the worker goes on; the reason is recorded
        return _fail(uow_factory, record, error)


def _start(uow_factory: UnitOfWorkFactory, event: RoundRequested) -> RoundRecord | None:
    with uow_factory() as uow:
        record = uow.rounds.get(event.round_id)
        if record is not None and record.status.finished:
            return None
        if record is None:
            # A re-match keeps the rules of the rounds it repairs, not the defaults.
            rules = event.rules or (latest_rules(uow) if event.scope == "students" else None)
            uow.rounds.add(RoundRecord.requested(event, rules))
        record = uow.rounds.set_status(
            event.round_id, RoundStatus.RUNNING, progress=0.0, message="loading the snapshot"
        )
        uow.commit()
    return record


def latest_rules(uow: AbstractUnitOfWork) -> RoundRules:
    """The rules (targets) of the latest committed round, or the defaults before any."""
    done = [r for r in uow.rounds.find(RoundStatus.DONE) if r.mode == "commit"]
    return done[-1].rules if done else RoundRules()


class _Progress:
    """Writes the round's progress in its own short transactions, at most every 0.25 s."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory, round_id: str, listener: RoundProgress | None
    ) -> None:
        self.uow_factory = uow_factory
        self.round_id = round_id
        self.listener = listener
        self.last = 0.0

    def __call__(self, stage: str, fraction: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        with self.uow_factory() as uow:
            record = uow.rounds.set_status(
                self.round_id,
                RoundStatus.RUNNING,
                progress=round(min(max(fraction, 0.0), 1.0), 4),
                message=stage,
            )
            uow.commit()
        if self.listener is not None:
            self.listener(record)


def _plan(uow: AbstractUnitOfWork, record: RoundRecord, clock: Clock) -> _Plan:
    in_force_all = uow.allocations.find(statuses=IN_FORCE)
    if record.scope == "students":
        wanted = set(record.student_ids)
        schools = {s.school_id for s in uow.students.get_many(wanted).values()}
        base = _only_students(load_instance(uow, record.round_id, schools, record.rules), wanted)
    else:
        schools_or_all = None if record.scope == "all" else record.school_ids
        base = load_instance(uow, record.round_id, schools_or_all, record.rules)
    in_scope = {s.student_id for s in base.students}
    in_force = [a for a in in_force_all if a.allocation.student_id in in_scope]
    if record.scope == "students":
        kept = in_force  # a re-match only adds what was lost
        revoked = uow.allocations.find(student_ids=in_scope, statuses=(AllocationStatus.REVOKED,))
        forbidden = {_pair(a.allocation) for a in revoked}
        today = clock().date()
        begun = {o.offer_id for o in base.offers if o.first_day <= today}
    else:
        attended = {
            (row.student_id, row.offer_id)
            for row in uow.attendance.find(school_ids=record.school_ids or None)
        }
        kept = [a for a in in_force if _key(a) in attended]  # what happened is not undone
        forbidden, begun = set(), set()
    # Places held outside the engine's view: students out of scope, and allocations kept.
    kept_keys = {_key(a) for a in kept}
    used = Counter(
        a.allocation.offer_id
        for a in in_force_all
        if a.allocation.student_id not in in_scope or _key(a) in kept_keys
    )
    # A full or begun offer stays in the instance with no places, so ranks keep their meaning
    # and the explanations say it is full.
    offers = [
        _with_capacity(o, 0 if o.offer_id in begun else max(o.capacity - used[o.offer_id], 0))
        for o in base.offers
    ]
    instance = _around_kept(base, offers, kept, forbidden)
    current = tuple(a for a in in_force if _key(a) not in kept_keys)
    return _Plan(instance, current, len(kept))


def _key(stored: StoredAllocation) -> tuple[str, str]:
    return stored.allocation.student_id, stored.allocation.offer_id


def _pair(allocation: Allocation) -> StudentOffer:
    return StudentOffer(student_id=allocation.student_id, offer_id=allocation.offer_id)


def _with_capacity(offer: Offer, capacity: int) -> Offer:
    if capacity == offer.capacity:
        return offer
    return offer.model_copy(update={"capacity": capacity})  # 0 is below the schema's minimum


def _around_kept(
    base: Instance,
    offers: Sequence[Offer],
    kept: Sequence[StoredAllocation],
    forbidden: set[StudentOffer],
) -> Instance:
    """The instance the engine solves when some allocations stay as they are.

    A kept allocation is not the engine's to decide. It counts as an encounter the student has
    (so a re-match still completes the Benchmark 8 pair), and the student may not take another
    offer of its level group or one whose sessions clash with it. Its place is already taken
    off the offer's capacity.
    """
    if not kept and not forbidden:
        # Only capacities changed: the references `base` was validated for still hold.
        return base.model_copy(update={"offers": tuple(offers)})
    by_id = {o.offer_id: o for o in offers}
    held: dict[str, list[Offer]] = {}
    for stored in kept:
        offer = by_id.get(stored.allocation.offer_id)
        if offer is not None:
            held.setdefault(stored.allocation.student_id, []).append(offer)
    students = []
    for student in base.students:
        mine = held.get(student.student_id, [])
        if not mine:
            students.append(student)
            continue
        encounters = tuple(
            AttendedEncounter(kind=o.kind, date=o.first_day)
            for o in mine
            if not _attended(student, o)
        )
        students.append(student.model_copy(update={"attended": (*student.attended, *encounters)}))
        groups = {o.kind.group for o in mine}
        for other in offers:
            if other.kind.group in groups or any(other.clashes_with(o) for o in mine):
                forbidden.add(StudentOffer(student_id=student.student_id, offer_id=other.offer_id))
    key = lambda p: (p.student_id, p.offer_id)  # noqa: E731
    pinned = {p for p in base.pinned if p not in forbidden}
    return Instance.model_validate(
        {
            **dict(base),
            "students": tuple(students),
            "offers": tuple(offers),
            "pinned": tuple(sorted(pinned, key=key)),
            "forbidden": tuple(sorted(forbidden | set(base.forbidden), key=key)),
        }
    )


def _attended(student: Student, offer: Offer) -> bool:
    """Whether the student's record already has this offer's encounter (from attendance)."""
    return any(e.kind is offer.kind and e.date == offer.first_day for e in student.attended)


def _only_students(instance: Instance, wanted: set[str]) -> Instance:
    return instance.model_copy(
        update={
            "students": tuple(s for s in instance.students if s.student_id in wanted),
            "preferences": tuple(p for p in instance.preferences if p.student_id in wanted),
            "pinned": tuple(p for p in instance.pinned if p.student_id in wanted),
            "forbidden": tuple(p for p in instance.forbidden if p.student_id in wanted),
        }
    )


def _finish(
    uow_factory: UnitOfWorkFactory, record: RoundRecord, plan: _Plan, result: Result
) -> RoundRecord | None:
    with uow_factory() as uow:
        current = uow.rounds.get(record.round_id)
        if current is None or current.status.finished:
            return None  # another worker finished it while we solved
        if record.mode == "preview":
            queue_allocations(uow, AllocationProposed, SOURCE, record.round_id, result.allocations)
            made, revoked, kept = len(result.allocations), 0, 0
            message = f"preview: {made} allocations proposed, nothing committed"
        else:
            made, revoked, kept = _commit(uow, record, plan, result)
            message = f"committed: {made} allocations made, {revoked} revoked, {kept} unchanged"
        done = uow.rounds.set_status(
            record.round_id, RoundStatus.DONE, message=message, metrics=result.metrics
        )
        queue(
            uow,
            RoundCompleted(
                source=SOURCE,
                round_id=record.round_id,
                mode=record.mode,
                status="done",
                message=message,
                metrics=result.metrics,
                unmatched=len(result.unmatched),
                made=made,
                revoked=revoked,
            ),
        )
        uow.commit()
    return done


def _commit(
    uow: AbstractUnitOfWork, record: RoundRecord, plan: _Plan, result: Result
) -> tuple[int, int, int]:
    chosen = {(a.student_id, a.offer_id): a for a in result.allocations}
    current = {(a.allocation.student_id, a.allocation.offer_id): a for a in plan.in_force}
    reason = f"replaced by round {record.round_id}"
    replaced = [current[key] for key in sorted(current.keys() - chosen.keys())]
    uow.allocations.set_status_many(
        [(s.round_id, *_key(s)) for s in replaced], AllocationStatus.REVOKED, reason
    )
    queue_many(
        uow,
        (
            AllocationRevoked(
                source=SOURCE,
                round_id=s.round_id,
                student_id=s.allocation.student_id,
                offer_id=s.allocation.offer_id,
                reason=reason,
            )
            for s in replaced
        ),
    )
    new = [chosen[key] for key in sorted(chosen.keys() - current.keys())]
    students = {s.student_id: s for s in plan.instance.students}
    offers = {o.offer_id: o for o in plan.instance.offers}
    risky: list[Allocation] = []

    def safe() -> Iterator[Allocation]:  # assessed as the allocations are written
        for allocation in new:
            if assess(students[allocation.student_id], offers[allocation.offer_id]):
                risky.append(allocation)
            else:
                yield allocation

    uow.allocations.add(record.round_id, safe())
    uow.allocations.add(record.round_id, risky, status=AllocationStatus.HELD)
    queue_allocations(uow, AllocationMade, SOURCE, record.round_id, new)
    unchanged = len(current.keys() & chosen.keys()) + plan.kept
    return len(new), len(current.keys() - chosen.keys()), unchanged


def _fail(uow_factory: UnitOfWorkFactory, record: RoundRecord, error: Exception) -> RoundRecord:
    message = f"{type(error).__name__}: {error}"
    with uow_factory() as uow:
        failed = uow.rounds.set_status(record.round_id, RoundStatus.FAILED, message=message)
        queue(
            uow,
            RoundCompleted(
                source=SOURCE,
                round_id=record.round_id,
                mode=record.mode,
                status="failed",
                message=message,
            ),
        )
        uow.commit()
    return failed
