"""End to end: events in through the broker, allocations, risks and coverage out."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import aiokafka

from schemas import Form, OfferKind, RiskCode
from schemas.events import (
    AllocationMade,
    CoverageUpdated,
    Envelope,
    OfferSubmitted,
    PreferencesRanked,
    RiskCleared,
    RiskFlagged,
    RoundRequested,
    StudentRegistered,
)
from services.broker import publish, tail
from services.persistence import AllocationStatus, Database
from services.settings import Settings
from services.worker.app import Worker
from services.worker.consumer import FETCH_MAX_WAIT_MS
from tests import factories
from tests.services.conftest import eventually
from tests.services.worker.conftest import ThreadedWorker


def test_events_in_allocations_risks_and_coverage_out(
    running: Worker, worker_settings: Settings, database: Database
) -> None:
    """Four S5 students of one school rank an L1 visit, an L3 internship whose teacher
    pre-visit is not done, and an L2. Each gets the L1 and one of the L2/L3 places: the
    Benchmark 8 pair for all four. The two L3 placements are held with a risk flag until the
    employer records the pre-visit, which clears the flags and releases them."""
    settings = worker_settings
    students = [factories.student(f"s{i}") for i in range(4)]
    day = factories.DAY
    l1 = factories.offer("o1", capacity=4)
    l3 = factories.offer("o3", L3, capacity=2, sessions=(factories.session(day + DAY_1),))
    l2 = factories.offer("o2", L2, capacity=2, sessions=(factories.session(day + 2 * DAY_1),))
    publish(settings, [StudentRegistered(student=s) for s in students])
    publish(settings, [OfferSubmitted(offer=o) for o in (l1, l3, l2)])
    publish(
        settings,
        [
            PreferencesRanked(preferences=factories.prefs(s.student_id, "o1", "o3", "o2"))
            for s in students
        ],
    )

    def stored() -> bool:
        with database.unit_of_work() as uow:
            return len(uow.preferences.find()) == 4

    assert eventually(stored, 30)
    command = RoundRequested(round_id="r1", scope="school", school_ids=("sch1",), mode="commit")
    publish(settings, [command])

    made = _events(settings, "allocations", 8, AllocationMade)
    assert len(made) == 8
    placed = {(e.allocation.student_id, e.allocation.offer_id) for e in made}
    assert {s for s, o in placed if o == "o1"} == {"s0", "s1", "s2", "s3"}
    at_l3 = {s for s, o in placed if o == "o3"}
    assert len(at_l3) == 2 and len({s for s, o in placed if o == "o2"}) == 2

    flagged = _events(settings, "risks", 2, RiskFlagged)
    assert {(e.student_id, e.offer_id, e.code) for e in flagged} == {
        (s, "o3", RiskCode.L3_NO_PREVISIT) for s in at_l3
    }
    assert _statuses(database, "o3") == {AllocationStatus.HELD}

    coverage = _events(settings, "coverage", 1, CoverageUpdated)
    latest = coverage[-1]
    assert (latest.school_id, latest.form, latest.students) == ("sch1", Form.S5, 4)
    assert eventually(lambda: _latest_coverage(settings).b8_projected == 4, 20)
    assert not _latest_coverage(settings).below_target

    # The employer records the teacher's pre-visit: the flags clear, the placements go ahead.
    publish(settings, [OfferSubmitted(offer=l3.model_copy(update={"teacher_previsit_done": True}))])
    cleared = _events(settings, "risks", 2, RiskCleared)
    assert {(e.student_id, e.code) for e in cleared} == {
        (s, RiskCode.L3_NO_PREVISIT) for s in at_l3
    }
    assert eventually(lambda: _statuses(database, "o3") == {AllocationStatus.ACTIVE}, 20)


DAY_1 = dt.timedelta(days=1)
L2, L3 = OfferKind.WORKPLACE_L2, OfferKind.WORKPLACE_L3
E = TypeVar("E", bound=Envelope)


def _events(settings: Settings, topic: str, count: int, kind: type[E]) -> list[E]:
    """At least `count` events of `kind` from the start of `topic` (waiting up to 30 s)."""
    found: list[E] = []

    def enough() -> bool:
        found[:] = [
            r.event
            for r in tail(settings, topic, from_beginning=True, timeout=1)
            if isinstance(r.event, kind)
        ]
        return len(found) >= count

    assert eventually(enough, 30), f"{len(found)} {kind.__name__} events on {topic}, not {count}"
    return found


def _latest_coverage(settings: Settings) -> CoverageUpdated:
    return _events(settings, "coverage", 1, CoverageUpdated)[-1]


def _statuses(database: Database, offer_id: str) -> set[AllocationStatus]:
    with database.unit_of_work() as uow:
        return {a.status for a in uow.allocations.find(offer_id=offer_id)}


def test_two_workers_share_the_partitions_and_one_takes_over_when_the_other_stops(
    worker_settings: Settings, database: Database
) -> None:
    def stored(count: int) -> bool:
        with database.unit_of_work() as uow:
            return len(uow.students.find()) == count

    def assigned(worker: Worker) -> set[Any]:
        return set(worker.app.consumer.assignment())

    with ThreadedWorker(worker_settings, database) as first:
        with ThreadedWorker(worker_settings, database) as second:
            assert eventually(lambda: bool(assigned(first)) and bool(assigned(second)), 30)
            assert not assigned(first) & assigned(second)  # each partition has one owner
            everything = assigned(first) | assigned(second)
            publish(
                worker_settings,
                [StudentRegistered(student=factories.student(f"s{i:02d}")) for i in range(40)],
            )
            assert eventually(lambda: stored(40), 30)
        # The second left its group: the first takes every partition over and goes on.
        assert eventually(lambda: assigned(first) == everything, 30)
        publish(worker_settings, [StudentRegistered(student=factories.student("s-late"))])
        assert eventually(lambda: stored(41), 30)


def test_a_running_worker_fetches_with_a_short_wait_so_a_lone_event_is_not_held(
    running: Worker,
) -> None:
    # The embedded broker holds a fetch over several partitions for its whole wait even when
    # a record arrives (services/worker/consumer.py); faust's own wait is 1.5 s.
    thread = running.app.consumer._thread
    assert isinstance(thread._consumer, aiokafka.AIOKafkaConsumer)
    assert thread._consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS
    assert thread._consumer._fetcher._fetch_max_wait_ms == FETCH_MAX_WAIT_MS


def test_a_running_worker_hands_each_fetch_to_its_streams_within_one_wait_not_one_per_event(
    running: Worker, worker_settings: Settings, database: Database
) -> None:
    # faust's own loop waits (four tasks and an asyncio.wait) once per message; ours once per
    # fetch (services/worker/consumer.py). Every event still arrives, in order per partition.
    consumer = running.app.consumer
    waits: list[int] = []
    original = consumer.wait_first

    def counting(*coros: Any, **options: Any) -> Any:
        waits.append(len(coros))
        return original(*coros, **options)

    consumer.wait_first = counting
    students = [factories.student(f"s{i:03d}") for i in range(200)]
    publish(worker_settings, [StudentRegistered(student=s) for s in students])

    def stored() -> bool:
        with database.unit_of_work() as uow:
            return len(uow.students.find()) == len(students)

    assert eventually(stored, 30)
    # 200 events, each read by two agents (ingest and coverage): 400 deliveries.
    assert 0 < len(waits) < 100
