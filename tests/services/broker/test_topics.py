"""The topic catalogue: every event has a topic and a key, and provisioning is idempotent."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient

from schemas.events import TOPIC_ADAPTERS, AnyEvent
from services.broker import (
    DEAD_LETTER,
    TOPICS,
    BrokerUnavailable,
    UnknownTopic,
    provision,
    route,
    topic_named,
)
from services.settings import Settings
from tests.services.broker.conftest import PARTITIONS
from tests.services.broker.samples import KEYS, one_of_each


@pytest.fixture
def admin(settings: Settings) -> Iterator[Any]:
    client = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    yield client
    client.close()


def _partitions(admin: Any, names: list[str]) -> dict[str, int]:
    return {topic["name"]: len(topic["partitions"]) for topic in admin.describe_topics(names)}


def test_the_catalogue_has_every_event_topic_and_the_dead_letter_topic() -> None:
    assert {topic.name for topic in TOPICS} == {*TOPIC_ADAPTERS, DEAD_LETTER}
    assert all(topic.key and topic.why for topic in TOPICS)


def test_every_event_type_is_routed_to_a_topic_whose_schema_accepts_it() -> None:
    events = one_of_each()
    members = typing.get_args(typing.get_args(AnyEvent)[0])
    assert {type(event) for event in events} == set(members)  # the samples cover every type
    for event, expected in zip(events, KEYS, strict=True):
        topic, key = route(event)
        assert (topic, key) == expected, type(event).__name__
        assert TOPIC_ADAPTERS[topic].validate_json(event.model_dump_json()) == event


def test_a_topic_is_found_by_its_short_or_its_prefixed_name(settings: Settings) -> None:
    assert topic_named("students").key == "student_id"
    assert topic_named(settings.topic("coverage"), settings).key == "school_id"
    with pytest.raises(UnknownTopic, match="no topic 'grades'"):
        topic_named("grades")


def test_provisioning_creates_every_topic_with_the_configured_partitions(
    settings: Settings, admin: Any
) -> None:
    created = provision(settings)
    names = sorted(settings.topic(topic.name) for topic in TOPICS)
    assert sorted(created) == names
    assert _partitions(admin, names) == dict.fromkeys(names, PARTITIONS)


def test_provisioning_again_creates_nothing_and_leaves_existing_topics_alone(
    settings: Settings, admin: Any
) -> None:
    # One topic made beforehand with other settings: provisioning must keep it as it is.
    students = settings.topic("students")
    admin.create_topics({students: {"num_partitions": 1, "replication_factor": 1}})
    created = provision(settings)
    assert students not in created and len(created) == len(TOPICS) - 1
    assert provision(settings) == []
    assert _partitions(admin, [students]) == {students: 1}


def test_provisioning_without_a_configured_broker_says_how_to_start_one() -> None:
    with pytest.raises(BrokerUnavailable, match="placement broker"):
        provision(Settings(kafka_bootstrap_servers=""))
