"""`placement up --demo`: a generated school cluster, through the service, end to end.

Everything goes the way production traffic does: the demo publishes events to the broker, the
worker ingests them, a round command is published, the worker commits the round, and the relay
publishes allocations, risk flags and coverage. The demo only watches, and prints coverage.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas.events import (
    Envelope,
    OfferSubmitted,
    PreferencesRanked,
    RoundRequested,
    StudentRegistered,
)
from services.broker import publish
from services.cli.loading import InputError
from services.cli.service import fetch_round, print_coverage, print_round, round_progress
from services.generator import eligible_rankings, generate
from services.persistence import Database, RoundRecord
from services.persistence.records import utcnow
from services.settings import Settings
from services.worker.app import Worker

SOURCE = "placement-demo"
INGEST_TIMEOUT_S = 300.0
ROUND_TIMEOUT_S = 900.0


async def run_demo(
    settings: Settings, db: Database, worker: Worker, console: Console, args: argparse.Namespace
) -> None:
    loop = asyncio.get_running_loop()
    instance = generate(args.students, args.schools, args.seed)
    schools = sorted({s.school_id for s in instance.students})
    console.print(
        f"Demo: {len(instance.students):,} students in {len(schools)} schools, "
        f"{len(instance.offers):,} offers, {len(instance.preferences):,} preference lists."
    )
    catalogue: list[Envelope] = [
        *(StudentRegistered(student=s, source=SOURCE) for s in instance.students),
        *(OfferSubmitted(offer=o, source=SOURCE) for o in instance.offers),
    ]
    # The generator lets students rank offers they may not take (the engine explains those);
    # the service refuses such a ranking, as the student pages will, so the demo's students
    # rank only what they are eligible for.
    preferences, trimmed = eligible_rankings(instance)
    console.print(
        f"{trimmed:,} generated lists named offers their student is not eligible for "
        "(no consent, a missing subject, lapsed insurance); those offers are left out."
    )
    rankings: list[Envelope] = [
        PreferencesRanked(preferences=p, source=SOURCE) for p in preferences if p.ranked
    ]
    # Preferences name students and offers, so those go first.
    await _publish_and_wait(loop, settings, worker, console, "students and offers", catalogue)
    await _publish_and_wait(loop, settings, worker, console, "preferences", rankings)
    if worker.totals.dead_lettered:
        console.print(
            f"{worker.totals.dead_lettered:,} events were dead-lettered; see them with "
            "`placement events tail dead-letter --from-beginning`"
        )

    round_id = f"demo-{utcnow():%Y%m%d-%H%M%S}"
    command = RoundRequested(
        round_id=round_id,
        scope="cluster",
        school_ids=tuple(schools),
        mode="commit",
        seed=args.seed,
        source=SOURCE,
    )
    started = time.monotonic()
    await loop.run_in_executor(None, publish, settings, [command])
    record = await _follow(loop, db, round_id, console)
    relay = worker.relay
    if relay is not None:  # wait (in short steps, so Ctrl-C is not held up) for the last event
        deadline = time.monotonic() + 60
        while not await loop.run_in_executor(None, relay.drained, 0.5):
            if time.monotonic() > deadline:
                break
    console.print(
        f"Round published in {time.monotonic() - started:.1f} s from command to the last event."
    )
    print_round(console, record)
    print_coverage(console, db)
    console.print(
        "See the events: placement events tail allocations --from-beginning --limit 5  "
        "(also risks, coverage, rounds, dead-letter)"
    )


async def _follow(
    loop: asyncio.AbstractEventLoop, db: Database, round_id: str, console: Console
) -> RoundRecord:
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    with round_progress(console, round_id) as show:
        while True:
            record = await loop.run_in_executor(None, fetch_round, db, round_id)
            if show(record):
                assert record is not None
                return record
            if time.monotonic() > deadline:
                raise InputError(f"round {round_id} did not finish in {ROUND_TIMEOUT_S:g} s")
            await asyncio.sleep(0.2)


async def _publish_and_wait(
    loop: asyncio.AbstractEventLoop,
    settings: Settings,
    worker: Worker,
    console: Console,
    what: str,
    events: Sequence[Envelope],
) -> None:
    before = _handled(worker)
    await loop.run_in_executor(None, publish, settings, events)
    columns = (
        TextColumn(f"ingesting {what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    deadline = time.monotonic() + INGEST_TIMEOUT_S
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(what, total=len(events))
        while (done := _handled(worker) - before) < len(events):
            bar.update(task, completed=done)
            if time.monotonic() > deadline:
                raise InputError(
                    f"the worker handled {done:,} of {len(events):,} {what} in "
                    f"{INGEST_TIMEOUT_S:g} s; is it stuck? (check its log above)"
                )
            await asyncio.sleep(0.1)
    console.print(f"Ingested {len(events):,} {what}.")


def _handled(worker: Worker) -> int:
    totals = worker.totals
    return totals.applied + totals.duplicates + totals.dead_lettered
