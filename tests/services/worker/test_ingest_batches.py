"""A batch of offer events has the effects of its events applied one at a time.

Submissions are written together (one statement per run of them), yet every later event of the
batch sees them: a withdrawal, a host-again answer, an edit of a withdrawn offer. Risk re-checks
and dead letters are queued in the order of the events that caused them.

Every test runs on the in-memory fake, SQLite and PostgreSQL (the `uow_factory` fixture); the
reference, each message ingested on its own, runs on a fresh in-memory store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from schemas import Insurance, OfferKind, Prerequisites
from schemas.events import HostAgainAnswered, OfferSubmitted, OfferWithdrawn
from services.persistence import MemoryStore, MemoryUnitOfWork, UnitOfWorkFactory
from services.worker.ingest import Outcome, ingest
from services.worker.messages import Message
from tests import factories as f
from tests.services.conftest import Ticker
from tests.services.worker.outbox import message, queued, seed
from tests.services.worker.test_ingest import counts, place

L2 = OfferKind.WORKPLACE_L2
PHYSICS = Prerequisites(required_subjects=frozenset({"physics"}))
AFTER = dt.datetime(2027, 3, 2, 9, 0, tzinfo=dt.UTC)  # after the offers' session day
INSURED = Insurance(
    insurer="HK Mutual",
    policy_number="P-o2",
    valid_from=dt.date(2026, 9, 1),
    expires=dt.date(2027, 8, 31),
)
VOLATILE = {"event_id", "occurred_at"}  # new on every run


def _world(uow_factory: UnitOfWorkFactory) -> None:
    """s1 placed in L1 offer o1, s2 and s3 in L2 offer o2 (insured); o3 placed nowhere."""
    seed(
        uow_factory,
        [f.student("s1"), f.student("s2"), f.student("s3")],
        [f.offer("o1"), f.offer("o2", L2, capacity=2, insurance=INSURED), f.offer("o3")],
    )
    place(uow_factory, ("s1", "o1"), ("s2", "o2"), ("s3", "o2"))


def _batch() -> list[Message]:
    events = [
        OfferSubmitted(event_id="e0", offer=f.offer("o2", L2, capacity=2, insurance=None)),
        OfferSubmitted(event_id="e1", offer=f.offer("o1", prerequisites=PHYSICS)),
        OfferSubmitted(event_id="e2", offer=f.offer("o3", capacity=3)),
        OfferSubmitted(event_id="e3", offer=f.offer("o2", L2, capacity=2, insurance=INSURED)),
        OfferSubmitted(event_id="e4", offer=f.offer("o4")),
        OfferWithdrawn(event_id="e5", offer_id="o4", reason="cancelled"),
        OfferSubmitted(event_id="e6", offer=f.offer("o4", capacity=2)),
        OfferSubmitted(event_id="e7", offer=f.offer("o5")),
        HostAgainAnswered(event_id="e8", offer_id="o5", would_host_again=True, occurred_at=AFTER),
        OfferSubmitted(event_id="e9", offer=f.offer("o1")),
        OfferWithdrawn(event_id="e10", offer_id="o1", reason="the clinic closed"),
    ]
    messages = [message(event, i) for i, event in enumerate(events)]
    messages.insert(3, Message("offers", b"{not json", "o2", 0, 99))
    return messages


def _effects(uow_factory: UnitOfWorkFactory) -> dict[str, Any]:
    """What the batch left behind, without what differs from run to run (ids, timestamps)."""
    with uow_factory() as uow:
        offers = {
            r.offer.offer_id: (r.offer, r.withdrawn_at is not None, r.withdrawal_reason)
            for r in uow.offers.records()
        }
        allocations = [
            (a.round_id, a.allocation.student_id, a.allocation.offer_id, a.status, a.reason)
            for a in uow.allocations.find()
        ]
        risks = [(r.student_id, r.offer_id, r.code, r.status) for r in uow.risks.find()]
        answer = uow.feedback.host_again("o5")
    outbox = [
        (topic, key, {k: v for k, v in payload.items() if k not in VOLATILE})
        for topic, key, payload in queued(uow_factory)
    ]
    return {
        "offers": offers,
        "allocations": allocations,
        "risks": risks,
        "host_again": None if answer is None else answer.would_host_again,
        "outbox": outbox,
    }


def _one_at_a_time(messages: Sequence[Message]) -> tuple[Outcome, dict[str, Any]]:
    store, clock = MemoryStore(), Ticker()

    def factory() -> MemoryUnitOfWork:
        return MemoryUnitOfWork(store, clock)

    _world(factory)
    outcome = Outcome()
    for m in messages:
        outcome.add(ingest(factory, [m], clock))
    return outcome, _effects(factory)


def test_a_batch_of_offer_events_has_the_effects_of_its_events_one_at_a_time(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    _world(uow_factory)
    messages = _batch()

    outcome = ingest(uow_factory, messages, clock)

    expected_outcome, expected = _one_at_a_time(messages)
    assert counts(outcome) == counts(expected_outcome) == (10, 0, 2, 0)
    assert outcome.rematches == expected_outcome.rematches != []
    assert _effects(uow_factory) == expected


def test_a_batch_of_offer_events_queues_what_follows_in_event_order(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    _world(uow_factory)

    ingest(uow_factory, _batch(), clock)

    got = [
        (payload["type"], payload.get("student_id") or payload.get("original_event_id"))
        for _, _, payload in queued(uow_factory)
    ]
    assert got == [
        # e0: o2 uninsured, both placements flagged
        ("risk_flagged", "s2"),
        ("risk_flagged", "s3"),
        # e1: o1 needs physics, s1 has none
        ("risk_flagged", "s1"),
        # the bytes that are not an event
        ("dead_lettered", None),
        # e3: o2 insured again
        ("risk_cleared", "s2"),
        ("risk_cleared", "s3"),
        # e6: o4 was withdrawn by e5 in this batch
        ("dead_lettered", "e6"),
        # e9: o1 without the prerequisite; e10: o1 withdrawn, its placement revoked
        ("risk_cleared", "s1"),
        ("risk_flagged", "s1"),
        ("allocation_revoked", "s1"),
        ("round_requested", None),
    ]


def test_an_offer_submitted_and_withdrawn_in_one_batch_stays_withdrawn(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    submitted = OfferSubmitted(event_id="a", offer=f.offer("o1", capacity=4))
    withdrawn = OfferWithdrawn(event_id="b", offer_id="o1", reason="cancelled")

    outcome = ingest(uow_factory, [message(submitted, 0), message(withdrawn, 1)], clock)

    assert counts(outcome) == (2, 0, 0, 0)
    with uow_factory() as uow:
        record = uow.offers.get_record("o1")
    assert record is not None
    assert (record.offer.capacity, record.withdrawn, record.withdrawal_reason) == (
        4,
        True,
        "cancelled",
    )


def test_the_last_of_several_submissions_of_an_offer_in_one_batch_is_stored(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    deadline = dt.datetime(2027, 2, 1, 9, 0, tzinfo=dt.UTC)
    edits = [
        OfferSubmitted(event_id=f"e{n}", offer=f.offer("o1", capacity=n), preference_deadline=d)
        for n, d in ((1, None), (2, deadline), (3, None), (4, deadline))
    ]

    outcome = ingest(uow_factory, [message(e, i) for i, e in enumerate(edits)], clock)

    assert counts(outcome) == (4, 0, 0, 0)
    with uow_factory() as uow:
        record = uow.offers.get_record("o1")
    assert record is not None
    assert (record.offer.capacity, record.preference_deadline) == (4, deadline)


def test_each_edit_of_a_placed_offer_in_one_batch_rechecks_its_placements(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    _world(uow_factory)
    uninsured = OfferSubmitted(event_id="a", offer=f.offer("o2", L2, capacity=2, insurance=None))
    insured = OfferSubmitted(event_id="b", offer=f.offer("o2", L2, capacity=2, insurance=INSURED))

    ingest(uow_factory, [message(uninsured, 0), message(insured, 1)], clock)

    assert [(p["type"], p["student_id"]) for _, _, p in queued(uow_factory)] == [
        ("risk_flagged", "s2"),
        ("risk_flagged", "s3"),
        ("risk_cleared", "s2"),
        ("risk_cleared", "s3"),
    ]
