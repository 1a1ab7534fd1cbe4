"""Run a worker until asked to stop: provisioning, the faust app and the outbox relay together.

    async with running_worker(settings, db) as worker:
        ...                                   # consuming; worker.relay publishes the outbox

`placement up` starts the embedded broker and runs the migrations before this; `placement
worker` runs it against the Kafka cluster and database the settings name.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.broker import provision
from services.persistence import Clock, Database
from services.persistence.records import utcnow
from services.settings import Settings
from services.worker.app import Worker
from services.worker.relay import RelayThread

READY_TIMEOUT_S = 60.0


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, db: Database, clock: Clock = utcnow
) -> AsyncIterator[Worker]:
    """A started worker that has joined its group; stopped (relay drained) on the way out."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, provision, settings)
    db.keep_outbox_payloads()  # the relay publishes what this process commits: no need to read it
    worker = Worker(settings, db, clock=clock, relay=RelayThread(settings, db.unit_of_work))
    await worker.start()
    try:
        await worker.ready(READY_TIMEOUT_S)
        yield worker
    finally:
        await worker.stop()
