"""The broker commands of the `placement` CLI.

    placement broker [--port N]
    placement events publish FILE.jsonl
    placement events tail TOPIC [--from-beginning] [--limit N] [--timeout S]

`broker` runs the embedded broker in the foreground and creates the topics. `events` talks to
the broker named by KAFKA_BOOTSTRAP_SERVERS; unset, it says how to start the embedded one
(starting a throw-away in-memory broker just for one command would lose what it published).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from schemas.events import ANY_EVENT, Envelope
from services.broker import (
    BrokerError,
    EmbeddedBroker,
    Received,
    provision,
    publish,
    tail,
    topic_named,
)
from services.cli.loading import (
    InputError,
    describe_validation_error,
    port,
    positive_float,
    positive_int,
    settings_from_env,
    terminate_as_interrupt,
)
from services.settings import Settings

Handler = Callable[[argparse.Namespace, Console], int]

EXIT_OK = 0
_WAIT_S = 1.0  # how often the foreground broker command checks that tansu is still alive


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `broker` and `events` on the `placement` parser's subcommands."""
    broker = commands.add_parser(
        "broker", help="run the embedded Kafka-compatible broker until Ctrl-C"
    )
    broker.add_argument("--port", type=port, help="loopback port (default: a free one)")
    broker.set_defaults(handler=_reporting(_broker))

    events = commands.add_parser("events", help="publish events to, or tail, the broker's topics")
    actions = events.add_subparsers(dest="action", required=True, metavar="ACTION")

    send = actions.add_parser("publish", help="validate a JSON Lines file, then publish it all")
    send.add_argument("file", type=Path, help="one event per line (blank lines are skipped)")
    send.set_defaults(handler=_reporting(_publish))

    follow = actions.add_parser("tail", help="print a topic's events, one JSON line each")
    follow.add_argument("topic", help="students, offers, preferences, attendance, rounds, ...")
    follow.add_argument("--from-beginning", action="store_true", help="not only new events")
    follow.add_argument("--limit", type=positive_int, help="stop after N events")
    follow.add_argument("--timeout", type=positive_float, help="stop after S idle seconds")
    follow.set_defaults(handler=_reporting(_tail))


def read_events(path: Path) -> list[Envelope]:
    """Every line of a JSON Lines file as an event, or `InputError` after listing each bad line.

    Each bad line is printed to stderr as `error: FILE:LINE: field: problem` first, so a file
    is fixed in one pass; nothing is returned (and so nothing published) unless all are good.
    """
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a JSON Lines file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    events: list[Envelope] = []
    bad = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(ANY_EVENT.validate_json(line))
        except ValidationError as exc:
            bad += 1
            _error(f"{path}:{number}: {describe_validation_error(exc)}")
    if bad:
        total = bad + len(events)
        raise InputError(f"{path}: {bad} of {total} lines are not valid events; published none")
    if not events:
        raise InputError(f"{path}: no events in the file")
    return events


def _publish(args: argparse.Namespace, console: Console) -> int:
    events = read_events(args.file)
    settings = settings_from_env()
    provision(settings)  # idempotent; brokers that auto-create would pick their own partitions
    counts = publish(settings, events)
    for topic in sorted(counts):
        console.print(f"{settings.topic(topic)}: {counts[topic]:,}")
    console.print(f"Published {sum(counts.values()):,} events from {args.file}")
    return EXIT_OK


def _tail(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from_env()
    topic_named(args.topic, settings)  # an unknown name fails before any connection
    records = tail(
        settings,
        args.topic,
        from_beginning=args.from_beginning,
        limit=args.limit,
        timeout=args.timeout,
    )
    for received in records:
        line = _as_line(received)
        if line is not None:
            print(line, flush=True)  # plain print: one JSON document a line, never wrapped
    return EXIT_OK


def _broker(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from_env()
    broker = EmbeddedBroker(port=args.port)
    try:
        with terminate_as_interrupt(), broker:
            address = broker.bootstrap_servers
            created = provision(settings.model_copy(update={"kafka_bootstrap_servers": address}))
            _announce(console, settings, broker, created)
            while (status := broker.wait(_WAIT_S)) is None:
                pass
            log = " | ".join(broker.log_tail().splitlines())
            raise InputError(f"the broker exited by itself (status {status}); its log ends: {log}")
    except KeyboardInterrupt:
        console.print("Stopped the broker.")
        return EXIT_OK


def _announce(
    console: Console, settings: Settings, broker: EmbeddedBroker, created: list[str]
) -> None:
    address = broker.bootstrap_servers
    lines = [
        f"Embedded Kafka-compatible broker (tansu, pid {broker.pid}) on {address}.",
        "In memory only: every topic and event is gone when it stops.",
        f"Created {len(created)} topics with {settings.topic_partitions} partitions each: "
        + ", ".join(created),
    ]
    if not settings.embedded_broker:
        lines.append(
            f"(KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers} is not used here: "
            "this command always runs its own broker.)"
        )
    lines += [
        "Point other shells at it:",
        f"  export KAFKA_BOOTSTRAP_SERVERS={address}",
        "Press Ctrl-C to stop.",
    ]
    for line in lines:
        console.print(line, soft_wrap=True)


def _as_line(received: Received) -> str | None:
    """An event as its JSON; a record without a schema as its text; else warn."""
    if received.event is not None:
        return received.event.model_dump_json()
    where = f"{received.topic}[{received.partition}] offset {received.offset}"
    if received.error is not None:
        _warn(f"{where} (key {received.key}): not a valid event: {received.error}")
        return None
    try:
        return (received.value or b"").decode("utf-8")
    except UnicodeDecodeError:
        _warn(f"{where} (key {received.key}): not UTF-8 text, {len(received.value or b'')} bytes")
        return None


def _reporting(handler: Handler) -> Handler:
    """Broker failures become the CLI's one-line `error: ...` with exit status 2."""

    def run(args: argparse.Namespace, console: Console) -> int:
        try:
            return handler(args, console)
        except BrokerError as exc:
            raise InputError(str(exc)) from None

    return run


def _error(message: str) -> None:
    _stderr().print(Text("error: ", style="bold red") + Text(message))


def _warn(message: str) -> None:
    _stderr().print(Text("warning: ", style="bold yellow") + Text(message))


def _stderr() -> Console:
    return Console(file=sys.stderr, soft_wrap=True, highlight=False)
