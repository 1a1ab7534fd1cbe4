"""Fault tests against the real broker and both databases.

- A worker process is killed (SIGKILL, no goodbye) during a committed round, once while it
  solves and once just after the commit, while the relay is publishing; a new worker finishes
  the job. Every allocation committed is published, none is lost, and none is published as two
  different events (a repeat of the same event id is allowed: consumers drop it).
- A poison message lands in the dead-letter topic with its reason, and the good event after it
  is applied.
- A duplicate event (the same event id twice) changes nothing the second time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from schemas.events import (
    AllocationMade,
    DeadLettered,
    Envelope,
    OfferSubmitted,
    OfferWithdrawn,
    PreferencesRanked,
    RoundCompleted,
    RoundRequested,
    StudentRegistered,
)
from services.broker import publish, tail
from services.generator import eligible_rankings, generate
from services.persistence import Database, RoundStatus
from services.settings import Settings
from tests import factories
from tests.services.conftest import eventually
from tests.services.worker.conftest import ThreadedWorker

WORKER = "from services.cli.main import main; raise SystemExit(main(['worker']))"


class WorkerProcess:
    """`placement worker` in a child process, with the test's settings in its environment."""

    def __init__(self, settings: Settings, database: Database, scratch: Path) -> None:
        url = database.engine.url.render_as_string(hide_password=False)
        self.env = {
            **os.environ,
            "TMPDIR": str(scratch),  # a killed worker cannot remove its data directory
            "DATABASE_URL": url,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "TOPIC_PREFIX": settings.topic_prefix,
            "TOPIC_PARTITIONS": str(settings.topic_partitions),
            "WORKER_SESSION_TIMEOUT_S": str(settings.worker_session_timeout_s),
            "WORKER_COMMIT_INTERVAL_S": str(settings.worker_commit_interval_s),
        }
        self.process: subprocess.Popen[bytes] | None = None
        # both workers' output, for a failing test's report; closed in stop()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER], env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(30)
                except subprocess.TimeoutExpired:
                    self.kill()
                    pytest.fail("the worker did not stop on SIGTERM within 30 s")
        finally:
            self.log.close()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]


@pytest.fixture
def worker_process(
    worker_settings: Settings, database: Database, tmp_path: Path
) -> Iterator[WorkerProcess]:
    process = WorkerProcess(worker_settings, database, tmp_path)
    yield process
    process.stop()


def _cluster_events(students: int, schools: int) -> tuple[list[Envelope], list[Envelope]]:
    """A generated cluster as events: the catalogue first, then eligible-only rankings."""
    instance = generate(students, schools, seed=3)
    catalogue: list[Envelope] = [StudentRegistered(student=s) for s in instance.students]
    catalogue += [OfferSubmitted(offer=o) for o in instance.offers]
    lists, _ = eligible_rankings(instance)
    rankings: list[Envelope] = [PreferencesRanked(preferences=p) for p in lists if p.ranked]
    return catalogue, rankings


def _count(database: Database) -> tuple[int, int, int]:
    with database.unit_of_work() as uow:
        return (
            len(uow.students.find()),
            len(uow.offers.find()),
            len(uow.preferences.find()),
        )


def _round_status(database: Database, round_id: str) -> tuple[RoundStatus | None, float]:
    with database.unit_of_work() as uow:
        record = uow.rounds.get(round_id)
    return (None, 0.0) if record is None else (record.status, record.progress)


def _unpublished(database: Database) -> int:
    with database.unit_of_work() as uow:
        return len(uow.outbox.unpublished(100_000))


@pytest.mark.parametrize("when", ["while solving", "just after the commit"])
def test_a_worker_killed_during_a_committed_round_loses_no_allocation_and_publishes_none_twice(
    when: str, worker_process: WorkerProcess, worker_settings: Settings, database: Database
) -> None:
    catalogue, rankings = _cluster_events(1500, 4)
    students = sum(isinstance(e, StudentRegistered) for e in catalogue)
    worker_process.start()
    publish(worker_settings, catalogue)
    assert eventually(lambda: _count(database)[:2] == (students, len(catalogue) - students), 90), (
        worker_process.output()
    )
    publish(worker_settings, rankings)
    assert eventually(lambda: _count(database)[2] == len(rankings), 90), worker_process.output()

    command = RoundRequested(round_id="r-crash", scope="all", mode="commit")
    publish(worker_settings, [command])
    if when == "while solving":
        # Progress passes 10% once the snapshot is loaded and the engine is running.
        def solving() -> bool:
            status, progress = _round_status(database, "r-crash")
            return status is RoundStatus.RUNNING and progress >= 0.1

        assert eventually(solving, 90), worker_process.output()
    else:
        assert eventually(lambda: _round_status(database, "r-crash")[0] is RoundStatus.DONE, 90), (
            worker_process.output()
        )
    worker_process.kill()
    if when == "while solving":
        assert _round_status(database, "r-crash")[0] is RoundStatus.RUNNING

    worker_process.start()  # a new worker takes the partitions over and finishes the job
    assert eventually(lambda: _round_status(database, "r-crash")[0] is RoundStatus.DONE, 120), (
        worker_process.output()
    )
    assert eventually(lambda: _unpublished(database) == 0, 60)

    with database.unit_of_work() as uow:
        committed = {
            (a.allocation.student_id, a.allocation.offer_id)
            for a in uow.allocations.find(round_id="r-crash")
        }
    assert committed
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    completed: set[str] = set()
    for record in tail(worker_settings, "allocations", from_beginning=True, timeout=5):
        if isinstance(record.event, AllocationMade) and record.event.round_id == "r-crash":
            allocation = record.event.allocation
            ids[(allocation.student_id, allocation.offer_id)].add(record.event.event_id)
    for record in tail(worker_settings, "rounds", from_beginning=True, timeout=3):
        if isinstance(record.event, RoundCompleted) and record.event.round_id == "r-crash":
            completed.add(record.event.event_id)
    assert set(ids) == committed  # none lost, nothing published that was not committed
    assert all(len(event_ids) == 1 for event_ids in ids.values())  # none twice in effect
    assert len(completed) == 1


@pytest.fixture
def threaded(worker_settings: Settings, database: Database) -> Iterator[None]:
    with ThreadedWorker(worker_settings, database):
        yield


def test_a_poison_message_is_dead_lettered_and_the_next_good_event_is_applied(
    threaded: None, worker_settings: Settings, database: Database
) -> None:
    producer = KafkaProducer(bootstrap_servers=worker_settings.kafka_bootstrap_servers)
    topic = worker_settings.topic("students")
    producer.send(topic, key=b"s1", value=b'{"type": "student_registered", "student": 7}')
    good = StudentRegistered(student=factories.student("s1"))
    producer.send(topic, key=b"s1", value=good.model_dump_json().encode())
    producer.flush(10)
    producer.close()

    def stored() -> bool:
        with database.unit_of_work() as uow:
            return uow.students.get("s1") is not None

    assert eventually(stored, 30)
    (letter,) = tail(worker_settings, "dead-letter", from_beginning=True, limit=1, timeout=15)
    assert isinstance(letter.event, DeadLettered)
    assert letter.event.topic == "students" and letter.event.key == "s1"
    assert letter.event.original == '{"type": "student_registered", "student": 7}'
    assert [e.field for e in letter.event.errors] == ["student"]


def test_a_duplicate_event_changes_nothing_the_second_time(
    threaded: None, worker_settings: Settings, database: Database
) -> None:
    publish(worker_settings, [StudentRegistered(student=factories.student("s1"))])
    publish(worker_settings, [OfferSubmitted(offer=factories.offer("o1"))])
    publish(worker_settings, [PreferencesRanked(preferences=factories.prefs("s1", "o1"))])

    def ranked() -> bool:
        with database.unit_of_work() as uow:
            return uow.preferences.get("s1") is not None

    assert eventually(ranked, 30)
    publish(worker_settings, [RoundRequested(round_id="r1", scope="all", mode="commit")])
    assert eventually(lambda: _round_status(database, "r1")[0] is RoundStatus.DONE, 30)

    withdrawal = OfferWithdrawn(offer_id="o1", reason="venue closed")
    publish(worker_settings, [withdrawal, withdrawal])  # the same event id, twice

    def revoked() -> bool:
        with database.unit_of_work() as uow:
            return uow.offers.get_record("o1").withdrawn  # type: ignore[union-attr]

    assert eventually(revoked, 30)
    assert eventually(lambda: _unpublished(database) == 0, 30)
    revocations = [
        r.event
        for r in tail(worker_settings, "allocations", from_beginning=True, timeout=3)
        if r.event is not None and r.event.type == "allocation_revoked"
    ]
    assert len(revocations) == 1  # not two, and no "withdrawn twice" rejection either
    letters = list(tail(worker_settings, "dead-letter", from_beginning=True, timeout=2))
    assert letters == []
