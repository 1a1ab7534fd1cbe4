"""A worker running in a background thread against the real broker and database."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import TracebackType

import pytest

from services.persistence import Database
from services.settings import Settings
from services.worker.app import Worker
from services.worker.runner import running_worker

START_TIMEOUT_S = 60.0


class ThreadedWorker:
    """`with ThreadedWorker(settings, db) as worker:` a consuming worker; stopped on exit."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.worker: Worker | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="test-worker", daemon=True)

    def __enter__(self) -> Worker:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise TimeoutError("the worker did not join its group in time")
        if self._error is not None:
            raise self._error
        assert self.worker is not None
        return self.worker

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the worker did not stop"
        if self._error is not None and exc is None:
            raise self._error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # surfaced to the test in __enter__/__exit__
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_worker(self.settings, self.db) as worker:
            self.worker = worker
            self._ready.set()
            await self._stop.wait()


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    """Short group timeouts: the embedded broker's joins take about one session timeout."""
    return settings.model_copy(
        update={"worker_session_timeout_s": 1.0, "worker_commit_interval_s": 0.2}
    )


@pytest.fixture
def running(worker_settings: Settings, database: Database) -> Iterator[Worker]:
    with ThreadedWorker(worker_settings, database) as worker:
        yield worker
