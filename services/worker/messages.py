"""What handlers receive and send, with no Kafka in sight.

A `Message` is one record off a topic (its bytes, key and position). Handlers decode it with the
topic's schema, apply it in a unit of work and queue whatever follows (allocations, risks,
dead letters) in the outbox. Nothing is sent from a handler directly: the relay publishes the
outbox after the transaction commits, so a crash at any point loses nothing and repeats nothing
in effect.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas.events import (
    ANY_EVENT,
    TOPIC_ADAPTERS,
    AllocationMade,
    AllocationProposed,
    DeadLettered,
    Envelope,
    FieldError,
    allocation_events,
)
from schemas.result import Allocation
from services.broker.topics import ALLOCATIONS, DEAD_LETTER, route
from services.persistence import AbstractUnitOfWork

MAX_ID = 64  # schemas.common.Id


@dataclass(frozen=True)
class Message:
    topic: str  # the short name: "students"
    value: bytes | None
    key: str | None = None
    partition: int | None = None
    offset: int | None = None

    @property
    def where(self) -> str:
        if self.partition is None:
            return self.topic
        return f"{self.topic}[{self.partition}]@{self.offset}"


class Rejected(Exception):
    """A well-formed event that must not be applied; `field` and the message say why.

    `retry` marks a reason that time may cure: the event names a student or offer not stored
    yet, which happens when two topics are consumed at different speeds. Such an event is tried
    again for a while before it is dead-lettered.
    """

    def __init__(self, message: str, field: str = "", *, retry: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.retry = retry


def scoped_id(consumer: str, event_id: str) -> str:
    """The processed-event id of `event_id` for one consumer.

    Several agents consume the allocations topic, each with its own effects, so each claims an
    event under its own name; the ingest agents are an event's only consumers and use it bare.
    """
    scoped = f"{consumer}:{event_id}"
    if len(scoped) <= MAX_ID:
        return scoped
    return (
        f"{consumer}:{hashlib.sha256(event_id.encode()).hexdigest()[: MAX_ID - len(consumer) - 1]}"
    )


def decode(message: Message) -> Envelope:
    """The message's event, validated with its topic's schema; ValidationError if it is not one."""
    if message.value is None:
        raise ValueError("empty value (a tombstone), not an event")
    # A topic without a schema of its own (none in production) accepts any event.
    adapter = TOPIC_ADAPTERS.get(message.topic, ANY_EVENT)
    event: Envelope = adapter.validate_json(message.value)
    return event


def decode_or_letter(message: Message, consumer: str = "") -> Envelope | DeadLettered:
    """The message's event, or, when its bytes are not one, the dead letter that says why
    (the reason prefixed with `consumer`, when given). No topic a consumer decodes carries
    DeadLettered events, so the two cannot be confused."""
    try:
        return decode(message)
    except (ValidationError, ValueError) as error:
        errors = field_errors(error)
        reason = reason_of(errors)
        if consumer:
            reason = f"{consumer}: {reason}"
        return dead_letter(message, reason, errors, event_id_of(message.value))


def field_errors(error: ValidationError | ValueError) -> tuple[FieldError, ...]:
    if not isinstance(error, ValidationError):
        return (FieldError(field="", message=str(error)),)
    return tuple(
        FieldError(field=".".join(str(part) for part in e["loc"]), message=e["msg"])
        for e in error.errors(include_url=False, include_input=False)
    )


def reason_of(errors: tuple[FieldError, ...]) -> str:
    first = errors[0]
    text = f"{first.field}: {first.message}" if first.field else first.message
    more = len(errors) - 1
    return text if more == 0 else f"{text} (and {more} more problem{'s' * (more > 1)})"


def event_id_of(value: bytes | None) -> str | None:
    """The event_id of a message that did not validate, when one can be read from it."""
    if value is None:
        return None
    try:
        data: Any = json.loads(value)
    except ValueError:
        return None
    event_id = data.get("event_id") if isinstance(data, dict) else None
    return event_id if isinstance(event_id, str) and 0 < len(event_id) <= MAX_ID else None


def dead_letter(
    message: Message,
    reason: str,
    errors: tuple[FieldError, ...] = (),
    original_event_id: str | None = None,
) -> DeadLettered:
    """The dead letter for `message`. Its event_id is derived from the message, so a redelivered
    poison message is recognised as processed and not dead-lettered twice."""
    value = message.value or b""
    digest = hashlib.sha256(
        f"{message.topic}|{message.partition}|{message.offset}|{original_event_id}|".encode()
        + value
    ).hexdigest()
    return DeadLettered(
        event_id=f"dead-{digest[:40]}",
        source="placement-worker",
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        original_event_id=original_event_id,
        reason=reason,
        errors=errors or (FieldError(field="", message=reason),),
        original=value.decode("utf-8", errors="replace"),
        original_base64=base64.b64encode(value).decode("ascii"),
    )


def queue(uow: AbstractUnitOfWork, event: Envelope) -> None:
    """Queue `event` in the outbox for its topic and key."""
    topic, key = route(event)
    uow.outbox.add(event, topic, key)


def queue_many(uow: AbstractUnitOfWork, events: Iterable[Envelope]) -> None:
    """Queue `events` in order, at once (a round queues one per allocation)."""
    uow.outbox.add_many((event, *route(event)) for event in events)


def queue_allocations(
    uow: AbstractUnitOfWork,
    kind: type[AllocationMade] | type[AllocationProposed],
    source: str,
    round_id: str,
    allocations: Iterable[Allocation],
) -> None:
    """Queue one `kind` event per allocation, in order, as `queue_many` would, straight in
    their wire form (`schemas.events.allocation_events`): a round queues tens of thousands."""
    uow.outbox.add_serialised(
        (event_id, ALLOCATIONS, allocation.student_id, payload)
        for event_id, allocation, payload in allocation_events(kind, source, round_id, allocations)
    )


def queue_dead_letter(uow: AbstractUnitOfWork, letter: DeadLettered) -> bool:
    """Queue a dead letter once: False if this very letter was queued before."""
    if not uow.mark_processed(letter.event_id, DEAD_LETTER):
        return False
    queue(uow, letter)
    return True
