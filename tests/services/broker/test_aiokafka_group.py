"""faust consumes through aiokafka consumer groups: prove a group works on the embedded broker."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer

from schemas.events import StudentRegistered
from services.broker import publish
from services.settings import Settings
from tests import factories
from tests.services.broker.samples import registrations


async def _consume_keys(settings: Settings, group: str, count: int) -> list[str]:
    """Join `group`, read `count` records of the students topic, commit, leave."""
    consumer = AIOKafkaConsumer(
        settings.topic("students"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # tansu's join (and a rejoin after a member left) takes about as long as the session
        # timeout, or more: 5 s, then 7 s, with aiokafka's defaults; 1 s each here
        heartbeat_interval_ms=100,
        session_timeout_ms=1_000,
        rebalance_timeout_ms=300,
    )
    await consumer.start()
    try:
        keys: list[str] = []
        async with asyncio.timeout(15):
            while len(keys) < count:
                batches = await consumer.getmany(timeout_ms=200)
                keys += [r.key.decode() for records in batches.values() for r in records]
        await consumer.commit()
        return keys
    finally:
        await consumer.stop()


def test_an_aiokafka_consumer_group_consumes_commits_and_resumes_after_a_restart(
    provisioned: Settings,
) -> None:
    group = f"{provisioned.topic_prefix}workers"
    first = registrations(9)
    publish(provisioned, first)
    keys = asyncio.run(_consume_keys(provisioned, group, len(first)))
    assert sorted(keys) == sorted(e.student.student_id for e in first)  # type: ignore[attr-defined]

    # A restarted member of the same group starts from the committed offsets: only new events.
    publish(provisioned, [StudentRegistered(student=factories.student("s-late"))])
    assert asyncio.run(_consume_keys(provisioned, group, 1)) == ["s-late"]
