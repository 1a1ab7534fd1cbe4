"""The faust worker: thin agents that hand batches of messages to the handlers.

    worker = Worker(settings, db)          # builds the faust app and its agents
    await worker.start(); ...; await worker.stop()

Every agent does the same three things: turn faust events into `Message`s, run the handler in a
thread (handlers are synchronous database work, and a round's solve takes seconds; the event
loop must stay free for the consumer's heartbeats), then wake the outbox relay. All decisions
live in the handlers (ingest, rounds, downstream), which are tested without Kafka.

Agents and their topics:
- ingest-students, -offers, -preferences, -attendance: validate and store (worker.ingest);
- rounds: run allocation rounds (services.worker.rounds), one at a time per worker;
- risk-check: re-check the allocations of each committed round (rounds topic);
- coverage: recompute coverage of the schools touched (rounds, attendance and students).

All workers with the same settings form one consumer group and share the partitions.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import faust

from matching.warmup import warm_up
from schemas.events import RoundRequested
from services.broker.connection import bootstrap_servers
from services.persistence import Clock, Database, RoundRecord, UnitOfWorkFactory
from services.persistence.records import utcnow
from services.settings import Settings
from services.worker.batching import ready_batches
from services.worker.consumer import use_prompt_consumer
from services.worker.downstream import Coverage, check_risks
from services.worker.ingest import INGEST_TOPICS, Outcome, ingest
from services.worker.messages import Message, decode
from services.worker.relay import RelayThread
from services.worker.rounds import run_round

log = logging.getLogger(__name__)

T = TypeVar("T")

INGEST_BATCH = 1000  # events per ingest transaction, at most
INGEST_WITHIN_S = 0.02  # how long the first event on an idle agent waits for company
DOWNSTREAM_BATCH = 5000
DOWNSTREAM_WITHIN_S = 0.25
RETRY_EVERY_S = 0.2  # an event naming a record not stored yet is tried again this often...
RETRY_FOR_S = 10.0  # ...for this long, then dead-lettered


class Worker:
    def __init__(
        self,
        settings: Settings,
        db: Database | None = None,
        *,
        uow_factory: UnitOfWorkFactory | None = None,
        snapshot_factory: UnitOfWorkFactory | None = None,
        clock: Clock = utcnow,
        relay: RelayThread | None = None,
    ) -> None:
        if uow_factory is None:
            if db is None:
                raise ValueError("give a Database or a unit-of-work factory")
            uow_factory = db.unit_of_work
            snapshot_factory = lambda: db.unit_of_work(snapshot=True)  # noqa: E731
        if settings.embedded_broker:
            raise ValueError(
                "KAFKA_BOOTSTRAP_SERVERS is empty: start the embedded broker first "
                "(`placement up` does) or point it at a Kafka cluster"
            )
        self.settings = settings
        self.uow_factory = uow_factory
        self.snapshot_factory = snapshot_factory or uow_factory
        self.clock = clock
        self.relay = relay
        self.coverage = Coverage(clock)
        self.totals = Outcome()
        self.rounds_run: list[RoundRecord] = []
        # faust keeps a data directory even with in-memory tables; ours is private and temporary
        self.datadir = Path(tempfile.gettempdir()) / f"placement-worker-{uuid.uuid4().hex}"
        # One thread per agent: each agent's batches stay in order, agents run side by side.
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self.app = self._build_app()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.relay is not None:
            self.relay.start()
        # The engine's compiled kernels, loaded (or compiled, the first time on a machine)
        # on the rounds agent's thread before its first round, without holding up the start.
        self._pool("rounds").submit(_warm_up)
        await self.app.start()
        # What is loaded by now (modules, the app, its clients) lives as long as the worker:
        # out of the collector's way, a full collection no longer walks it (0.2-0.9 s each).
        gc.freeze()

    async def stop(self) -> None:
        await self.app.stop()
        if self.relay is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.relay.stop)
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        shutil.rmtree(self.datadir, ignore_errors=True)

    async def ready(self, timeout: float = 60.0) -> None:
        """Wait until this worker has been assigned its partitions (it is consuming)."""
        deadline = time.monotonic() + timeout
        while not self.app.consumer.assignment():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no partitions assigned within {timeout:g} s")
            await asyncio.sleep(0.05)

    # -- the faust app -----------------------------------------------------------------------

    def _build_app(self) -> faust.App:
        settings = self.settings
        timeout = settings.worker_session_timeout_s
        app = faust.App(
            f"{settings.topic_prefix}worker",
            broker=[f"kafka://{server}" for server in bootstrap_servers(settings)],
            store="memory://",
            datadir=self.datadir,
            web_enabled=False,
            topic_allow_declare=False,  # provisioned with the admin client, see broker.topics
            topic_disable_leader=True,
            topic_partitions=settings.topic_partitions,
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=timeout,
            broker_heartbeat_interval=timeout / 10,
            broker_rebalance_timeout=timeout,
            broker_commit_interval=settings.worker_commit_interval_s,
            producer_acks=-1,
            # Stopping (or a rebalance) does not wait for in-flight messages to be processed:
            # handlers are idempotent and offsets are committed only for processed messages,
            # so whatever was in flight is simply delivered again.
            stream_wait_empty=False,
        )
        use_prompt_consumer(app)

        def topic(*names: str) -> Any:
            return app.topic(
                *(settings.topic(n) for n in names), value_serializer="raw", key_serializer="raw"
            )

        for name in INGEST_TOPICS:
            app.agent(topic(name), name=f"ingest-{name}")(self._ingest_agent(name))
        app.agent(topic("rounds"), name="rounds")(self._rounds_agent)
        # The downstream agents follow rounds, not their tens of thousands of allocation
        # events: one RoundCompleted stands for a whole committed round.
        app.agent(topic("rounds"), name="risk-check")(self._risk_agent)
        app.agent(topic("rounds", "attendance", "students"), name="coverage")(self._coverage_agent)
        return app

    def _messages(self, events: Sequence[Any]) -> list[Message]:
        out = []
        for event in events:
            message = event.message
            short = message.topic.removeprefix(self.settings.topic_prefix)
            key = message.key.decode("utf-8", errors="replace") if message.key else None
            out.append(Message(short, message.value, key, message.partition, message.offset))
        return out

    async def _run(self, agent: str, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool(agent), fn, *args)

    def _pool(self, agent: str) -> ThreadPoolExecutor:
        """The agent's own thread: its handlers run one at a time, in order."""
        pool = self._pools.get(agent)
        if pool is None:
            pool = self._pools[agent] = ThreadPoolExecutor(1, thread_name_prefix=agent)
        return pool

    def _wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def _ingest_agent(self, name: str) -> Callable[[Any], Any]:
        async def agent(stream: Any) -> None:
            async for events in ready_batches(stream, INGEST_BATCH, INGEST_WITHIN_S):
                await self.ingest(f"ingest-{name}", self._messages(events))

        agent.__name__ = f"ingest_{name}"
        return agent

    async def ingest(self, agent: str, messages: list[Message]) -> Outcome:
        """Apply a batch; offer events that name records not stored yet again for a while."""
        started = time.monotonic()
        outcome = await self._run(agent, ingest, self.uow_factory, messages, self.clock)
        while outcome.retry:
            final = time.monotonic() - started >= RETRY_FOR_S
            if not final:
                await asyncio.sleep(RETRY_EVERY_S)
            retried = await self._run(
                agent,
                lambda m=outcome.retry, f=final: ingest(self.uow_factory, m, self.clock, final=f),
            )
            outcome.retry = []
            outcome.add(retried)
        self.totals.add(outcome)
        self._wake_relay()
        return outcome

    async def _rounds_agent(self, stream: Any) -> None:
        async for events in stream.take_events(1, within=0.01):
            for message in self._messages(events):
                try:
                    event = decode(message)
                except ValueError:  # pydantic's ValidationError is one
                    log.warning("rounds: %s is not a round event; skipped", message.where)
                    continue
                if isinstance(event, RoundRequested):
                    await self.run_round(event)

    async def run_round(self, event: RoundRequested) -> RoundRecord | None:
        record = await self._run(
            "rounds",
            lambda: run_round(
                self.uow_factory,
                event,
                self.clock,
                snapshot=self.snapshot_factory,
                on_progress=lambda r: log.info(
                    "round %s: %.0f%% %s", r.round_id, 100 * r.progress, r.message
                ),
            ),
        )
        if record is not None:
            self.rounds_run.append(record)
            log.info("round %s %s: %s", record.round_id, record.status, record.message)
        self._wake_relay()
        return record

    async def _risk_agent(self, stream: Any) -> None:
        async for events in stream.take_events(DOWNSTREAM_BATCH, within=DOWNSTREAM_WITHIN_S):
            await self._run("risk-check", check_risks, self.uow_factory, self._messages(events))
            self._wake_relay()

    async def _coverage_agent(self, stream: Any) -> None:
        async for events in stream.take_events(DOWNSTREAM_BATCH, within=DOWNSTREAM_WITHIN_S):
            await self._run(
                "coverage", self.coverage.update, self.uow_factory, self._messages(events)
            )
            self._wake_relay()


def _warm_up() -> None:
    try:
        log.info("engine kernels ready in %.1f s", warm_up())
    except Exception:  # the first round compiles them itself, and reports what fails
        log.exception("could not prepare the engine's kernels ahead of the first round")
