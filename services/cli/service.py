"""The service commands of the `placement` CLI.

    placement up [--demo [--once] [--students N] [--schools S] [--seed K]]
    placement worker
    placement migrate
    placement rounds run --scope school|cluster|all [--school ID ...] [--commit] [--wait]
    placement rounds status ROUND_ID
    placement rounds list
    placement coverage [--school ID ...]

`up` is the embedded default: a local broker (unless KAFKA_BOOTSTRAP_SERVERS names one), the
migrations (SQLite unless DATABASE_URL says otherwise), a worker, and the HTTP API with its
dashboard on 127.0.0.1 (API_PORT, or any free port), until Ctrl-C. `worker` is
the production form: it needs a Kafka cluster and a migrated database (`placement migrate`), and
any number of them share the partitions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from schemas.events import RoundRequested
from services.broker import BrokerError, EmbeddedBroker, provision, publish
from services.cli.loading import (
    InputError,
    describe_validation_error,
    settings_from_env,
    terminate_as_interrupt,
)
from services.persistence import Database, RoundRecord, migrate
from services.persistence.records import utcnow
from services.settings import Settings
from services.worker.downstream import coverage_rows

EXIT_OK = 0
DEMO_DATABASE = "sqlite:///build/demo.db"
POLL_S = 0.2


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = commands.add_parser(
        "up", help="run the service on the embedded default (broker, SQLite, worker)"
    )
    up.add_argument(
        "--demo",
        action="store_true",
        help="publish a generated school cluster as events, run a round, print coverage",
    )
    up.add_argument("--once", action="store_true", help="with --demo: stop after the demo")
    up.add_argument("--students", type=int, default=2000, help="demo students (default 2000)")
    up.add_argument("--schools", type=int, default=8, help="demo schools (default 8)")
    up.add_argument("--seed", type=int, default=1, help="demo data seed (default 1)")
    up.set_defaults(handler=_up)

    worker = commands.add_parser(
        "worker", help="run a worker against KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL"
    )
    worker.set_defaults(handler=_worker)

    migrations = commands.add_parser("migrate", help="upgrade DATABASE_URL to the newest schema")
    migrations.set_defaults(handler=_migrate)

    rounds = commands.add_parser("rounds", help="request allocation rounds and follow them")
    actions = rounds.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="publish a round command (a preview unless --commit)")
    run.add_argument("--scope", choices=("school", "cluster", "all"), default="all")
    run.add_argument("--school", action="append", default=[], help="a school id (repeatable)")
    run.add_argument("--commit", action="store_true", help="commit the allocations")
    run.add_argument("--stable", action="store_true", help="deferred acceptance, not optimal")
    run.add_argument("--seed", type=int, default=0, help="tie-break seed (default 0)")
    run.add_argument("--round-id", help="default: a new unique id")
    run.add_argument("--wait", action="store_true", help="follow its progress to the end")
    run.set_defaults(handler=_rounds_run)
    status = actions.add_parser("status", help="a round's status, progress and summary")
    status.add_argument("round_id")
    status.set_defaults(handler=_rounds_status)
    listing = actions.add_parser("list", help="every round, oldest first")
    listing.set_defaults(handler=_rounds_list)

    cover = commands.add_parser("coverage", help="Benchmark 8/9 coverage per school and form")
    cover.add_argument("--school", action="append", help="only these schools (repeatable)")
    cover.set_defaults(handler=_coverage)


# -- up and worker ---------------------------------------------------------------------------


def _up(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from_env()
    if args.demo and settings.database_url == Settings.model_fields["database_url"].default:
        # The demo starts from an empty database of its own, never the default one.
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"build/demo.db{suffix}").unlink(missing_ok=True)
        settings = settings.model_copy(update={"database_url": DEMO_DATABASE})
    with terminate_as_interrupt(), contextlib.ExitStack() as stack:
        if settings.embedded_broker:
            broker = stack.enter_context(_embedded(console))
            settings = settings.model_copy(
                update={"kafka_bootstrap_servers": broker.bootstrap_servers}
            )
        console.print(f"Database: {_safe_url(settings.database_url)} (migrating)")
        db = _migrated(settings)
        stack.callback(db.dispose)
        dashboard = stack.enter_context(_api(settings, db, console))
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(settings, db, console, args, dashboard))
    console.print("Stopped: worker, broker and database closed.")
    return EXIT_OK


def _worker(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from_env()
    if settings.embedded_broker:
        raise InputError(
            "KAFKA_BOOTSTRAP_SERVERS is not set: `placement worker` joins a Kafka cluster; "
            "for the embedded broker run `placement up`"
        )
    db = Database.from_settings(settings)
    try:
        with terminate_as_interrupt():
            asyncio.run(_serve(settings, db, console, None))
    except KeyboardInterrupt:
        pass
    finally:
        db.dispose()
    console.print("Stopped.")
    return EXIT_OK


async def _serve(
    settings: Settings,
    db: Database,
    console: Console,
    args: argparse.Namespace | None,
    dashboard: str | None = None,
) -> None:
    """Run the worker (and the demo) until Ctrl-C, SIGTERM or SIGHUP, then stop in order."""
    from services.worker.runner import running_worker  # faust is slow to import

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    console.print(f"Worker joining {settings.kafka_bootstrap_servers} ...")
    try:
        async with running_worker(settings, db) as worker:
            console.print(
                f"Worker consuming {len(worker.app.consumer.assignment())} partitions of "
                f"{settings.topic_prefix}* on {settings.kafka_bootstrap_servers}."
            )
            if args is not None and args.demo:
                from services.cli.demo import run_demo

                demo = asyncio.create_task(run_demo(settings, db, worker, console, args))
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({demo, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not demo.done():
                    demo.cancel()
                    console.print("Interrupted: the demo stopped part-way.")
                    return
                stopping.cancel()
                demo.result()  # its error, if it failed
                if dashboard is not None:
                    _demo_sign_in(db, console, dashboard)
                if args.once:
                    return
            console.print("Press Ctrl-C to stop.")
            await stop.wait()
            console.print("Stopping ...")
    except BrokerError as error:
        raise InputError(str(error)) from None
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


@contextlib.contextmanager
def _api(settings: Settings, db: Database, console: Console) -> Iterator[str]:
    """The HTTP API and its dashboard on 127.0.0.1, in a thread beside the worker; yields the
    dashboard's URL."""
    from services.api import BrokerPublisher, create_app
    from services.api.dashboard.serve import BackgroundApi

    port = settings.api_port
    app = create_app(settings, db, BrokerPublisher(settings))
    try:
        server = BackgroundApi(app, port=port)
    except OSError as error:
        raise InputError(f"API_PORT {port}: {error.strerror}") from None
    with server:
        console.print(
            f"API on {server.url} (OpenAPI at {server.url}/docs); "
            f"dashboard: {server.url}/dashboard/ (sign in with a token from "
            "`placement token create`)",
            soft_wrap=True,
        )
        yield f"{server.url}/dashboard/"


def _demo_sign_in(db: Database, console: Console, dashboard: str) -> None:
    """A careers token for the first demo school, as a link that signs straight in (the token
    rides in the URL fragment, which the browser never sends to a server)."""
    from services.api.tokens import create_token

    with db.unit_of_work(snapshot=True) as uow:
        schools = sorted({s.school_id for s in uow.students.find()})
    if not schools:
        return
    _, token = create_token(
        db, "careers", schools[0], expires_in=dt.timedelta(days=1), label="placement up --demo"
    )
    # soft_wrap: a token or link broken over two lines cannot be copied
    console.print(f"Careers token for {schools[0]} (valid one day): {token}", soft_wrap=True)
    console.print(f"Open the dashboard signed in: {dashboard}login#token={token}", soft_wrap=True)
    if len(schools) > 1:
        console.print(
            f"Other schools ({', '.join(schools[1:])}): placement token create --role careers "
            "--tenant SCHOOL_ID"
        )


@contextlib.contextmanager
def _embedded(console: Console) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker()
    try:
        broker.start()
    except BrokerError as error:
        raise InputError(str(error)) from None
    console.print(
        f"Embedded broker (tansu, pid {broker.pid}) on {broker.bootstrap_servers}; "
        f"in memory, gone when this stops. Other shells: "
        f"export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}"
    )
    try:
        yield broker
    finally:
        broker.stop()


# -- migrate, rounds, coverage ---------------------------------------------------------------


def _migrate(args: argparse.Namespace, console: Console) -> int:
    settings = settings_from_env()
    _migrated(settings).dispose()
    console.print(f"{_safe_url(settings.database_url)} is at the newest schema.")
    return EXIT_OK


def _rounds_run(args: argparse.Namespace, console: Console) -> int:
    settings = _broker_settings()
    try:
        event = RoundRequested(
            round_id=args.round_id or f"round-{utcnow():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}",
            scope=args.scope,
            school_ids=tuple(args.school),
            mode="commit" if args.commit else "preview",
            matching_mode="stable" if args.stable else "optimal",
            seed=args.seed,
            source="placement-cli",
        )
    except ValidationError as error:
        raise InputError(f"round: {describe_validation_error(error)}") from None
    try:
        provision(settings)
        publish(settings, [event])
    except BrokerError as error:
        raise InputError(str(error)) from None
    console.print(f"Requested round {event.round_id} ({event.mode}, scope {event.scope}).")
    if not args.wait:
        console.print(f"Follow it with: placement rounds status {event.round_id}")
        return EXIT_OK
    db = Database.from_settings(settings)
    try:
        record = follow_round(db, event.round_id, console)
    finally:
        db.dispose()
    print_round(console, record)
    return EXIT_OK if record.status.value == "done" else 1


def follow_round(
    db: Database, round_id: str, console: Console, timeout: float | None = None
) -> RoundRecord:
    """Show the round's progress until it finishes; the finished record."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with round_progress(console, round_id) as show:
        while True:
            record = fetch_round(db, round_id)
            if show(record):
                assert record is not None
                return record
            if deadline is not None and time.monotonic() > deadline:
                raise InputError(f"round {round_id} did not finish within {timeout:g} s")
            time.sleep(POLL_S)


def fetch_round(db: Database, round_id: str) -> RoundRecord | None:
    with db.unit_of_work() as uow:
        return uow.rounds.get(round_id)


@contextlib.contextmanager
def round_progress(
    console: Console, round_id: str
) -> Iterator[Callable[[RoundRecord | None], bool]]:
    """A progress bar for a round; the callable shows a reading and says if it is finished."""
    columns = (
        TextColumn("round {task.fields[round_id]}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%  {task.fields[stage]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("round", total=1.0, round_id=round_id, stage="waiting for a worker")

        def show(record: RoundRecord | None) -> bool:
            if record is None:
                return False
            bar.update(task, completed=record.progress, stage=record.message)
            return record.status.finished

        yield show


def print_round(console: Console, record: RoundRecord) -> None:
    took = ""
    if record.started_at and record.finished_at:
        took = f" in {(record.finished_at - record.started_at).total_seconds():.1f} s"
    console.print(f"Round {record.round_id}: {record.status.value}{took}. {record.message}")
    metrics = record.metrics
    if metrics is None:
        return
    console.print(
        f"  {metrics.matched_students:,} of {metrics.students:,} students placed; Benchmark 8 "
        f"pair {metrics.b8_coverage_pct:.1f}% "
        f"(lowest school {metrics.lowest_school_coverage_pct:.1f}%); "
        f"first choice {100 * metrics.first_choice_share:.0f}%; "
        f"{metrics.optimality_text()}"
    )


def _rounds_status(args: argparse.Namespace, console: Console) -> int:
    db = Database.from_settings(settings_from_env())
    try:
        with db.unit_of_work() as uow:
            record = uow.rounds.get(args.round_id)
    except (OperationalError, ProgrammingError) as error:
        raise InputError(_database_problem(error)) from None
    finally:
        db.dispose()
    if record is None:
        raise InputError(f"round {args.round_id}: no such round (see `placement rounds list`)")
    if not record.status.finished:
        console.print(
            f"Round {record.round_id}: {record.status.value}, {100 * record.progress:.0f}% "
            f"({record.message or 'queued'})"
        )
        return EXIT_OK
    print_round(console, record)
    return EXIT_OK


def _rounds_list(args: argparse.Namespace, console: Console) -> int:
    db = Database.from_settings(settings_from_env())
    try:
        with db.unit_of_work() as uow:
            records = uow.rounds.find()
    except (OperationalError, ProgrammingError) as error:
        raise InputError(_database_problem(error)) from None
    finally:
        db.dispose()
    table = Table("round", "scope", "mode", "status", "progress", "requested (UTC)", "message")
    for r in records:
        table.add_row(
            r.round_id,
            r.scope,
            r.mode,
            r.status.value,
            f"{100 * r.progress:.0f}%",
            f"{r.requested_at:%Y-%m-%d %H:%M:%S}",
            r.message,
        )
    console.print(table if records else "No rounds yet.")
    return EXIT_OK


def _coverage(args: argparse.Namespace, console: Console) -> int:
    db = Database.from_settings(settings_from_env())
    try:
        print_coverage(console, db, args.school)
    except (OperationalError, ProgrammingError) as error:
        raise InputError(_database_problem(error)) from None
    finally:
        db.dispose()
    return EXIT_OK


def print_coverage(console: Console, db: Database, schools: list[str] | None = None) -> None:
    with db.unit_of_work(snapshot=True) as uow:
        rows = coverage_rows(uow, schools, utcnow().date())
    table = Table(
        "school",
        "form",
        "students",
        "B8 projected",
        "B8 achieved",
        "target",
        "FE visits",
        "FE interactions",
        title="Benchmark 8 (L1 + L2/L3 pair) and Benchmark 9 coverage",
    )
    for row in rows:
        style = "red" if row.below_target else "green"
        table.add_row(
            row.school_id,
            row.form.value,
            f"{row.students:,}",
            f"[{style}]{row.b8_projected:,} ({row.projected_pct:.1f}%)[/{style}]",
            f"{row.b8_achieved:,} ({row.achieved_pct:.1f}%)",
            f"{row.target_pct:g}%",
            f"{row.fe_visits:,}",
            f"{row.fe_interactions:,}",
        )
    console.print(table if rows else "No students registered yet.")


# -- helpers ---------------------------------------------------------------------------------


def _broker_settings() -> Settings:
    settings = settings_from_env()
    if settings.embedded_broker:
        raise InputError(
            "KAFKA_BOOTSTRAP_SERVERS is not set: start the service with `placement up` and "
            "export the address it prints"
        )
    return settings


def _migrated(settings: Settings) -> Database:
    try:
        migrate(settings)
    except OperationalError as error:
        raise InputError(_database_problem(error)) from None
    return Database.from_settings(settings)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _database_problem(error: OperationalError | ProgrammingError) -> str:
    first = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    return (
        f"database: {first}; check DATABASE_URL and run `placement migrate` "
        "(or `placement up`, which migrates)"
    )
