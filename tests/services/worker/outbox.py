"""Helpers shared by the worker's handler tests (ingest, rounds, downstream), without Kafka.

Messages in as a consumer would read them, records seeded straight into the repositories,
and what the handlers left behind: the outbox and the allocations' statuses.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from schemas.entities import Offer, PreferenceList, Student
from schemas.events import Envelope
from services.broker.topics import route
from services.persistence import AllocationStatus, UnitOfWorkFactory
from services.worker.messages import Message

Queued = tuple[str, str, dict[str, Any]]  # topic, key, payload


def message(event: Envelope, offset: int = 0) -> Message:
    """The record a consumer would read for `event`, on partition 0 at `offset`."""
    topic, key = route(event)
    return Message(topic, event.model_dump_json().encode(), key, 0, offset)


def seed(
    uow_factory: UnitOfWorkFactory,
    students: Iterable[Student] = (),
    offers: Iterable[Offer] = (),
    preferences: Iterable[PreferenceList] = (),
    deadline: dt.datetime | None = None,
) -> None:
    """Store the records directly, in one transaction; `deadline` is the offers' preference
    deadline."""
    with uow_factory() as uow:
        for student in students:
            uow.students.add(student)
        for offer in offers:
            uow.offers.add(offer, deadline)
        for ranking in preferences:
            uow.preferences.add(ranking)
        uow.commit()


def queued(uow_factory: UnitOfWorkFactory) -> list[Queued]:
    """What is waiting in the outbox, in order."""
    with uow_factory() as uow:
        return [(m.topic, m.key, json.loads(m.payload)) for m in uow.outbox.unpublished(1000)]


def drain(uow_factory: UnitOfWorkFactory) -> list[Queued]:
    """What is waiting in the outbox, marked published: later calls see only what is new."""
    with uow_factory() as uow:
        pending = uow.outbox.unpublished(1000)
        uow.outbox.mark_published([m.id for m in pending])
        uow.commit()
    return [(m.topic, m.key, json.loads(m.payload)) for m in pending]


def dead_letters(uow_factory: UnitOfWorkFactory) -> list[dict[str, Any]]:
    """The payloads of the dead letters waiting in the outbox, in order."""
    return [payload for topic, _, payload in queued(uow_factory) if topic == "dead-letter"]


def statuses(uow_factory: UnitOfWorkFactory) -> dict[tuple[str, str, str], AllocationStatus]:
    """Every stored allocation's status, by (round, student, offer)."""
    with uow_factory() as uow:
        return {
            (a.round_id, a.allocation.student_id, a.allocation.offer_id): a.status
            for a in uow.allocations.find()
        }
