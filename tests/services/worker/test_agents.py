"""The faust agents, through faust's agent test context and the in-memory store: no Kafka.

These prove the wiring (which agent reads which topic, bytes in, handler called, outbox out);
the handlers' rules are tested in test_ingest, test_rounds and test_downstream.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from schemas.events import (
    OfferSubmitted,
    PreferencesRanked,
    RoundRequested,
    StudentRegistered,
)
from services.persistence import MemoryStore, MemoryUnitOfWork, RoundStatus
from services.settings import Settings
from services.worker.app import Worker
from tests import factories
from tests.services.conftest import Ticker

UNREACHABLE = Settings(kafka_bootstrap_servers="127.0.0.1:9")  # the test context never connects


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


Steps = Callable[[Worker], Awaitable[None]]


def with_worker(store: MemoryStore, steps: Steps) -> Worker:
    """Build a worker on `store` inside an event loop (faust binds to the running loop) and
    run `steps` against its agents."""

    async def main() -> Worker:
        clock = Ticker()
        worker = Worker(
            UNREACHABLE, uow_factory=lambda: MemoryUnitOfWork(store, clock), clock=clock
        )
        try:
            await steps(worker)
        finally:
            shutil.rmtree(worker.datadir, ignore_errors=True)
            close_unstarted_consumer(worker.app)
        return worker

    return asyncio.run(main())


def close_unstarted_consumer(app: Any) -> None:
    """Iterating an agent's stream makes faust build the app's Kafka consumer, whose consumer
    thread creates an event loop at once; never started, nothing closes it. A started worker
    closes it in `stop()`."""
    consumer = getattr(app, "_consumer", None)
    thread = getattr(consumer, "_thread", None)
    loop = getattr(thread, "thread_loop", None)
    if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_running():
        loop.close()


async def put(
    worker: Worker, agent_name: str, *values: bytes, until: Callable[[], bool] | None = None
) -> None:
    """Send `values` to the agent, then wait until `until()` holds (by default: until the
    ingest totals count them all), at most 20 s."""
    handled = worker.totals.applied + worker.totals.dead_lettered
    done = until or (
        lambda: worker.totals.applied + worker.totals.dead_lettered >= handled + len(values)
    )
    agent = worker.app.agents[agent_name]
    async with agent.test_context() as context:
        for value in values:
            await context.put(value=value, key=b"k")
        async with asyncio.timeout(20):
            while not done():
                await asyncio.sleep(0.02)


def outbox_types(store: MemoryStore) -> list[tuple[str, str]]:
    return [(m.topic, json.loads(m.payload)["type"]) for m in store.outbox.values()]


def test_the_students_agent_stores_a_good_event_and_dead_letters_a_poison_one(
    store: MemoryStore,
) -> None:
    good = StudentRegistered(student=factories.student("s1")).model_dump_json().encode()

    worker = with_worker(store, lambda w: put(w, "ingest-students", b"\x00 not json", good))

    assert list(store.students) == ["s1"]
    assert outbox_types(store) == [("dead-letter", "dead_lettered")]
    assert worker.totals.applied == 1 and worker.totals.dead_lettered == 1


def test_the_offers_and_preferences_agents_store_what_they_read(store: MemoryStore) -> None:
    store.students["s1"] = factories.student("s1")
    ranking = PreferencesRanked(preferences=factories.prefs("s1", "o1")).model_dump_json()

    async def steps(worker: Worker) -> None:
        await put(worker, "ingest-offers", _offer_bytes())
        await put(worker, "ingest-preferences", ranking.encode())

    with_worker(store, steps)

    assert list(store.offers) == ["o1"]
    assert store.preferences["s1"].ranked == ("o1",)


def test_the_rounds_agent_runs_a_commit_and_the_downstream_agents_follow_it(
    store: MemoryStore,
) -> None:
    store.students["s1"] = factories.student("s1")
    command = RoundRequested(round_id="r1", scope="school", school_ids=("sch1",), mode="commit")

    def made() -> list[bytes]:
        return [
            m.payload
            for m in store.outbox.values()
            if json.loads(m.payload)["type"] == "allocation_made"
        ]

    async def steps(worker: Worker) -> None:
        await put(worker, "ingest-offers", _offer_bytes())
        store.preferences["s1"] = factories.prefs("s1", "o1")
        await put(worker, "rounds", command.model_dump_json().encode(), until=lambda: bool(made()))
        assert store.rounds["r1"].status is RoundStatus.DONE
        assert [json.loads(p)["allocation"]["student_id"] for p in made()] == ["s1"]
        await put(worker, "coverage", *made(), until=lambda: bool(coverage()))

    def coverage() -> list[tuple[str, str]]:
        return [t for t in outbox_types(store) if t == ("coverage", "coverage_updated")]

    with_worker(store, steps)
    assert coverage()


def test_the_rounds_agent_skips_what_is_not_a_round_command(store: MemoryStore) -> None:
    async def steps(worker: Worker) -> None:
        await put(worker, "rounds", b'{"type": "something_else"}', until=lambda: True)
        await asyncio.sleep(0.3)  # nothing to wait for: give it the time it would take

    worker = with_worker(store, steps)
    assert store.rounds == {} and worker.rounds_run == []


def _offer_bytes() -> bytes:
    return OfferSubmitted(offer=factories.offer("o1")).model_dump_json().encode()
