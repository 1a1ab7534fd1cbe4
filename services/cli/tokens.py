"""The HTTP API's commands of the `placement` CLI.

    placement token create --role careers|employer|student|admin [--tenant ID]
                           [--expires-days N] [--label TEXT]
    placement token revoke TOKEN_ID
    placement token list
    placement api [--host H] [--port N]

`token create` prints the token once: only its SHA-256 is stored, so it cannot be shown again.
The tenant is the school id of a careers token, the provider id of an employer token and the
student id of a student token; an admin token has none. `api` serves the HTTP API on DATABASE_URL
(migrated) and publishes writes to KAFKA_BOOTSTRAP_SERVERS.
"""

from __future__ import annotations

import argparse
import datetime as dt

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError

from services.cli.loading import (
    InputError,
    describe_validation_error,
    positive_int,
    settings_from_env,
)
from services.persistence import Database, NotFound
from services.persistence.tokens import SqlTokenRepository

EXIT_OK = 0
ROLES = ("careers", "employer", "student", "admin")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = commands.add_parser("token", help="mint, revoke and list API bearer tokens")
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="mint a token and print it (once)")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument(
        "--tenant", help="school id (careers), provider id (employer) or student id (student)"
    )
    create.add_argument("--expires-days", type=positive_int, help="valid for this many days")
    create.add_argument("--label", default="", help="a note on whose token it is")
    create.set_defaults(handler=_create)
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    revoke.set_defaults(handler=_revoke)
    listing = actions.add_parser("list", help="every token's id, role, tenant and state")
    listing.set_defaults(handler=_list)

    api = commands.add_parser("api", help="serve the HTTP API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    api.add_argument("--port", type=int, default=8000, help="default 8000")
    api.set_defaults(handler=_api)


def _create(args: argparse.Namespace, console: Console) -> int:
    from services.api.tokens import create_token

    expires = None if args.expires_days is None else dt.timedelta(days=args.expires_days)
    db = _database()
    try:
        record, token = create_token(
            db, args.role, args.tenant, expires_in=expires, label=args.label
        )
    except (ValueError, ValidationError) as error:
        message = (
            describe_validation_error(error) if isinstance(error, ValidationError) else str(error)
        )
        raise InputError(f"token: {message}") from None
    except (OperationalError, ProgrammingError) as error:
        raise InputError(_database_problem(error)) from None
    finally:
        db.dispose()
    until = f"until {record.expires_at:%Y-%m-%d %H:%M} UTC" if record.expires_at else "no expiry"
    tenant = f" for {record.tenant}" if record.tenant else ""
    console.print(f"Token {record.token_id}: {record.role}{tenant}, {until}.")
    console.print("Keep it now; it is not stored and cannot be shown again:")
    print(token)
    return EXIT_OK


def _revoke(args: argparse.Namespace, console: Console) -> int:
    from services.api.tokens import revoke_token

    db = _database()
    try:
        record = revoke_token(db, args.token_id)
    except NotFound:
        raise InputError(f"token {args.token_id}: no such token") from None
    except (OperationalError, ProgrammingError) as error:
        raise InputError(_database_problem(error)) from None
    finally:
        db.dispose()
    console.print(f"Token {record.token_id} revoked.")
    return EXIT_OK


def _list(args: argparse.Namespace, console: Console) -> int:
    db = _database()
    try:
        with db.unit_of_work(snapshot=True) as uow:
            records = SqlTokenRepository(uow.session, db.clock).find()
    except (OperationalError, ProgrammingError) as error:
        raise InputError(_database_problem(error)) from None
    finally:
        db.dispose()
    now = db.clock()
    table = Table("token", "role", "tenant", "created (UTC)", "expires (UTC)", "state", "label")
    for r in records:
        state = "revoked" if r.revoked_at else ("usable" if r.usable_at(now) else "expired")
        table.add_row(
            r.token_id,
            r.role,
            r.tenant or "",
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.expires_at:%Y-%m-%d %H:%M}" if r.expires_at else "never",
            state,
            r.label,
        )
    console.print(table if records else "No tokens yet.")
    return EXIT_OK


def _api(args: argparse.Namespace, console: Console) -> int:
    import uvicorn

    from services.api import BrokerPublisher, create_app
    from services.persistence import migrate

    settings = settings_from_env()
    if settings.embedded_broker:
        raise InputError(
            "KAFKA_BOOTSTRAP_SERVERS is not set: the API publishes its writes there; start the "
            "service with `placement up` and export the address it prints"
        )
    try:
        migrate(settings)
    except OperationalError as error:
        raise InputError(_database_problem(error)) from None
    db = Database.from_settings(settings)
    try:
        app = create_app(settings, db, BrokerPublisher(settings))
        url = f"http://{args.host}:{args.port}"
        console.print(f"API on {url} (OpenAPI docs at {url}/docs); Ctrl-C stops it.")
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        db.dispose()
    return EXIT_OK


def _database() -> Database:
    return Database.from_settings(settings_from_env())


def _database_problem(error: OperationalError | ProgrammingError) -> str:
    first = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    return f"database: {first}; check DATABASE_URL and run `placement migrate`"
