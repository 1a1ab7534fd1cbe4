"""Kafka plumbing: the embedded broker, the topic catalogue, and a small publish/tail layer.

    EmbeddedBroker        start and stop the `tansu` broker on loopback (a context manager)
    TOPICS, route         which topic each event goes to, and with which key
    provision(settings)   create the missing topics with the configured partition counts
    publish(settings, events), tail(settings, topic)

Everything here uses kafka-python. Its group consumer never completes a join with the embedded
broker, so `tail` assigns partitions itself; the faust worker (aiokafka) uses groups normally.
"""

from services.broker.embedded import EmbeddedBroker, tansu_binary
from services.broker.errors import (
    BrokerBinaryMissing,
    BrokerError,
    BrokerStartError,
    BrokerUnavailable,
    UnknownTopic,
)
from services.broker.pubsub import Received, publish, tail
from services.broker.topics import DEAD_LETTER, TOPICS, Topic, provision, route, topic_named

__all__ = [
    "DEAD_LETTER",
    "TOPICS",
    "BrokerBinaryMissing",
    "BrokerError",
    "BrokerStartError",
    "BrokerUnavailable",
    "EmbeddedBroker",
    "Received",
    "Topic",
    "UnknownTopic",
    "provision",
    "publish",
    "route",
    "tail",
    "tansu_binary",
    "topic_named",
]
