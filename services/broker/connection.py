"""Where the Kafka clients connect, from the one Settings object, and their shared options."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from services.broker.errors import BrokerUnavailable
from services.settings import Settings

# How long a client keeps trying to reach its first broker before giving up. kafka-python's own
# default is 30 s, too long for a command line to sit silent.
BOOTSTRAP_TIMEOUT_MS = 10_000
CLIENT_ID = "placement"

NOT_CONFIGURED = (
    "KAFKA_BOOTSTRAP_SERVERS is not set: start the embedded broker with `placement broker` "
    "in another shell and export the KAFKA_BOOTSTRAP_SERVERS line it prints"
)


def bootstrap_servers(settings: Settings) -> list[str]:
    """The configured `host:port` list; the embedded default has none until a broker runs."""
    servers = [part.strip() for part in settings.kafka_bootstrap_servers.split(",")]
    servers = [server for server in servers if server]
    if not servers:
        raise BrokerUnavailable(NOT_CONFIGURED)
    return servers


def client_options(settings: Settings) -> dict[str, Any]:
    """Options every kafka-python client here shares."""
    return {
        "bootstrap_servers": bootstrap_servers(settings),
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        "client_id": CLIENT_ID,
    }


def unreachable(settings: Settings, error: Exception) -> BrokerUnavailable:
    """A kafka-python failure as one line naming the servers."""
    servers = ",".join(bootstrap_servers(settings))
    return BrokerUnavailable(f"Kafka at {servers}: {_one_line(error)}")


@contextmanager
def admin_client(settings: Settings) -> Iterator[Any]:
    """A connected `KafkaAdminClient`, closed on exit; failures become `BrokerUnavailable`."""
    try:
        client = KafkaAdminClient(**client_options(settings))
    except KafkaError as error:
        raise unreachable(settings, error) from None
    try:
        yield client
    except KafkaError as error:
        raise unreachable(settings, error) from None
    finally:
        client.close()


def _one_line(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())
