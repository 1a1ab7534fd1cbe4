"""Ingest handlers, without Kafka: messages in, repository state and outbox out.

Every test runs on the in-memory fake, SQLite and PostgreSQL (the `uow_factory` fixture).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest

from schemas import Insurance, OfferKind, Prerequisites, RiskCode, StudentOffer
from schemas.entities import Offer, PreferenceList
from schemas.events import (
    TOPIC_ADAPTERS,
    AttendanceRecorded,
    Envelope,
    HostAgainAnswered,
    InterviewDecided,
    OfferSubmitted,
    OfferWithdrawn,
    OverrideRemoved,
    PairForbidden,
    PairPinned,
    PreferencesRanked,
    ReflectionSubmitted,
    StudentRegistered,
)
from schemas.result import Allocation
from services.persistence import (
    AllocationStatus,
    Conflict,
    MemoryStore,
    MemoryUnitOfWork,
    RiskStatus,
    RoundRecord,
    UnitOfWorkFactory,
)
from services.persistence.memory import MemoryPreferenceRepository
from services.worker.ingest import Outcome, ingest
from services.worker.messages import Message
from services.worker.rounds import run_round
from tests import factories as f
from tests.services.conftest import Ticker
from tests.services.worker.outbox import dead_letters, drain, message, queued, seed, statuses

DAY = f.DAY  # the offers' session day, 2027-03-01
DEADLINE = dt.datetime(2027, 2, 1, 9, 0, tzinfo=dt.UTC)
PHYSICS = Prerequisites(required_subjects=frozenset({"physics"}))
L2, L3 = OfferKind.WORKPLACE_L2, OfferKind.WORKPLACE_L3
ACTIVE, HELD, REVOKED = AllocationStatus.ACTIVE, AllocationStatus.HELD, AllocationStatus.REVOKED


# -- helpers ------------------------------------------------------------------------------


def place(uow_factory: UnitOfWorkFactory, *pairs: tuple[str, str], round_id: str = "r1") -> None:
    """Store active allocations of (student, offer) pairs, as committed round `round_id`."""
    with uow_factory() as uow:
        if uow.rounds.get(round_id) is None:
            uow.rounds.add(RoundRecord(round_id=round_id, mode="commit"))
        allocations = []
        for student_id, offer_id in pairs:
            offer = uow.offers.get(offer_id)
            assert offer is not None
            allocations.append(
                Allocation(
                    student_id=student_id,
                    offer_id=offer_id,
                    kind=offer.kind,
                    group=offer.kind.group,
                    rank=1,
                )
            )
        uow.allocations.add(round_id, allocations)
        uow.commit()


def rejection(uow_factory: UnitOfWorkFactory) -> tuple[str, str, str]:
    """The one dead letter queued: (its field, its reason, the original event id)."""
    (letter,) = dead_letters(uow_factory)
    (error,) = letter["errors"]
    assert error["message"] == letter["reason"]
    return error["field"], letter["reason"], letter["original_event_id"]


def counts(outcome: Outcome) -> tuple[int, int, int, int]:
    return outcome.applied, outcome.duplicates, outcome.dead_lettered, len(outcome.retry)


def rematch_id(event_id: str) -> str:
    return f"rematch-{hashlib.sha256(event_id.encode()).hexdigest()[:16]}"


def insured(offer_id: str) -> Insurance:
    return Insurance(
        insurer="HK Mutual",
        policy_number=f"P-{offer_id}",
        valid_from=dt.date(2026, 9, 1),
        expires=dt.date(2027, 8, 31),
    )


# -- bad bytes ----------------------------------------------------------------------------


def test_malformed_json_is_dead_lettered_with_its_bytes_and_the_rest_of_the_batch_applied(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    bad = Message("students", b"{not json", "s9", 0, 1)
    batch = [
        message(StudentRegistered(student=f.student("s1")), 0),
        bad,
        message(StudentRegistered(student=f.student("s2")), 2),
    ]

    outcome = ingest(uow_factory, batch, clock)

    assert counts(outcome) == (2, 0, 1, 0)
    [(topic, key, letter)] = queued(uow_factory)
    assert (topic, key) == ("dead-letter", "s9")
    assert letter["type"] == "dead_lettered"
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("students", 0, 1)
    assert letter["reason"] == "Invalid JSON: key must be a string at line 1 column 2"
    assert letter["errors"] == [
        {"field": "", "message": "Invalid JSON: key must be a string at line 1 column 2"}
    ]
    assert letter["original"] == "{not json"
    assert base64.b64decode(letter["original_base64"]) == b"{not json"
    assert letter["original_event_id"] is None
    with uow_factory() as uow:
        assert sorted(uow.students.get_many({"s1", "s2", "s9"})) == ["s1", "s2"]


def test_a_schema_invalid_event_is_dead_lettered_naming_the_field_and_the_reason(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    event = StudentRegistered(event_id="bad-form", student=f.student("s1"))
    data = json.loads(event.model_dump_json())
    data["student"]["form"] = "S7"
    value = json.dumps(data).encode()
    batch = [
        Message("students", value, "s1", 0, 0),
        message(StudentRegistered(student=f.student("s2")), 1),
    ]

    outcome = ingest(uow_factory, batch, clock)

    assert counts(outcome) == (1, 0, 1, 0)
    [letter] = dead_letters(uow_factory)
    assert letter["errors"] == [
        {"field": "student.form", "message": "Input should be 'S4', 'S5' or 'S6'"}
    ]
    assert letter["reason"] == "student.form: Input should be 'S4', 'S5' or 'S6'"
    assert letter["original_event_id"] == "bad-form"
    assert base64.b64decode(letter["original_base64"]) == value
    with uow_factory() as uow:
        assert sorted(uow.students.get_many({"s1", "s2"})) == ["s2"]


def test_a_redelivered_poison_message_is_not_dead_lettered_twice(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    bad = Message("students", b"\xff\xfe not an event", "s1", 2, 40)
    ingest(uow_factory, [bad], clock)

    again = ingest(uow_factory, [bad], clock)

    assert counts(again) == (0, 1, 0, 0)
    assert len(dead_letters(uow_factory)) == 1


# -- duplicates ---------------------------------------------------------------------------


def test_a_duplicate_event_id_changes_nothing(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    ingest(uow_factory, [message(StudentRegistered(event_id="e1", student=f.student("s1")))], clock)
    changed = StudentRegistered(event_id="e1", student=f.student("s1", school_id="sch2"))

    outcome = ingest(uow_factory, [message(changed, 1)], clock)

    assert counts(outcome) == (0, 1, 0, 0)
    with uow_factory() as uow:
        stored = uow.students.get("s1")
        assert stored is not None and stored.school_id == "sch1"
    assert queued(uow_factory) == []


def test_a_duplicate_event_id_within_one_batch_is_applied_once(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    first = StudentRegistered(event_id="e1", student=f.student("s1"))
    copy = StudentRegistered(event_id="e1", student=f.student("s1", school_id="sch2"))

    outcome = ingest(uow_factory, [message(first, 0), message(copy, 1)], clock)

    assert counts(outcome) == (1, 1, 0, 0)
    with uow_factory() as uow:
        stored = uow.students.get("s1")
        assert stored is not None and stored.school_id == "sch1"


# -- records not stored yet ----------------------------------------------------------------


def test_preferences_of_an_unknown_student_come_back_to_be_retried(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1")])
    unknown = message(PreferencesRanked(preferences=f.prefs("s9", "o1")), 0)
    known = message(PreferencesRanked(preferences=f.prefs("s1", "o1")), 1)

    outcome = ingest(uow_factory, [unknown, known], clock)

    assert counts(outcome) == (1, 0, 0, 1)
    assert outcome.retry == [unknown]
    assert queued(uow_factory) == []
    with uow_factory() as uow:
        assert [p.student_id for p in uow.preferences.find()] == ["s1"]


def test_a_retried_ranking_is_applied_once_its_student_is_registered(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [], [f.offer("o1")])
    ranking = message(PreferencesRanked(preferences=f.prefs("s9", "o1")))
    retry = ingest(uow_factory, [ranking], clock).retry
    seed(uow_factory, [f.student("s9")])

    outcome = ingest(uow_factory, retry, clock)

    assert counts(outcome) == (1, 0, 0, 0)
    with uow_factory() as uow:
        assert uow.preferences.get("s9") == f.prefs("s9", "o1")


def test_preferences_of_an_unknown_student_are_dead_lettered_on_the_final_try(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [], [f.offer("o1")])
    event = PreferencesRanked(event_id="p1", preferences=f.prefs("s9", "o1"))

    outcome = ingest(uow_factory, [message(event)], clock, final=True)

    assert counts(outcome) == (0, 0, 1, 0)
    assert rejection(uow_factory) == (
        "preferences.student_id",
        "student s9 is not registered; register the student first",
        "p1",
    )
    with uow_factory() as uow:
        assert uow.preferences.find() == []


# -- a write the database refuses ------------------------------------------------------------


class _RefusingPreferences(MemoryPreferenceRepository):
    """Refuses s2's list, as a foreign key would after a race the checks could not see."""

    def add(self, preferences: PreferenceList) -> None:
        if preferences.student_id == "s2":
            raise Conflict("preference_ranks: foreign key violation")
        super().add(preferences)


class _RefusingUnitOfWork(MemoryUnitOfWork):
    def __init__(self, store: MemoryStore, clock: Ticker) -> None:
        super().__init__(store, clock)
        self.preferences = _RefusingPreferences(self)


def test_a_write_the_database_refuses_dead_letters_only_that_event(clock: Ticker) -> None:
    store = MemoryStore()

    def uow_factory() -> _RefusingUnitOfWork:
        return _RefusingUnitOfWork(store, clock)

    seed(uow_factory, [f.student(s) for s in ("s1", "s2", "s3")], [f.offer("o1", capacity=3)])
    batch = [
        message(PreferencesRanked(event_id=f"p-{s}", preferences=f.prefs(s, "o1")), i)
        for i, s in enumerate(("s1", "s2", "s3"))
    ]

    outcome = ingest(uow_factory, batch, clock)

    assert counts(outcome) == (2, 0, 1, 0)
    assert rejection(uow_factory) == (
        "",
        "the database refused it: preference_ranks: foreign key violation",
        "p-s2",
    )
    with uow_factory() as uow:
        assert [p.student_id for p in uow.preferences.find()] == ["s1", "s3"]


# -- rankings that must not be applied -----------------------------------------------------


def test_ranking_a_withdrawn_offer_is_rejected_naming_the_offer(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1"), f.offer("o2")])
    ingest(uow_factory, [message(OfferWithdrawn(offer_id="o2"))], clock)
    event = PreferencesRanked(event_id="p1", preferences=f.prefs("s1", "o1", "o2"))

    outcome = ingest(uow_factory, [message(event)], clock)

    assert counts(outcome) == (0, 0, 1, 0)
    assert rejection(uow_factory) == (
        "preferences.ranked.1",
        "offer o2 was withdrawn and cannot be ranked",
        "p1",
    )
    with uow_factory() as uow:
        assert uow.preferences.get("s1") is None


@pytest.mark.parametrize(
    ("offer", "deadline", "event", "reason"),
    [
        pytest.param(
            f.offer("o1", prerequisites=PHYSICS),
            None,
            PreferencesRanked(event_id="p1", preferences=f.prefs("s1", "o1")),
            "student s1 is not eligible for offer o1: missing subject physics for offer o1",
            id="the-student-is-not-eligible-for",
        ),
        pytest.param(
            f.offer("o1"),
            DEADLINE,
            PreferencesRanked(
                event_id="p1",
                occurred_at=DEADLINE + dt.timedelta(seconds=1),
                preferences=f.prefs("s1", "o1"),
            ),
            "the deadline for ranking offer o1 passed at 2027-02-01 09:00 UTC",
            id="after-its-preference-deadline",
        ),
    ],
)
def test_ranking_an_offer_the_student_may_not_rank_is_rejected_naming_why(
    uow_factory: UnitOfWorkFactory,
    clock: Ticker,
    offer: Offer,
    deadline: dt.datetime | None,
    event: PreferencesRanked,
    reason: str,
) -> None:
    seed(uow_factory, [f.student("s1")], [offer], deadline=deadline)

    outcome = ingest(uow_factory, [message(event)], clock)

    assert counts(outcome) == (0, 0, 1, 0)
    assert rejection(uow_factory) == ("preferences.ranked.0", reason, "p1")
    with uow_factory() as uow:
        assert uow.preferences.get("s1") is None


def test_ranking_an_offer_at_its_preference_deadline_is_stored(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1")], deadline=DEADLINE)
    event = PreferencesRanked(occurred_at=DEADLINE, preferences=f.prefs("s1", "o1"))

    outcome = ingest(uow_factory, [message(event)], clock)

    assert counts(outcome) == (1, 0, 0, 0)
    with uow_factory() as uow:
        assert uow.preferences.get("s1") == f.prefs("s1", "o1")


# -- offers ---------------------------------------------------------------------------------


def test_an_offer_withdrawn_twice_is_rejected(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [], [f.offer("o1")])
    ingest(uow_factory, [message(OfferWithdrawn(offer_id="o1", reason="closed"))], clock)
    with uow_factory() as uow:
        record = uow.offers.get_record("o1")
        assert record is not None and record.withdrawn_at is not None
        withdrawn_at = record.withdrawn_at

    again = OfferWithdrawn(event_id="w2", offer_id="o1", reason="changed my mind")
    outcome = ingest(uow_factory, [message(again, 1)], clock)

    assert counts(outcome) == (0, 0, 1, 0)
    assert rejection(uow_factory) == (
        "offer_id",
        f"offer o1 was already withdrawn on {withdrawn_at:%Y-%m-%d}",
        "w2",
    )
    with uow_factory() as uow:
        record = uow.offers.get_record("o1")
        assert record is not None
        assert (record.withdrawn_at, record.withdrawal_reason) == (withdrawn_at, "closed")


def test_an_offer_withdrawn_twice_in_one_batch_is_rejected_the_second_time(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [], [f.offer("o1")])
    first = OfferWithdrawn(event_id="w1", offer_id="o1", reason="closed")
    second = OfferWithdrawn(event_id="w2", offer_id="o1", reason="changed my mind")

    outcome = ingest(uow_factory, [message(first, 0), message(second, 1)], clock)

    assert counts(outcome) == (1, 0, 1, 0)
    field, reason, event_id = rejection(uow_factory)
    assert (field, event_id) == ("offer_id", "w2")
    assert reason.startswith("offer o1 was already withdrawn on ")
    with uow_factory() as uow:
        record = uow.offers.get_record("o1")
        assert record is not None and record.withdrawal_reason == "closed"


def test_withdrawing_an_unknown_offer_is_rejected(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    ingest(uow_factory, [message(OfferWithdrawn(event_id="w1", offer_id="o9"))], clock)

    assert rejection(uow_factory) == ("offer_id", "offer o9 is unknown: nothing to withdraw", "w1")


def test_editing_a_withdrawn_offer_is_rejected(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [], [f.offer("o1", capacity=1)])
    ingest(uow_factory, [message(OfferWithdrawn(offer_id="o1"))], clock)
    with uow_factory() as uow:
        record = uow.offers.get_record("o1")
        assert record is not None and record.withdrawn_at is not None
        day = f"{record.withdrawn_at:%Y-%m-%d}"
    edit = OfferSubmitted(event_id="edit", offer=f.offer("o1", capacity=5))

    outcome = ingest(uow_factory, [message(edit, 1)], clock)

    assert counts(outcome) == (0, 0, 1, 0)
    assert rejection(uow_factory) == (
        "offer.offer_id",
        f"offer o1 was withdrawn on {day}; a withdrawn offer cannot be edited, "
        "submit it again under a new offer_id",
        "edit",
    )
    with uow_factory() as uow:
        offer = uow.offers.get("o1")
        assert offer is not None and offer.capacity == 1


def _withdrawn_with_two_placements(uow_factory: UnitOfWorkFactory, clock: Ticker) -> Outcome:
    """s1 and s2 placed in L2 offer o2 and s3 in L1 offer o1; then o2 is withdrawn (event w1)."""
    seed(
        uow_factory,
        [f.student("s1"), f.student("s2"), f.student("s3")],
        [f.offer("o1"), f.offer("o2", L2, capacity=2)],
    )
    place(uow_factory, ("s1", "o2"), ("s2", "o2"), ("s3", "o1"))
    withdrawal = OfferWithdrawn(event_id="w1", offer_id="o2", reason="the clinic closed")
    return ingest(uow_factory, [message(withdrawal)], clock)


def test_withdrawing_an_offer_revokes_its_allocations_and_no_others(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    outcome = _withdrawn_with_two_placements(uow_factory, clock)

    assert counts(outcome) == (1, 0, 0, 0)
    assert statuses(uow_factory) == {
        ("r1", "s1", "o2"): REVOKED,
        ("r1", "s2", "o2"): REVOKED,
        ("r1", "s3", "o1"): ACTIVE,
    }
    revoked = [
        (key, p["round_id"], p["student_id"], p["offer_id"], p["reason"])
        for topic, key, p in queued(uow_factory)
        if p["type"] == "allocation_revoked"
    ]
    reason = "offer o2 was withdrawn: the clinic closed"
    assert revoked == [
        ("s1", "r1", "s1", "o2", reason),
        ("s2", "r1", "s2", "o2", reason),
    ]


def test_withdrawing_an_offer_flags_offer_withdrawn_on_each_placement(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    _withdrawn_with_two_placements(uow_factory, clock)

    reason = "offer o2 was withdrawn: the clinic closed"
    flagged = [
        (topic, key, p["student_id"], p["offer_id"], p["code"], p["detail"])
        for topic, key, p in queued(uow_factory)
        if p["type"] == "risk_flagged"
    ]
    assert flagged == [
        ("risks", "o2", "s1", "o2", "offer_withdrawn", reason),
        ("risks", "o2", "s2", "o2", "offer_withdrawn", reason),
    ]
    with uow_factory() as uow:
        flags = uow.risks.find(offer_id="o2", status=RiskStatus.FLAGGED)
        assert [(r.student_id, r.code) for r in flags] == [
            ("s1", RiskCode.OFFER_WITHDRAWN),
            ("s2", RiskCode.OFFER_WITHDRAWN),
        ]


def test_withdrawing_an_offer_requests_a_rematch_of_the_affected_students(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    outcome = _withdrawn_with_two_placements(uow_factory, clock)

    requests = [(t, k, p) for t, k, p in queued(uow_factory) if p["type"] == "round_requested"]
    [(topic, key, request)] = requests
    assert outcome.rematches == [rematch_id("w1")]
    assert (topic, key, request["round_id"]) == ("rounds", rematch_id("w1"), rematch_id("w1"))
    assert request["scope"] == "students"
    assert request["student_ids"] == ["s1", "s2"]
    assert request["school_ids"] == []
    assert request["mode"] == "commit"
    assert request["reason"] == "offer o2 was withdrawn: the clinic closed"
    assert [p["type"] for _, _, p in queued(uow_factory)][-1] == "round_requested"


def test_withdrawing_an_offer_nobody_holds_requests_no_rematch(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1")])

    outcome = ingest(uow_factory, [message(OfferWithdrawn(offer_id="o1"))], clock)

    assert counts(outcome) == (1, 0, 0, 0)
    assert outcome.rematches == []
    assert queued(uow_factory) == []


def test_an_offer_edit_that_drops_insurance_holds_its_placements_and_flags_the_risk(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1"), f.student("s2")], [f.offer("o2", L2, capacity=2)])
    place(uow_factory, ("s1", "o2"), ("s2", "o2"))

    edit = OfferSubmitted(offer=f.offer("o2", L2, capacity=2, insurance=None))
    outcome = ingest(uow_factory, [message(edit)], clock)

    assert counts(outcome) == (1, 0, 0, 0)
    assert statuses(uow_factory) == {("r1", "s1", "o2"): HELD, ("r1", "s2", "o2"): HELD}
    detail = "offer o2 has no insurance cover on record"
    assert [
        (t, k, p["type"], p["student_id"], p["code"], p["detail"])
        for t, k, p in queued(uow_factory)
    ] == [
        ("risks", "o2", "risk_flagged", "s1", "insurance_missing", detail),
        ("risks", "o2", "risk_flagged", "s2", "insurance_missing", detail),
    ]
    with uow_factory() as uow:
        assert [a.reason for a in uow.allocations.find()] == [detail, detail]


def test_an_offer_edit_adding_a_required_subject_holds_only_students_without_it(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    physicist = f.student("s2", subjects=frozenset({"physics"}))
    seed(uow_factory, [f.student("s1"), physicist], [f.offer("o1", capacity=2)])
    place(uow_factory, ("s1", "o1"), ("s2", "o1"))

    ingest(
        uow_factory, [message(OfferSubmitted(offer=f.offer("o1", prerequisites=PHYSICS)))], clock
    )

    assert statuses(uow_factory) == {("r1", "s1", "o1"): HELD, ("r1", "s2", "o1"): ACTIVE}
    detail = (
        "student s1 no longer meets the prerequisites of offer o1: "
        "missing subject physics for offer o1"
    )
    assert [
        (p["type"], p["student_id"], p["code"], p["detail"]) for _, _, p in queued(uow_factory)
    ] == [("risk_flagged", "s1", "prerequisite_no_longer_met", detail)]


def test_restoring_an_offers_insurance_releases_its_placements_and_clears_the_risk(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o2", L2)])
    place(uow_factory, ("s1", "o2"))
    ingest(uow_factory, [message(OfferSubmitted(offer=f.offer("o2", L2, insurance=None)))], clock)
    drain(uow_factory)

    fixed = OfferSubmitted(offer=f.offer("o2", L2, insurance=insured("o2")))
    outcome = ingest(uow_factory, [message(fixed, 1)], clock)

    assert counts(outcome) == (1, 0, 0, 0)
    assert statuses(uow_factory) == {("r1", "s1", "o2"): ACTIVE}
    assert [(t, k, p["type"], p["student_id"], p["code"]) for t, k, p in queued(uow_factory)] == [
        ("risks", "o2", "risk_cleared", "s1", "insurance_missing")
    ]
    with uow_factory() as uow:
        flag = uow.risks.get("s1", "o2", RiskCode.INSURANCE_MISSING)
        assert flag is not None and flag.status is RiskStatus.CLEARED


def test_a_held_placement_that_gains_a_second_risk_is_held_for_both(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o3", L3)])  # no teacher pre-visit
    place(uow_factory, ("s1", "o3"))
    ingest(uow_factory, [message(OfferSubmitted(offer=f.offer("o3", L3)))], clock)
    assert statuses(uow_factory) == {("r1", "s1", "o3"): HELD}
    drain(uow_factory)

    uninsured = OfferSubmitted(offer=f.offer("o3", L3, insurance=None))
    ingest(uow_factory, [message(uninsured, 1)], clock)

    with uow_factory() as uow:
        [held] = uow.allocations.find()
    assert (held.status, held.reason) == (
        HELD,
        "offer o3 has no insurance cover on record; no teacher has pre-visited the workplace "
        "of L3 offer o3 (Harbour Health Ltd) yet",
    )
    assert [(p["type"], p["code"]) for _, _, p in queued(uow_factory)] == [
        ("risk_flagged", "insurance_missing")
    ]


def test_an_unchanged_offer_resubmitted_queues_nothing(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o2", L2)])
    place(uow_factory, ("s1", "o2"))

    outcome = ingest(uow_factory, [message(OfferSubmitted(offer=f.offer("o2", L2)))], clock)

    assert counts(outcome) == (1, 0, 0, 0)
    assert statuses(uow_factory) == {("r1", "s1", "o2"): ACTIVE}
    assert queued(uow_factory) == []


def test_a_student_re_registered_without_a_required_subject_has_the_placement_held(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(
        uow_factory,
        [f.student("s1", subjects=frozenset({"physics"}))],
        [f.offer("o1", prerequisites=PHYSICS)],
    )
    place(uow_factory, ("s1", "o1"))

    dropped = StudentRegistered(student=f.student("s1", subjects=frozenset({"biology"})))
    ingest(uow_factory, [message(dropped)], clock)

    assert statuses(uow_factory) == {("r1", "s1", "o1"): HELD}
    assert [(p["type"], p["student_id"], p["code"]) for _, _, p in queued(uow_factory)] == [
        ("risk_flagged", "s1", "prerequisite_no_longer_met")
    ]


# -- attendance -----------------------------------------------------------------------------


def test_a_no_show_revokes_that_allocation_and_requests_a_rematch(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1"), f.student("s2")], [f.offer("o1", capacity=2)])
    place(uow_factory, ("s1", "o1"), ("s2", "o1"))
    no_show = AttendanceRecorded(
        event_id="a1", student_id="s1", offer_id="o1", date=DAY, attended=False
    )

    outcome = ingest(uow_factory, [message(no_show)], clock)

    assert counts(outcome) == (1, 0, 0, 0)
    assert outcome.rematches == [rematch_id("a1")]
    assert statuses(uow_factory) == {("r1", "s1", "o1"): REVOKED, ("r1", "s2", "o1"): ACTIVE}
    reason = "student s1 did not attend offer o1 on 2027-03-01"
    assert [
        (t, k, p["type"], p.get("student_id"), p.get("student_ids"), p["reason"])
        for t, k, p in queued(uow_factory)
    ] == [
        ("allocations", "s1", "allocation_revoked", "s1", None, reason),
        ("rounds", rematch_id("a1"), "round_requested", None, ["s1"], reason),
    ]
    with uow_factory() as uow:
        [row] = uow.attendance.find()
        assert (row.student_id, row.offer_id, row.date, row.attended) == ("s1", "o1", DAY, False)


def test_attendance_that_happened_is_recorded_and_keeps_the_allocation(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1")])
    place(uow_factory, ("s1", "o1"))
    came = AttendanceRecorded(
        student_id="s1", offer_id="o1", date=DAY, attended=True, hours=3, debriefed=True
    )

    outcome = ingest(uow_factory, [message(came)], clock)

    assert (counts(outcome), outcome.rematches) == ((1, 0, 0, 0), [])
    assert statuses(uow_factory) == {("r1", "s1", "o1"): ACTIVE}
    assert queued(uow_factory) == []
    with uow_factory() as uow:
        [row] = uow.attendance.find()
        assert (row.attended, row.hours, row.debriefed) == (True, 3.0, True)


@pytest.mark.parametrize(
    ("placed", "event", "field", "reason"),
    [
        pytest.param(
            [("s1", "o1")],
            AttendanceRecorded(
                event_id="a1",
                student_id="s1",
                offer_id="o1",
                date=DAY + dt.timedelta(days=1),
                attended=False,
            ),
            "date",
            "offer o1 has no session on 2027-03-02 (its sessions: 2027-03-01)",
            id="on-a-date-that-is-not-a-session",
        ),
        pytest.param(
            [],
            AttendanceRecorded(
                event_id="a1", student_id="s1", offer_id="o1", date=DAY, attended=True
            ),
            "offer_id",
            "student s1 was never allocated to offer o1",
            id="at-an-offer-the-student-was-never-allocated",
        ),
    ],
)
def test_attendance_that_cannot_have_happened_is_rejected(
    uow_factory: UnitOfWorkFactory,
    clock: Ticker,
    placed: list[tuple[str, str]],
    event: AttendanceRecorded,
    field: str,
    reason: str,
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1")])
    if placed:
        place(uow_factory, *placed)

    outcome = ingest(uow_factory, [message(event)], clock)

    assert counts(outcome) == (0, 0, 1, 0)
    assert rejection(uow_factory) == (field, reason, "a1")
    assert statuses(uow_factory) == {("r1", s, o): ACTIVE for s, o in placed}
    with uow_factory() as uow:
        assert uow.attendance.find() == []


def test_a_second_no_show_of_a_revoked_allocation_requests_no_second_rematch(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    two_days = (f.session(DAY), f.session(DAY + dt.timedelta(days=1)))
    seed(uow_factory, [f.student("s1")], [f.offer("o1", sessions=two_days)])
    place(uow_factory, ("s1", "o1"))
    first = AttendanceRecorded(student_id="s1", offer_id="o1", date=DAY, attended=False)
    ingest(uow_factory, [message(first)], clock)
    drain(uow_factory)
    second = AttendanceRecorded(
        student_id="s1", offer_id="o1", date=DAY + dt.timedelta(days=1), attended=False
    )

    outcome = ingest(uow_factory, [message(second, 1)], clock)

    assert (counts(outcome), outcome.rematches) == ((1, 0, 0, 0), [])
    assert queued(uow_factory) == []
    with uow_factory() as uow:
        assert len(uow.attendance.find(student_id="s1")) == 2


# -- pins and forbidden pairs ----------------------------------------------------------------


def _pairs(uow_factory: UnitOfWorkFactory) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    with uow_factory() as uow:
        return (
            [(p.student_id, p.offer_id) for p in uow.overrides.pinned()],
            [(p.student_id, p.offer_id) for p in uow.overrides.forbidden()],
        )


def test_a_pin_and_a_forbid_are_stored_and_a_removal_lifts_the_pin(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1"), f.offer("o2")])
    batch = [
        message(PairPinned(student_id="s1", offer_id="o1"), 0),
        message(PairForbidden(student_id="s1", offer_id="o2"), 1),
    ]

    outcome = ingest(uow_factory, batch, clock)

    assert counts(outcome) == (2, 0, 0, 0)
    assert _pairs(uow_factory) == ([("s1", "o1")], [("s1", "o2")])
    removal = ingest(
        uow_factory, [message(OverrideRemoved(student_id="s1", offer_id="o1"), 2)], clock
    )
    assert counts(removal) == (1, 0, 0, 0)
    assert _pairs(uow_factory) == ([], [("s1", "o2")])
    assert queued(uow_factory) == []


def test_forbidding_a_pinned_pair_replaces_the_pin(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1")])
    batch = [
        message(PairPinned(student_id="s1", offer_id="o1"), 0),
        message(PairForbidden(student_id="s1", offer_id="o1"), 1),
    ]

    assert counts(ingest(uow_factory, batch, clock)) == (2, 0, 0, 0)
    assert _pairs(uow_factory) == ([], [("s1", "o1")])


def test_a_duplicate_pin_changes_nothing(uow_factory: UnitOfWorkFactory, clock: Ticker) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1")])
    pin = PairPinned(event_id="pin1", student_id="s1", offer_id="o1")
    ingest(uow_factory, [message(pin)], clock)
    ingest(uow_factory, [message(OverrideRemoved(student_id="s1", offer_id="o1"), 1)], clock)

    again = ingest(uow_factory, [message(pin, 2)], clock)

    assert counts(again) == (0, 1, 0, 0)
    assert _pairs(uow_factory) == ([], [])


def test_a_pin_of_a_student_not_registered_yet_comes_back_to_be_retried(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [], [f.offer("o1")])
    pin = message(PairPinned(student_id="s9", offer_id="o1"))

    outcome = ingest(uow_factory, [pin], clock)

    assert counts(outcome) == (0, 0, 0, 1) and outcome.retry == [pin]
    assert _pairs(uow_factory) == ([], [])


@pytest.mark.parametrize(
    ("event", "field", "reason"),
    [
        pytest.param(
            PairPinned(event_id="x1", student_id="s1", offer_id="o-physics"),
            "offer_id",
            "student s1 cannot take offer o-physics: missing subject physics for offer o-physics",
            id="pin-an-ineligible-pair",
        ),
        pytest.param(
            PairPinned(event_id="x1", student_id="s1", offer_id="o-gone"),
            "offer_id",
            "offer o-gone was withdrawn and cannot be pinned",
            id="pin-a-withdrawn-offer",
        ),
        pytest.param(
            PairPinned(event_id="x1", student_id="s1", offer_id="o2"),
            "offer_id",
            "student s1 is pinned to offer o1 already, of the same level group (b8_l1); a "
            "student takes one per group",
            id="pin-a-second-offer-of-one-group",
        ),
        pytest.param(
            PairPinned(event_id="x1", student_id="s2", offer_id="o1"),
            "offer_id",
            "offer o1 has 1 place(s), all pinned to other students",
            id="pin-more-students-than-places",
        ),
        pytest.param(
            OverrideRemoved(event_id="x1", student_id="s1", offer_id="o2"),
            "offer_id",
            "student s1 has no pin or forbid on offer o2",
            id="remove-what-is-not-there",
        ),
    ],
)
def test_an_override_that_would_break_the_next_round_is_rejected(
    uow_factory: UnitOfWorkFactory, clock: Ticker, event: Envelope, field: str, reason: str
) -> None:
    offers = [
        f.offer("o1"),
        f.offer("o2"),
        f.offer("o-physics", prerequisites=PHYSICS),
        f.offer("o-gone"),
    ]
    seed(uow_factory, [f.student("s1"), f.student("s2")], offers)
    with uow_factory() as uow:
        uow.offers.withdraw("o-gone")
        uow.overrides.pin(StudentOffer(student_id="s1", offer_id="o1"))
        uow.commit()

    outcome = ingest(uow_factory, [message(event)], clock)

    assert counts(outcome) == (0, 0, 1, 0)
    assert rejection(uow_factory) == (field, reason, "x1")
    assert _pairs(uow_factory) == ([("s1", "o1")], [])


# -- pre-interviews ----------------------------------------------------------------------------


def _interviewing(uow_factory: UnitOfWorkFactory) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1", requires_interview=True), f.offer("o2")])
    place(uow_factory, ("s1", "o1"), ("s1", "o2"))


def test_a_confirmed_pre_interview_is_stored_and_keeps_the_place(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    _interviewing(uow_factory)
    decision = InterviewDecided(student_id="s1", offer_id="o1", outcome="confirmed", note="ok")

    outcome = ingest(uow_factory, [message(decision)], clock)

    assert (counts(outcome), outcome.rematches) == ((1, 0, 0, 0), [])
    assert statuses(uow_factory) == {("r1", "s1", "o1"): ACTIVE, ("r1", "s1", "o2"): ACTIVE}
    assert queued(uow_factory) == []
    with uow_factory() as uow:
        [stored] = uow.feedback.interviews(offer_id="o1")
    assert (stored.student_id, stored.outcome, stored.note) == ("s1", "confirmed", "ok")
    assert stored.decided_at == decision.occurred_at


def test_a_declined_pre_interview_revokes_the_place_and_requests_a_rematch(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    _interviewing(uow_factory)
    decision = InterviewDecided(event_id="i1", student_id="s1", offer_id="o1", outcome="declined")

    outcome = ingest(uow_factory, [message(decision)], clock)

    assert (counts(outcome), outcome.rematches) == ((1, 0, 0, 0), [rematch_id("i1")])
    assert statuses(uow_factory) == {("r1", "s1", "o1"): REVOKED, ("r1", "s1", "o2"): ACTIVE}
    reason = "the provider of offer o1 declined student s1 after the pre-interview"
    assert [(t, k, p["type"], p["reason"]) for t, k, p in queued(uow_factory)] == [
        ("allocations", "s1", "allocation_revoked", reason),
        ("rounds", rematch_id("i1"), "round_requested", reason),
    ]
    with uow_factory() as uow:
        assert [i.outcome for i in uow.feedback.interviews(student_id="s1")] == ["declined"]


def test_a_declined_place_is_rematched_with_the_students_waiting_for_it(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    # s2 ranked o1 and holds nothing in its group: waiting. s3 ranked it but holds another
    # L1 place, s4 holds nothing but never ranked it: neither is re-matched.
    students = [f.student(s) for s in ("s1", "s2", "s3", "s4")]
    offers = [f.offer("o1", requires_interview=True), f.offer("o2"), f.offer("o3")]
    rankings = [f.prefs("s1", "o1"), f.prefs("s2", "o1"), f.prefs("s3", "o1", "o3")]
    seed(uow_factory, students, offers, rankings)
    place(uow_factory, ("s1", "o1"), ("s3", "o3"))
    decision = InterviewDecided(event_id="i1", student_id="s1", offer_id="o1", outcome="declined")

    ingest(uow_factory, [message(decision)], clock)

    [request] = [p for _, _, p in queued(uow_factory) if p["type"] == "round_requested"]
    assert (request["scope"], request["student_ids"]) == ("students", ["s1", "s2"])
    run_round(uow_factory, TOPIC_ADAPTERS["rounds"].validate_python(request), clock)
    assert {k: v for k, v in statuses(uow_factory).items() if v == ACTIVE} == {
        (request["round_id"], "s2", "o1"): ACTIVE,  # the freed place went to the waiting one
        ("r1", "s3", "o3"): ACTIVE,  # everyone else's allocation is unchanged
    }


def test_a_duplicate_pre_interview_decision_changes_nothing(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    _interviewing(uow_factory)
    decision = InterviewDecided(event_id="i1", student_id="s1", offer_id="o1", outcome="declined")
    ingest(uow_factory, [message(decision)], clock)
    drain(uow_factory)

    again = ingest(uow_factory, [message(decision, 1)], clock)

    assert (counts(again), again.rematches) == ((0, 1, 0, 0), [])
    assert queued(uow_factory) == []


@pytest.mark.parametrize(
    ("event", "field", "reason"),
    [
        pytest.param(
            InterviewDecided(event_id="x1", student_id="s1", offer_id="o2", outcome="confirmed"),
            "offer_id",
            "offer o2 has no pre-interview",
            id="an-offer-without-interview",
        ),
        pytest.param(
            InterviewDecided(event_id="x1", student_id="s2", offer_id="o1", outcome="declined"),
            "student_id",
            "student s2 holds no place in offer o1 to interview for",
            id="a-student-not-placed",
        ),
    ],
)
def test_a_pre_interview_decision_about_no_place_is_rejected(
    uow_factory: UnitOfWorkFactory,
    clock: Ticker,
    event: InterviewDecided,
    field: str,
    reason: str,
) -> None:
    _interviewing(uow_factory)
    seed(uow_factory, [f.student("s2")])

    outcome = ingest(uow_factory, [message(event)], clock)

    assert counts(outcome) == (0, 0, 1, 0)
    assert rejection(uow_factory) == (field, reason, "x1")
    with uow_factory() as uow:
        assert uow.feedback.interviews() == []


# -- reflections -------------------------------------------------------------------------------


def test_a_reflection_after_the_attendance_in_the_same_batch_is_stored(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1")])
    place(uow_factory, ("s1", "o1"))
    came = AttendanceRecorded(student_id="s1", offer_id="o1", date=DAY, attended=True, hours=3)
    reflection = ReflectionSubmitted(student_id="s1", offer_id="o1", text="Loud, busy, good.")

    outcome = ingest(uow_factory, [message(came, 0), message(reflection, 1)], clock)

    assert counts(outcome) == (2, 0, 0, 0)
    with uow_factory() as uow:
        [stored] = uow.feedback.reflections(student_id="s1")
    assert (stored.offer_id, stored.text) == ("o1", "Loud, busy, good.")
    again = ingest(uow_factory, [message(reflection, 2)], clock)
    assert counts(again) == (0, 1, 0, 0)


def test_a_reflection_without_an_attended_session_is_rejected(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1")], [f.offer("o1")])
    place(uow_factory, ("s1", "o1"))
    reflection = ReflectionSubmitted(event_id="x1", student_id="s1", offer_id="o1", text="Hm.")

    outcome = ingest(uow_factory, [message(reflection)], clock)

    assert counts(outcome) == (0, 0, 1, 0)
    reason = "student s1 has no attended session of offer o1 on record; reflect after the encounter"
    assert rejection(uow_factory) == ("offer_id", reason, "x1")
    with uow_factory() as uow:
        assert uow.feedback.reflections() == []


# -- hosting again -----------------------------------------------------------------------------


def test_a_host_again_answer_after_the_offer_is_stored_and_a_later_one_replaces_it(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [], [f.offer("o1")])
    after = dt.datetime(2027, 3, 2, 9, 0, tzinfo=dt.UTC)
    first = HostAgainAnswered(offer_id="o1", would_host_again=True, occurred_at=after)
    second = HostAgainAnswered(
        offer_id="o1",
        would_host_again=False,
        comment="short of staff",
        occurred_at=after + dt.timedelta(days=1),
    )

    outcome = ingest(uow_factory, [message(first, 0), message(second, 1)], clock)

    assert counts(outcome) == (2, 0, 0, 0)
    with uow_factory() as uow:
        stored = uow.feedback.host_again("o1")
    assert stored is not None
    assert (stored.would_host_again, stored.comment) == (False, "short of staff")
    assert counts(ingest(uow_factory, [message(first, 2)], clock)) == (0, 1, 0, 0)


def test_a_host_again_answer_before_the_offer_took_place_is_rejected(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [], [f.offer("o1")])
    early = HostAgainAnswered(
        event_id="x1",
        offer_id="o1",
        would_host_again=True,
        occurred_at=dt.datetime(2027, 2, 1, tzinfo=dt.UTC),
    )

    outcome = ingest(uow_factory, [message(early)], clock)

    assert counts(outcome) == (0, 0, 1, 0)
    reason = (
        "offer o1 runs until 2027-03-01; say whether you would host again after its last session"
    )
    assert rejection(uow_factory) == ("offer_id", reason, "x1")
    with uow_factory() as uow:
        assert uow.feedback.host_again("o1") is None
