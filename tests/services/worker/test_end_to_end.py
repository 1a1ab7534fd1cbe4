"""End to end: events in through the broker, allocations, risks and coverage out."""

from __future__ import annotations

from schemas.events import OfferSubmitted, PreferencesRanked, RoundRequested, StudentRegistered
from services.broker import publish, tail
from services.persistence import Database, RoundStatus
from services.settings import Settings
from services.worker.app import Worker
from tests import factories
from tests.services.conftest import eventually


def test_events_in_allocations_risks_and_coverage_out(
    running: Worker, worker_settings: Settings, database: Database
) -> None:
    settings = worker_settings
    students = [factories.student(f"s{i}", school_id="sch1") for i in range(4)]
    offers = [factories.offer("o1", capacity=2), factories.offer("o2", capacity=5)]
    publish(settings, [StudentRegistered(student=s) for s in students])
    publish(settings, [OfferSubmitted(offer=o) for o in offers])
    publish(
        settings,
        [
            PreferencesRanked(preferences=factories.prefs(s.student_id, "o1", "o2"))
            for s in students
        ],
    )

    def stored() -> bool:
        with database.unit_of_work() as uow:
            return len(uow.preferences.find()) == 4

    assert eventually(stored, 30)
    publish(
        settings,
        [RoundRequested(round_id="r1", scope="school", school_ids=("sch1",), mode="commit")],
    )

    def done() -> bool:
        with database.unit_of_work() as uow:
            record = uow.rounds.get("r1")
            return record is not None and record.status.finished

    assert eventually(done, 60)
    with database.unit_of_work() as uow:
        record = uow.rounds.get("r1")
        assert record is not None and record.status is RoundStatus.DONE, record
    made = list(tail(settings, "allocations", from_beginning=True, limit=4, timeout=10))
    assert len(made) == 4
    coverage = list(tail(settings, "coverage", from_beginning=True, limit=1, timeout=10))
    assert coverage
