"""`placement events publish|tail` in-process, and `placement broker` as a real process."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schemas.events import ANY_EVENT
from services.broker import TOPICS, provision, route, tail
from services.cli.main import main
from services.settings import Settings
from tests.services.broker.conftest import group_is_gone
from tests.services.broker.samples import one_of_each, registrations


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the CLI's own Settings() at this test's broker and topics."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers)
    monkeypatch.setenv("TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("TOPIC_PARTITIONS", str(settings.topic_partitions))
    return settings


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _published(settings: Settings) -> int:
    """How many records all catalogue topics hold (0 means nothing was ever published)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        total = 0
        for topic in TOPICS:
            name = settings.topic(topic.name)
            partitions = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name)]
            total += sum(consumer.end_offsets(partitions).values())
        return int(total)
    finally:
        consumer.close()


def test_publish_prints_a_count_per_topic_and_tail_prints_each_event_as_a_json_line(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = one_of_each()
    lines = [event.model_dump_json() for event in events]
    source = _write_lines(tmp_path / "events.jsonl", [*lines[:3], "", *lines[3:]])

    assert main(["events", "publish", str(source)]) == 0
    out = capsys.readouterr().out
    offers = [e for e in events if route(e)[0] == "offers"]
    assert f"{env.topic('offers')}: {len(offers)}" in out
    assert f"{env.topic('coverage')}: 2" in out
    assert f"Published {len(events)} events" in out

    limit = str(len(offers))
    argv = ["events", "tail", "offers", "--from-beginning", "--limit", limit, "--timeout", "5"]
    assert main(argv) == 0
    printed = [ANY_EVENT.validate_json(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(e.event_id for e in printed) == sorted(e.event_id for e in offers)


def test_a_file_with_bad_lines_is_reported_line_by_line_and_nothing_is_published(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = registrations(1)[0].model_dump_json()
    missing_field = json.dumps({"type": "round_requested", "mode": "commit"})
    bad_value = json.dumps({"type": "offer_withdrawn", "offer_id": "has spaces"})
    source = _write_lines(
        tmp_path / "events.jsonl",
        [good, missing_field, "", "{not json", bad_value, '{"type": "grade_awarded"}', good],
    )
    provision(env)  # so that "nothing published" is checked on existing, empty topics

    assert main(["events", "publish", str(source)]) == 2
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert all(line.startswith("error: ") for line in errors) and "Traceback" not in captured.err
    assert errors[0] == f"error: {source}:2: round_requested.round_id: Field required"
    assert errors[1].startswith(f"error: {source}:4: invalid JSON")
    assert errors[2].startswith(f"error: {source}:5: offer_withdrawn.offer_id: String should")
    assert errors[3].startswith(f"error: {source}:6: Input tag 'grade_awarded'")
    assert errors[4] == f"error: {source}: 4 of 6 lines are not valid events; published none"
    assert len(errors) == 5 and captured.out == ""
    assert _published(env) == 0


def test_tail_warns_about_a_poison_record_and_prints_the_next_good_event(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    provision(env)
    good = registrations(1)[0]
    producer = KafkaProducer(bootstrap_servers=env.kafka_bootstrap_servers)
    try:
        topic = env.topic("students")
        producer.send(topic, key=b"s000", value=b"poison", partition=1)
        producer.send(topic, key=b"s000", value=good.model_dump_json().encode(), partition=1)
        producer.flush(5)
    finally:
        producer.close()

    assert main(["events", "tail", "students", "--from-beginning", "--limit", "2"]) == 0
    captured = capsys.readouterr()
    assert [ANY_EVENT.validate_json(line) for line in captured.out.splitlines()] == [good]
    assert captured.err.startswith(
        f"warning: {env.topic('students')}[1] offset 0 (key s000): not a valid event: invalid JSON"
    )


@pytest.mark.parametrize("argv", [["events", "tail", "students"], ["events", "publish", "-"]])
def test_events_commands_without_a_broker_configured_say_how_to_start_one(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    source = _write_lines(tmp_path / "one.jsonl", [registrations(1)[0].model_dump_json()])
    argv = [str(source) if part == "-" else part for part in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: KAFKA_BOOTSTRAP_SERVERS is not set: start the embedded broker")
    assert "`placement broker`" in err and err.count("\n") == 1


def test_an_unknown_topic_or_a_bad_setting_is_one_error_line(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["events", "tail", "grades"]) == 2
    assert capsys.readouterr().err.startswith("error: no topic 'grades' in the catalogue")
    monkeypatch.setenv("TOPIC_PARTITIONS", "0")
    assert main(["events", "tail", "students"]) == 2
    assert capsys.readouterr().err.startswith("error: environment: topic_partitions: ")


@pytest.fixture
def broker_command() -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    """`placement broker` in its own process, its output lines arriving on a queue."""
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    command = [sys.executable, "-m", "services.cli", "broker"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
        try:
            yield process, lines
        finally:
            if process.poll() is None:
                process.kill()


def _read_until(lines: queue.Queue[str], marker: str, timeout: float = 15) -> list[str]:
    seen: list[str] = []
    while not any(marker in line for line in seen):
        seen.append(lines.get(timeout=timeout))  # queue.Empty fails the test when it is silent
    return seen


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_the_broker_command_prints_its_address_serves_topics_and_stops_cleanly(
    stop: signal.Signals, broker_command: tuple[subprocess.Popen[str], Any]
) -> None:
    process, lines = broker_command
    banner = "".join(_read_until(lines, "Press Ctrl-C"))
    found = re.search(r"pid (\d+)\) on (127\.0\.0\.1:\d+)", banner)
    assert found is not None, banner
    pid, address = int(found[1]), found[2]
    assert f"export KAFKA_BOOTSTRAP_SERVERS={address}\n" in banner

    served = Settings(kafka_bootstrap_servers=address)  # default prefix: the topics it made
    assert list(tail(served, "students", from_beginning=True, timeout=0.1)) == []

    process.send_signal(stop)
    assert process.wait(10) == 0
    assert "Stopped the broker." in "".join(_read_until(lines, "Stopped", timeout=5))
    assert group_is_gone(pid)
