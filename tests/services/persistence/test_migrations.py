"""Migrations: they build exactly the models' schema on both backends, from any directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from services.persistence import Database, alembic_config, migrate
from services.persistence import migrations as migrate_command
from services.persistence.orm import Base
from services.settings import Settings
from tests.services.conftest import FreshUrl

BACKENDS = ["sqlite", "postgresql"]


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _state(url: str) -> tuple[str | None, list[object], set[str]]:
    """(current revision, differences from the models, tables) of the database at `url`."""
    db = Database(url)
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return (
                context.get_current_revision(),
                compare_metadata(context, Base.metadata),
                set(inspect(connection).get_table_names()),
            )
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_build_exactly_the_schema_the_models_declare(
    backend: str, fresh_url: FreshUrl
) -> None:
    url = fresh_url(backend)
    migrate(Settings(database_url=url))
    revision, differences, tables = _state(url)
    assert revision == _head()
    assert differences == []
    assert set(Base.metadata.tables) <= tables


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrating_twice_changes_nothing_and_downgrading_removes_every_table(
    backend: str, fresh_url: FreshUrl
) -> None:
    url = fresh_url(backend)
    settings = Settings(database_url=url)
    migrate(settings)
    migrate(settings)
    assert _state(url)[:2] == (_head(), [])
    command.downgrade(alembic_config(url), "base")
    assert _state(url)[2] == {"alembic_version"}
    migrate(settings)
    assert _state(url)[:2] == (_head(), [])


def test_migrate_works_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    migrate(Settings(database_url="sqlite:///build/placement.db"))  # the default, relative
    assert _state(f"sqlite:///{elsewhere / 'build' / 'placement.db'}")[0] == _head()


def test_the_migrate_command_upgrades_the_database_in_database_url(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert migrate_command.main(["upgrade"]) == 0
    assert _state(sqlite_url)[:2] == (_head(), [])
    assert migrate_command.main(["check"]) == 0
    assert migrate_command.main(["sideways"]) == 2
    assert "python -m services.persistence.migrations" in capsys.readouterr().err
