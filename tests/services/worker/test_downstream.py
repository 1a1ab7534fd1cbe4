"""The consumers of the service's own events, without Kafka: risk checks and coverage.

Every test runs on the in-memory fake, SQLite and PostgreSQL (the `uow_factory` fixture), but
one that needs a unit of work whose commit fails.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from schemas import Form, OfferKind, RiskCode, RoundRules
from schemas.entities import Offer
from schemas.events import (
    AllocationMade,
    AllocationProposed,
    AllocationRevoked,
    AttendanceRecorded,
    RoundCompleted,
    RoundRequested,
    StudentRegistered,
)
from schemas.result import Allocation
from services.persistence import (
    AllocationStatus,
    AttendanceRecord,
    MemoryStore,
    MemoryUnitOfWork,
    RiskStatus,
    RoundRecord,
    RoundStatus,
    UnitOfWorkFactory,
)
from services.worker.downstream import Coverage, check_risks
from services.worker.messages import Message
from services.worker.risks import RiskChanges
from services.worker.rounds import run_round
from tests import factories as f
from tests.services.conftest import Ticker
from tests.services.worker.outbox import (
    Queued,
    dead_letters,
    drain,
    message,
    queued,
    seed,
    statuses,
)

ACTIVE, HELD, REVOKED = AllocationStatus.ACTIVE, AllocationStatus.HELD, AllocationStatus.REVOKED
L1, L2, L3 = OfferKind.WORKPLACE_L1, OfferKind.WORKPLACE_L2, OfferKind.WORKPLACE_L3


# -- helpers ------------------------------------------------------------------------------


def offer(offer_id: str, day: int, kind: OfferKind = L1, **kw: Any) -> Offer:
    """An offer with one session `day` days after factories.DAY, with room for everyone."""
    session = f.session(f.DAY + dt.timedelta(days=day))
    return f.offer(offer_id, kind, sessions=(session,), **{"capacity": 10, **kw})


def allocation(student_id: str, offer_id: str, kind: OfferKind = L1) -> Allocation:
    return Allocation(student_id=student_id, offer_id=offer_id, kind=kind, group=kind.group, rank=1)


def place(
    uow_factory: UnitOfWorkFactory,
    *allocations: Allocation,
    round_id: str = "r1",
    status: AllocationStatus = ACTIVE,
) -> list[Message]:
    """Store the allocations as round `round_id` made them; returns their AllocationMade
    messages as the allocations topic would carry them."""
    with uow_factory() as uow:
        if uow.rounds.get(round_id) is None:
            uow.rounds.add(RoundRecord(round_id=round_id, mode="commit"))
        uow.allocations.add(round_id, allocations, status)
        uow.commit()
    return [
        message(AllocationMade(round_id=round_id, allocation=a), offset)
        for offset, a in enumerate(allocations)
    ]


# -- check_risks ----------------------------------------------------------------------------


NO_PREVISIT = "no teacher has pre-visited the workplace of L3 offer o3 (Harbour Health Ltd) yet"


def test_check_risks_flags_the_risk_of_an_allocation_made_and_holds_it(
    uow_factory: UnitOfWorkFactory,
) -> None:
    seed(uow_factory, [f.student("s1"), f.student("s2")], [offer("o1", 0), offer("o3", 1, L3)])
    messages = place(uow_factory, allocation("s1", "o3", L3), allocation("s2", "o1"))

    changes = check_risks(uow_factory, messages)

    assert changes == RiskChanges(flagged=1, cleared=0, held=1, released=0)
    assert statuses(uow_factory) == {("r1", "s1", "o3"): HELD, ("r1", "s2", "o1"): ACTIVE}
    [(topic, key, flagged)] = queued(uow_factory)
    assert (topic, key, flagged["type"]) == ("risks", "o3", "risk_flagged")
    assert (flagged["student_id"], flagged["offer_id"]) == ("s1", "o3")
    assert (flagged["code"], flagged["detail"]) == ("l3_no_previsit", NO_PREVISIT)
    assert flagged["source"] == "placement-risk-check"
    with uow_factory() as uow:
        flag = uow.risks.get("s1", "o3", RiskCode.L3_NO_PREVISIT)
        assert flag is not None and flag.status is RiskStatus.FLAGGED
        [held] = uow.allocations.find(student_id="s1")
        assert held.reason == NO_PREVISIT


def _round_made(uow_factory: UnitOfWorkFactory, clock: Ticker) -> list[Message]:
    """A committed round places s1 in L3 o3 (no pre-visit: stored held) and s2 in L1 o1;
    returns its AllocationMade messages, taken from the outbox."""
    seed(uow_factory, [f.student("s1"), f.student("s2")], [offer("o1", 0), offer("o3", 1, L3)])
    with uow_factory() as uow:
        uow.preferences.add(f.prefs("s1", "o3"))
        uow.preferences.add(f.prefs("s2", "o1"))
        uow.commit()
    request = RoundRequested(round_id="r1", scope="school", school_ids=("sch1",), mode="commit")
    run_round(uow_factory, request, clock)
    allocations = [
        Message("allocations", json.dumps(p).encode(), key, 0, offset)
        for offset, (topic, key, p) in enumerate(drain(uow_factory))
        if topic == "allocations"
    ]
    assert len(allocations) == 2
    return allocations


def test_check_risks_flags_what_a_committed_round_stored_held(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    allocations = _round_made(uow_factory, clock)

    changes = check_risks(uow_factory, allocations)

    assert changes == RiskChanges(flagged=1)  # stored held already: nothing to hold
    assert statuses(uow_factory) == {("r1", "s1", "o3"): HELD, ("r1", "s2", "o1"): ACTIVE}
    assert [(p["type"], p["student_id"], p["code"]) for _, _, p in queued(uow_factory)] == [
        ("risk_flagged", "s1", "l3_no_previsit")
    ]


def test_check_risks_rechecks_a_whole_committed_round_from_its_round_completed_event(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    seed(uow_factory, [f.student("s1"), f.student("s2")], [offer("o1", 0), offer("o3", 1, L3)])
    with uow_factory() as uow:
        uow.preferences.add(f.prefs("s1", "o3"))
        uow.preferences.add(f.prefs("s2", "o1"))
        uow.commit()
    request = RoundRequested(round_id="r1", scope="school", school_ids=("sch1",), mode="commit")
    run_round(uow_factory, request, clock)
    [completed] = [
        Message("rounds", json.dumps(p).encode(), key, 0, 0)
        for topic, key, p in drain(uow_factory)
        if p["type"] == "round_completed"
    ]

    assert check_risks(uow_factory, [completed]) == RiskChanges(flagged=1)
    assert [(p["type"], p["student_id"], p["code"]) for _, _, p in queued(uow_factory)] == [
        ("risk_flagged", "s1", "l3_no_previsit")
    ]
    drain(uow_factory)
    assert check_risks(uow_factory, [completed]) == RiskChanges()  # a redelivery: nothing new
    assert queued(uow_factory) == []


def test_check_risks_records_why_a_round_held_an_allocation(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    allocations = _round_made(uow_factory, clock)

    check_risks(uow_factory, allocations)

    with uow_factory() as uow:
        [held] = uow.allocations.find(student_id="s1")
    assert (held.status, held.reason) == (HELD, NO_PREVISIT)


def test_check_risks_releases_an_allocation_whose_risk_was_fixed_before_the_check(
    uow_factory: UnitOfWorkFactory,
) -> None:
    seed(uow_factory, [f.student("s1")], [offer("o3", 1, L3, teacher_previsit_done=True)])
    with uow_factory() as uow:  # flagged and held while the offer lacked its pre-visit
        uow.risks.flag("s1", "o3", RiskCode.L3_NO_PREVISIT, NO_PREVISIT)
        uow.commit()
    messages = place(uow_factory, allocation("s1", "o3", L3), status=HELD)

    changes = check_risks(uow_factory, messages)

    assert changes == RiskChanges(cleared=1, released=1)
    assert statuses(uow_factory) == {("r1", "s1", "o3"): ACTIVE}
    assert [(t, k, p["type"], p["student_id"], p["code"]) for t, k, p in queued(uow_factory)] == [
        ("risks", "o3", "risk_cleared", "s1", "l3_no_previsit")
    ]


def _checked_and_redelivered(uow_factory: UnitOfWorkFactory) -> list[Message]:
    """s1's L3 o3 (no pre-visit) made, checked and held; returns its AllocationMade, to be
    delivered again."""
    seed(uow_factory, [f.student("s1")], [offer("o3", 1, L3)])
    messages = place(uow_factory, allocation("s1", "o3", L3))
    check_risks(uow_factory, messages)
    drain(uow_factory)
    return messages


def _released_and_redelivered(uow_factory: UnitOfWorkFactory) -> list[Message]:
    """As _checked_and_redelivered, but the hold is released before the redelivery."""
    messages = _checked_and_redelivered(uow_factory)
    with uow_factory() as uow:  # the careers team accepts the risk and releases the placement
        uow.risks.clear("s1", "o3", RiskCode.L3_NO_PREVISIT)
        uow.allocations.set_status("r1", "s1", "o3", ACTIVE, "accepted by the careers team")
        uow.commit()
    return messages


def _proposed_and_revoked(uow_factory: UnitOfWorkFactory) -> list[Message]:
    """s1 holds L3 o3, unchecked; returns an AllocationProposed and an AllocationRevoked of
    that pair."""
    seed(uow_factory, [f.student("s1")], [offer("o3", 1, L3)])
    place(uow_factory, allocation("s1", "o3", L3))
    return [
        message(AllocationProposed(round_id="p1", allocation=allocation("s1", "o3", L3)), 0),
        message(AllocationRevoked(round_id="r1", student_id="s1", offer_id="o3", reason="x"), 1),
    ]


def _made_then_revoked(uow_factory: UnitOfWorkFactory) -> list[Message]:
    """s1's L3 o3 made, and revoked before the check; returns its AllocationMade."""
    seed(uow_factory, [f.student("s1")], [offer("o3", 1, L3)])
    return place(uow_factory, allocation("s1", "o3", L3), status=REVOKED)


FLAGGED, CLEARED = RiskStatus.FLAGGED, RiskStatus.CLEARED


@pytest.mark.parametrize(
    ("arrange", "status", "flags"),
    [
        pytest.param(
            _checked_and_redelivered,
            HELD,
            [FLAGGED],
            id="a-redelivered-allocation-made-queues-nothing-new",
        ),
        pytest.param(
            _released_and_redelivered,
            ACTIVE,
            [CLEARED],
            id="a-redelivered-allocation-made-does-not-undo-a-hold-released-since",
        ),
        pytest.param(
            _proposed_and_revoked,
            ACTIVE,
            [],
            id="proposed-and-revoked-allocations-are-ignored",
        ),
        pytest.param(
            _made_then_revoked,
            REVOKED,
            [],
            id="an-allocation-revoked-since-it-was-made-is-left-alone",
        ),
    ],
)
def test_check_risks_changes_nothing_when_nothing_new_was_made(
    uow_factory: UnitOfWorkFactory,
    arrange: Callable[[UnitOfWorkFactory], list[Message]],
    status: AllocationStatus,
    flags: list[RiskStatus],
) -> None:
    messages = arrange(uow_factory)

    changes = check_risks(uow_factory, messages)

    assert changes == RiskChanges()
    assert queued(uow_factory) == []
    assert statuses(uow_factory) == {("r1", "s1", "o3"): status}
    with uow_factory() as uow:
        assert [(r.code, r.status) for r in uow.risks.find()] == [
            (RiskCode.L3_NO_PREVISIT, flag) for flag in flags
        ]


def test_an_undecodable_allocations_message_is_dead_lettered_by_the_risk_check(
    uow_factory: UnitOfWorkFactory,
) -> None:
    seed(uow_factory, [f.student("s1")], [offer("o3", 1, L3)])
    [good] = place(uow_factory, allocation("s1", "o3", L3))
    bad = Message("allocations", b'{"type": "allocation_made"}', "s1", 0, 7)

    changes = check_risks(uow_factory, [bad, good])

    assert changes.flagged == 1
    [letter] = dead_letters(uow_factory)
    assert letter["reason"] == (
        "risk check: allocation_made.round_id: Field required (and 1 more problem)"
    )
    assert [e["field"] for e in letter["errors"]] == [
        "allocation_made.round_id",
        "allocation_made.allocation",
    ]
    assert (letter["topic"], letter["offset"], letter["original"]) == (
        "allocations",
        7,
        '{"type": "allocation_made"}',
    )


# -- coverage -------------------------------------------------------------------------------


def coverage_school(uow_factory: UnitOfWorkFactory) -> list[Message]:
    """sch1: s1 (S5) holds L1 o1 and L2 o2, s2 (S5) only o1, s3 (S4) nothing; sch2: s4 (S6)
    holds both. Returns the AllocationMade message of s1's o1, which touches sch1 alone."""
    seed(
        uow_factory,
        [
            f.student("s1"),
            f.student("s2"),
            f.student("s3", form=Form.S4),
            f.student("s4", school_id="sch2", form=Form.S6),
        ],
        [offer("o1", 0), offer("o2", 1, L2)],
    )
    messages = place(
        uow_factory,
        allocation("s1", "o1"),
        allocation("s1", "o2", L2),
        allocation("s2", "o1"),
        allocation("s4", "o1"),
        allocation("s4", "o2", L2),
    )
    return messages[:1]


def updates(outbox: list[Queued]) -> list[tuple[str, str, int, int, int, float, bool]]:
    """(school, form, students, b8_projected, b8_achieved, target, below) of each update."""
    return [
        (
            p["school_id"],
            p["form"],
            p["students"],
            p["b8_projected"],
            p["b8_achieved"],
            p["target_pct"],
            p["below_target"],
        )
        for _, _, p in outbox
        if p["type"] == "coverage_updated"
    ]


def alerts(outbox: list[Queued]) -> list[dict[str, Any]]:
    return [p for _, _, p in outbox if p["type"] == "coverage_alert"]


def test_coverage_queues_an_update_per_form_of_the_touched_school(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    messages = coverage_school(uow_factory)

    count = Coverage(clock).update(uow_factory, messages)

    outbox = queued(uow_factory)
    assert count == 3
    assert updates(outbox) == [
        ("sch1", "S4", 1, 0, 0, 90.0, True),
        ("sch1", "S5", 2, 1, 0, 90.0, True),
    ]
    assert [(t, k) for t, k, p in outbox] == [("coverage", "sch1")] * 3


def test_a_committed_round_over_every_school_updates_every_schools_coverage(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    coverage_school(uow_factory)  # its allocations belong to r1, a round over all schools
    done = RoundCompleted(round_id="r1", mode="commit", status="done", made=5)

    Coverage(clock).update(uow_factory, [message(done)])

    assert updates(queued(uow_factory)) == [
        ("sch1", "S4", 1, 0, 0, 90.0, True),
        ("sch1", "S5", 2, 1, 0, 90.0, True),
        ("sch2", "S6", 1, 1, 0, 90.0, False),
    ]


def test_coverage_alerts_a_school_projected_below_its_target(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    messages = coverage_school(uow_factory)

    Coverage(clock).update(uow_factory, messages)

    [alert] = alerts(queued(uow_factory))
    assert (alert["school_id"], alert["students"], alert["b8_projected"]) == ("sch1", 3, 1)
    assert (alert["projected_pct"], alert["target_pct"], alert["shortfall"]) == (33.33, 90.0, 2)
    assert alert["detail"] == (
        "school sch1: 1 of 3 students (33.3%) hold the Benchmark 8 pair, below the 90% "
        "target; 2 more need an L1 and an L2/L3 placement"
    )


def test_coverage_queues_nothing_the_second_time_for_unchanged_figures(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    messages = coverage_school(uow_factory)
    coverage = Coverage(clock)
    coverage.update(uow_factory, messages)
    drain(uow_factory)

    count = coverage.update(uow_factory, messages)

    assert count == 0
    assert queued(uow_factory) == []


def test_coverage_queues_only_the_changed_form_and_a_new_alert_when_figures_change(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    messages = coverage_school(uow_factory)
    coverage = Coverage(clock)
    coverage.update(uow_factory, messages)
    drain(uow_factory)
    more = place(uow_factory, allocation("s2", "o2", L2), round_id="r2")

    count = coverage.update(uow_factory, more)

    outbox = queued(uow_factory)
    assert count == 2
    assert updates(outbox) == [("sch1", "S5", 2, 2, 0, 90.0, False)]  # the form is at 100%
    [alert] = alerts(outbox)  # the school is at 2 of 3
    assert (alert["b8_projected"], alert["projected_pct"], alert["shortfall"]) == (2, 66.67, 1)


def test_a_school_at_its_target_gets_an_update_and_no_alert(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    coverage_school(uow_factory)
    touch_sch2 = [message(StudentRegistered(student=f.student("s4", school_id="sch2")))]

    count = Coverage(clock).update(uow_factory, touch_sch2)

    outbox = queued(uow_factory)
    assert count == 1
    assert updates(outbox) == [("sch2", "S6", 1, 1, 0, 90.0, False)]
    assert alerts(outbox) == []


def test_coverage_reads_a_student_events_school_without_validating_the_event_again(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    """The ingest agent validates and dead-letters student events; coverage only needs the
    school, and a batch it cannot read is skipped, not dead-lettered a second time."""
    coverage_school(uow_factory)
    event = json.loads(
        StudentRegistered(student=f.student("s9", school_id="sch2")).model_dump_json()
    )
    event["student"]["form"] = "S9"  # refused by the ingest agent, which stores nothing
    batch = [
        Message("students", json.dumps(event).encode(), "s9", 0, 0),
        Message("students", b"{not json", "s8", 0, 1),
        Message("students", b'{"type": "student_registered", "student": {}}', "s7", 0, 2),
    ]

    count = Coverage(clock).update(uow_factory, batch)

    outbox = queued(uow_factory)
    assert count == 1
    assert updates(outbox) == [("sch2", "S6", 1, 1, 0, 90.0, False)]  # recomputed as stored
    assert [p["type"] for _, _, p in outbox] == ["coverage_updated"]  # no dead letter


def test_coverage_counts_attended_debriefed_encounters_as_achieved(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    coverage_school(uow_factory)
    with uow_factory() as uow:
        for offer_id, day in (("o1", f.DAY), ("o2", f.DAY + dt.timedelta(days=1))):
            uow.attendance.record(
                AttendanceRecord(
                    student_id="s4", offer_id=offer_id, date=day, attended=True, debriefed=True
                )
            )
        uow.commit()
    attended = AttendanceRecorded(
        student_id="s4", offer_id="o2", date=f.DAY + dt.timedelta(days=1), attended=True
    )

    Coverage(clock).update(uow_factory, [message(attended)])

    assert updates(queued(uow_factory)) == [("sch2", "S6", 1, 1, 1, 90.0, False)]


def test_coverage_uses_the_school_targets_of_the_latest_committed_round(
    uow_factory: UnitOfWorkFactory, clock: Ticker
) -> None:
    messages = coverage_school(uow_factory)
    with uow_factory() as uow:
        rules = RoundRules(school_targets={"sch1": 30.0})
        uow.rounds.add(RoundRecord(round_id="targets", mode="commit", rules=rules))
        uow.rounds.set_status("targets", RoundStatus.DONE)
        uow.commit()

    Coverage(clock).update(uow_factory, messages)

    outbox = queued(uow_factory)
    assert updates(outbox) == [
        ("sch1", "S4", 1, 0, 0, 30.0, True),
        ("sch1", "S5", 2, 1, 0, 30.0, False),
    ]
    assert alerts(outbox) == []  # 1 of 3 is 33.3%, above the school's 30% target


class _CommitFailsOnce(MemoryUnitOfWork):
    failures = 1

    def commit(self) -> None:
        if _CommitFailsOnce.failures:
            _CommitFailsOnce.failures -= 1
            raise RuntimeError("the database went away")
        super().commit()


def test_an_alert_whose_transaction_failed_is_queued_again_on_redelivery(clock: Ticker) -> None:
    store = MemoryStore()
    messages = coverage_school(lambda: MemoryUnitOfWork(store, clock))
    coverage = Coverage(clock)
    _CommitFailsOnce.failures = 1

    def failing() -> _CommitFailsOnce:
        return _CommitFailsOnce(store, clock)

    with pytest.raises(RuntimeError):
        coverage.update(failing, messages)
    assert queued(failing) == []

    count = coverage.update(failing, messages)

    assert count == 3
    assert len(alerts(queued(failing))) == 1
