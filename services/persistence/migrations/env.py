"""Alembic environment: the URL comes from the caller (migrate()) or else from Settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy.pool import NullPool

from services.persistence.database import make_engine
from services.persistence.orm import Base
from services.settings import Settings

config = context.config
url: str = config.attributes.get("database_url") or Settings().database_url

if context.is_offline_mode():  # --sql: print the DDL instead of running it
    context.configure(url=url, literal_binds=True, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=True,  # SQLite can only ALTER a table by copying it
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
