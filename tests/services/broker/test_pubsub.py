"""Publish and tail against the real embedded broker: keys, partitions, poison, and the end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schemas.events import DeadLettered, RoundRequested
from services.broker import (
    DEAD_LETTER,
    BrokerUnavailable,
    Received,
    UnknownTopic,
    publish,
    route,
    tail,
)
from services.settings import Settings
from tests.services.broker.conftest import PARTITIONS, eventually
from tests.services.broker.samples import one_of_each, registrations


@pytest.fixture
def raw_producer(settings: Settings) -> Iterator[Any]:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    yield producer
    producer.close()


def _expected_partition(key: str) -> int:
    """Where aiokafka, faust's client, would put the key (murmur2, as the Java client does)."""
    partitions = list(range(PARTITIONS))
    return int(DefaultPartitioner()(key.encode(), partitions, partitions))


def test_published_events_come_back_from_tail_with_their_keys_and_partitions(
    provisioned: Settings,
) -> None:
    events = [*one_of_each(), *registrations(12)]
    counts = publish(provisioned, events)
    assert sum(counts.values()) == len(events) and counts["students"] == 13

    received: list[Received] = []
    for topic in {route(event)[0] for event in events}:
        got = list(tail(provisioned, topic, from_beginning=True, limit=counts[topic], timeout=5))
        assert len(got) == counts[topic], topic
        received += got
    assert sorted(r.event.event_id for r in received if r.event) == sorted(
        e.event_id for e in events
    )
    by_id = {event.event_id: event for event in events}
    for record in received:
        assert record.event is not None and record.error is None
        sent = by_id[record.event.event_id]
        topic, key = route(sent)
        assert record.event == sent
        assert record.topic == provisioned.topic(topic)
        assert record.key == key
        assert record.partition == _expected_partition(key)


def test_events_with_one_key_keep_their_order_on_one_partition(provisioned: Settings) -> None:
    rounds = [RoundRequested(round_id="r-7", seed=seed) for seed in range(20)]
    publish(provisioned, rounds)
    got = list(tail(provisioned, "rounds", from_beginning=True, limit=20, timeout=5))
    assert [r.event.seed for r in got if isinstance(r.event, RoundRequested)] == list(range(20))
    assert {r.partition for r in got} == {_expected_partition("r-7")}


def test_publish_says_when_it_starts_sending_once_nothing_is_left_to_prepare(
    provisioned: Settings,
) -> None:
    events = registrations(5)
    on_topic: list[int] = []

    def sending() -> None:  # nothing has gone out yet
        on_topic.append(len(list(tail(provisioned, "students", from_beginning=True, timeout=1))))

    assert publish(provisioned, events, sending)["students"] == 5
    assert on_topic == [0]
    got = list(tail(provisioned, "students", from_beginning=True, limit=5, timeout=5))
    assert len(got) == 5
    assert publish(provisioned, [], sending) == {} and on_topic == [0]  # nothing to send


def test_tail_yields_a_poison_record_with_its_error_and_then_the_next_good_event(
    provisioned: Settings, raw_producer: Any
) -> None:
    topic = provisioned.topic("students")
    # One partition, so the poison is read before the good event.
    raw_producer.send(topic, key=b"s1", value=b"\xff not json", partition=0).get(5)
    raw_producer.send(topic, key=b"s1", value=b'{"type": "student_registered"}', partition=0)
    good = registrations(1)[0]
    raw_producer.send(topic, key=b"s1", value=good.model_dump_json().encode(), partition=0)
    raw_producer.flush(5)

    poison, invalid, event = tail(provisioned, "students", from_beginning=True, limit=3, timeout=5)
    assert poison.event is None and poison.value == b"\xff not json"
    assert poison.error is not None and poison.error.startswith("invalid JSON")
    assert invalid.event is None and invalid.error == "student: Field required"
    assert event.event == good and event.error is None


def test_tail_from_the_end_yields_only_events_published_after_it_started(
    provisioned: Settings,
) -> None:
    # Records already there, sent as one batch: the case where tansu reports a stale end.
    publish(provisioned, [RoundRequested(round_id="old", seed=seed) for seed in range(10)])
    received: list[Received] = []
    reader = threading.Thread(
        target=lambda: received.extend(tail(provisioned, "rounds", limit=1, timeout=10)),
        daemon=True,
    )
    reader.start()
    # The reader positions itself in its own time: keep publishing until it has seen one.
    assert eventually(
        lambda: (
            bool(publish(provisioned, [RoundRequested(round_id="new")])) and not reader.is_alive()
        ),
        timeout=10,
    )
    reader.join(1)
    assert len(received) == 1
    assert isinstance(received[0].event, RoundRequested) and received[0].event.round_id == "new"


def test_tansu_reports_a_stale_end_offset_after_a_multi_record_batch(
    provisioned: Settings,
) -> None:
    # Why `tail` catches up to the fetch high watermark instead of trusting the end offset.
    # If this starts failing, tansu has fixed ListOffsets and the catch-up is a no-op.
    publish(provisioned, [RoundRequested(round_id="r-1", seed=seed) for seed in range(5)])
    partition = TopicPartition(provisioned.topic("rounds"), _expected_partition("r-1"))
    consumer = KafkaConsumer(bootstrap_servers=provisioned.kafka_bootstrap_servers)
    try:
        reported_end = consumer.end_offsets([partition])[partition]
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        assert eventually(lambda: bool(consumer.poll(timeout_ms=200)), timeout=5)
        assert consumer.highwater(partition) == 5
        assert reported_end == 1
    finally:
        consumer.close()


def test_tail_stops_after_its_idle_timeout_when_nothing_arrives(provisioned: Settings) -> None:
    assert list(tail(provisioned, "coverage", timeout=0.3)) == []


def test_tail_of_a_topic_that_was_never_provisioned_says_so(settings: Settings) -> None:
    with pytest.raises(UnknownTopic, match="does not exist"):
        next(tail(settings, "students", timeout=1))


def test_a_dead_letter_record_is_decoded_with_its_reason_and_original_bytes(
    provisioned: Settings, raw_producer: Any
) -> None:
    letter = DeadLettered(
        topic="students", key="s1", reason="not JSON", original="{", original_base64="ew=="
    )
    value = letter.model_dump_json().encode()
    raw_producer.send(provisioned.topic(DEAD_LETTER), key=b"s1", value=value).get(5)
    (record,) = tail(provisioned, DEAD_LETTER, from_beginning=True, limit=1, timeout=5)
    assert record.event == letter and record.error is None


def test_publish_without_a_configured_broker_says_how_to_start_one() -> None:
    with pytest.raises(BrokerUnavailable, match="placement broker"):
        publish(Settings(kafka_bootstrap_servers=""), registrations(1))
