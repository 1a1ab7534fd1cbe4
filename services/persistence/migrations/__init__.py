"""Schema migrations, run from code: no alembic.ini, works from any working directory.

    migrate(settings)                       # upgrade to the newest revision
    python -m services.persistence.migrations [upgrade [REV] | downgrade REV | current |
                                               check | revision MESSAGE]

This package is Alembic's script directory too: env.py and versions/ sit beside this file.
`revision` autogenerates a new revision against the database in DATABASE_URL (upgrade it first)
from the models in services/persistence/orm.py; review what it writes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config

from services.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Passed as an attribute, not a main option: ConfigParser would interpolate the '%' of an
    # escaped password.
    config.attributes["database_url"] = database_url
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Upgrade the database at settings.database_url to `revision` (default: the newest)."""
    command.upgrade(alembic_config(settings.database_url), revision)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv) or ["upgrade"]
    config = alembic_config(Settings().database_url)
    match args:
        case ["upgrade"] | ["upgrade", _]:
            command.upgrade(config, args[1] if len(args) > 1 else "head")
        case ["downgrade", revision]:
            command.downgrade(config, revision)
        case ["current"]:
            command.current(config, verbose=True)
        case ["check"]:  # fails if the models and the newest revision disagree
            command.check(config)
        case ["revision", message]:
            command.revision(config, message=message, autogenerate=True)
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0
