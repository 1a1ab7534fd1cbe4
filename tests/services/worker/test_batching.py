"""ready_batches, through a faust agent's test context (in memory, no Kafka)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import pytest

from services.worker.batching import ready_batches
from tests.services.worker.test_agents import close_unstarted_consumer

Steps = Callable[[Any, "Handled"], Awaitable[None]]


class Handled:
    """What the agent was handed, and a gate that holds it inside a batch until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.fail_next = False

    async def handle(self, values: list[str]) -> None:
        self.batches.append(values)
        await self.gate.wait()
        self.gate.clear()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("handling failed")

    async def release(self) -> None:
        self.gate.set()
        await settle()


async def settle() -> None:
    await asyncio.sleep(0.05)


def run_agent(max_: int, within: float, steps: Steps) -> Handled:
    async def main() -> Handled:
        datadir = tempfile.mkdtemp(prefix="batching-test-")
        app = faust.App(
            "batching-test", broker="kafka://127.0.0.1:9", store="memory://", datadir=datadir
        )
        handled = Handled()

        async def agent(stream: Any) -> None:
            try:
                async for batch in ready_batches(stream, max_, within):
                    await handled.handle([e.value for e in batch])
            except RuntimeError:
                pass  # the agent stops; the test looks at the acks

        app.agent(name="batches")(agent)
        try:
            async with app.agents["batches"].test_context() as context:
                await steps(context, handled)
        finally:
            shutil.rmtree(datadir, ignore_errors=True)
            close_unstarted_consumer(app)
        return handled

    return asyncio.run(main())


def test_events_arriving_while_a_batch_is_handled_are_the_next_batch_without_waiting() -> None:
    async def steps(context: Any, handled: Handled) -> None:
        for value in ("a", "b"):
            await context.put(value)
        await settle()
        assert handled.batches == [["a", "b"]]  # full: handed over at once
        await context.put("c")
        await settle()
        assert handled.batches == [["a", "b"]]  # still inside the first batch
        async with asyncio.timeout(1):  # not full, yet not held for the 30 s `within`
            await handled.release()
        assert handled.batches == [["a", "b"], ["c"]]
        await handled.release()

    run_agent(max_=2, within=30.0, steps=steps)


def test_an_idle_agent_waits_within_for_more_events_but_hands_over_a_full_batch_at_once() -> None:
    async def steps(context: Any, handled: Handled) -> None:
        await context.put("a")
        await settle()
        assert handled.batches == []  # waiting up to 30 s for company...
        await context.put("b")
        await context.put("c")
        await settle()
        assert handled.batches == [["a", "b", "c"]]  # ...but full at three
        await handled.release()

    run_agent(max_=3, within=30.0, steps=steps)


def test_no_batch_holds_more_than_max_events() -> None:
    async def steps(context: Any, handled: Handled) -> None:
        await context.put("first")
        await settle()
        for i in range(7):  # not waiting: a full buffer holds the stream back
            await context.put(f"e{i}", wait=False)
        await settle()
        assert handled.batches == [["first"]]
        for _ in range(4):
            await handled.release()

    handled = run_agent(max_=3, within=0.0, steps=steps)

    assert handled.batches == [["first"], ["e0", "e1", "e2"], ["e3", "e4", "e5"], ["e6"]]


def test_events_are_acked_once_their_batch_is_handled_and_not_when_handling_raises() -> None:
    async def steps(context: Any, handled: Handled) -> None:
        first = await context.put("a")
        await settle()
        assert not first.message.acked  # being handled
        later = [await context.put(v) for v in ("b", "c")]
        await handled.release()
        assert first.message.acked
        assert not any(e.message.acked for e in later)  # buffered, now being handled
        handled.fail_next = True
        await handled.release()
        assert handled.batches == [["a"], ["b", "c"]]
        assert not any(e.message.acked for e in later)  # delivered again after a restart

    run_agent(max_=10, within=0.0, steps=steps)


def test_max_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_ must be at least 1"):
        ready_batches(object(), 0)
