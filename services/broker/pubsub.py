"""Publish events and tail topics with kafka-python: what the CLI and the tests use.

`tail` assigns partitions itself instead of joining a consumer group: kafka-python's group
consumer never completes its join with the embedded broker, and a tail needs no group anyway
(it commits nothing and should not take partitions from the workers).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from pydantic import ValidationError

from schemas.events import TOPIC_ADAPTERS, Envelope
from services.broker.connection import client_options, unreachable
from services.broker.errors import BrokerUnavailable, UnknownTopic
from services.broker.topics import route, topic_named
from services.settings import Settings

FLUSH_TIMEOUT_S = 30.0  # every published event acknowledged within this, or publish fails
# A record batch per partition, before it is sent: a file of events goes out in a few large
# produce requests rather than one per 16 KB (kafka-python's default): the 660 catalogue
# events of one school were acknowledged in 0.080 s instead of 0.107 s (medians of 8).
PUBLISH_BATCH_BYTES = 256 * 1024
CATCH_UP_TIMEOUT_S = 10.0  # finding the real end of every partition (see _catch_up)
_POLL_MS = 200  # one fetch wait; bounds how late `tail` notices its timeout or a Ctrl-C


@dataclass(frozen=True)
class Received:
    """One record read from a topic.

    `event` is the decoded event; None when the bytes are not a valid event of that topic, and
    then `error` says why.
    """

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    event: Envelope | None = None
    error: str | None = None


def publish(
    settings: Settings, events: Iterable[Envelope], sending: Callable[[], None] | None = None
) -> Counter[str]:
    """Validate, serialise and send each event to its topic with its key; wait for every ack.

    Returns the count per topic (short names). The topics must exist (`provision` first): some
    brokers, tansu among them, otherwise create a topic with their own default partition count.
    `sending` is called once the records are ready and the producer knows the topics'
    partitions, just before the first record goes out (a benchmark starts its clock there).
    """
    records = [_record(event) for event in events]  # all validated before anything is sent
    counts: Counter[str] = Counter()
    if not records:
        return counts
    producer = _connect(settings, KafkaProducer, batch_size=PUBLISH_BATCH_BYTES)
    try:
        for name in sorted({settings.topic(topic) for topic, _, _ in records}):
            producer.partitions_for(name)  # metadata now, not on the first send
        if sending is not None:
            sending()
        futures = [
            producer.send(settings.topic(topic), key=key, value=value)
            for topic, key, value in records
        ]
        producer.flush(timeout=FLUSH_TIMEOUT_S)
        for future in futures:
            if not future.is_done or future.failed():
                reason = future.exception or f"not acknowledged within {FLUSH_TIMEOUT_S:g} s"
                raise BrokerUnavailable(f"publishing failed: {reason}")
    except KafkaError as error:
        raise unreachable(settings, error) from None
    finally:
        producer.close()
    counts.update(topic for topic, _, _ in records)
    return counts


def tail(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = False,
    limit: int | None = None,
    timeout: float | None = None,
) -> Iterator[Received]:
    """Yield the records of `topic` (short name) as they arrive, decoded where possible.

    Starts at the end of every partition (only new records), or at the beginning. Stops after
    `limit` records, or once `timeout` seconds pass without a new one; with neither it follows
    until the caller stops iterating. Undecodable records are yielded with their error, never
    raised, so one poison record cannot stop a tail.
    """
    entry = topic_named(topic, settings)
    name = settings.topic(entry.name)
    # No group: nothing committed, no partitions taken from workers. A short fetch wait keeps
    # the tail responsive (kafka-python's default is 500 ms per empty fetch).
    consumer = _connect(settings, KafkaConsumer, enable_auto_commit=False, fetch_max_wait_ms=100)
    try:
        partitions = sorted(consumer.partitions_for_topic(name))
        if not partitions:
            raise UnknownTopic(f"topic {name} does not exist on the broker (not provisioned yet)")
        assigned = [TopicPartition(name, partition) for partition in partitions]
        consumer.assign(assigned)
        if from_beginning:
            consumer.seek_to_beginning(*assigned)
        else:
            consumer.seek_to_end(*assigned)
            _catch_up(consumer, assigned)
        for partition in assigned:  # resolve now: a record sent after this line is included
            consumer.position(partition)
        yield from _follow(consumer, entry.name, limit, timeout)
    except KafkaError as error:
        raise unreachable(settings, error) from None
    finally:
        consumer.close()


def decode(topic: str, record: Any) -> Received:
    """A kafka-python record as `Received`, validated with the topic's schema if it has one."""
    key = record.key.decode("utf-8", errors="replace") if record.key is not None else None
    received = Received(record.topic, record.partition, record.offset, key, record.value)
    adapter = TOPIC_ADAPTERS.get(topic)
    if adapter is None:
        return received
    if record.value is None:
        return _with(received, error="empty value (a tombstone), not an event")
    try:
        event = adapter.validate_json(record.value)
    except ValidationError as error:
        return _with(received, error=describe(error))
    return _with(received, event=event)


def describe(error: ValidationError) -> str:
    """The first problem as `field.path: message`, and how many more there are."""
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    if first["type"] == "json_invalid":
        return f"invalid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    path = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ").replace("\n", " ")
    more = len(problems) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{path}: {message}{suffix}" if path else f"{message}{suffix}"


def _catch_up(consumer: Any, partitions: list[Any]) -> None:
    """Move each partition from its reported end to its real end, dropping what lies between.

    tansu 0.6.0 answers "latest offset" with the base offset of the partition's last record
    batch plus one, not the offset after its last record, so a tail started there would replay
    the rest of that batch. The high watermark in a fetch response is right: read and drop
    records until each position reaches it. Against Apache Kafka the first fetch already shows
    position == high watermark and nothing is dropped.
    """
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    pending = set(partitions)
    while True:
        done = {
            tp
            for tp in pending
            if (high := consumer.highwater(tp)) is not None and consumer.position(tp) >= high
        }
        consumer.pause(*done)  # records arriving there from now on are new: keep them
        pending -= done
        if not pending:
            consumer.resume(*partitions)
            return
        if time.monotonic() >= deadline:
            raise BrokerUnavailable(
                f"could not find the end of {len(pending)} partition(s) of "
                f"{partitions[0].topic} within {CATCH_UP_TIMEOUT_S:g} s"
            )
        consumer.poll(timeout_ms=_POLL_MS)  # records before the real end: not part of the tail


def _follow(
    consumer: Any, topic: str, limit: int | None, timeout: float | None
) -> Iterator[Received]:
    yielded = 0
    last_seen = time.monotonic()
    while limit is None or yielded < limit:
        batches = consumer.poll(
            timeout_ms=_POLL_MS, max_records=None if limit is None else limit - yielded
        )
        if not batches:
            if timeout is not None and time.monotonic() - last_seen >= timeout:
                return
            continue
        last_seen = time.monotonic()
        for partition in sorted(batches, key=lambda tp: tp.partition):
            for record in batches[partition]:
                yield decode(topic, record)
                yielded += 1


def _record(event: Envelope) -> tuple[str, bytes, bytes]:
    """(topic, key, value); the value is re-read with the topic's schema before it is sent."""
    topic, key = route(event)
    value = event.model_dump_json().encode()
    TOPIC_ADAPTERS[topic].validate_json(value)  # what consumers will accept, byte for byte
    return topic, key.encode(), value


def _connect(settings: Settings, client: Any, **options: Any) -> Any:
    try:
        return client(**client_options(settings), **options)
    except KafkaError as error:
        raise unreachable(settings, error) from None


def _with(received: Received, **changes: Any) -> Received:
    return replace(received, **changes)
