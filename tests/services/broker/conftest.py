"""One real embedded broker for the whole session, and a fresh topic namespace per test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest

from services.broker import EmbeddedBroker, provision
from services.settings import Settings

PARTITIONS = 3


def group_is_gone(pgid: int) -> bool:
    """True when no process is left in the process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def eventually(condition: object, timeout: float = 10.0) -> bool:
    """Poll `condition()` until it is true or `timeout` seconds pass; never a fixed sleep."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker()
    embedded.start()
    pgid = embedded.pid
    assert pgid is not None
    yield embedded
    embedded.stop()
    assert group_is_gone(pgid), "a tansu process outlived stop()"


@pytest.fixture
def settings(broker: EmbeddedBroker) -> Settings:
    """Settings on the shared broker, with topics of their own (a unique prefix per test)."""
    return Settings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        topic_partitions=PARTITIONS,
    )


@pytest.fixture
def provisioned(settings: Settings) -> Settings:
    provision(settings)
    return settings
