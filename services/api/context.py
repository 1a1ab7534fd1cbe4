"""What every request handler gets: the settings, the database, the publisher and the clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import Request

from services.api.publisher import Publisher
from services.persistence import Database, SqlAlchemyUnitOfWork
from services.settings import Settings

SOURCE = "placement-api"


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    db: Database
    publisher: Publisher

    def now(self) -> dt.datetime:
        """The database's clock: tests fix it, and deadlines are judged by it."""
        return self.db.clock()

    def read(self) -> SqlAlchemyUnitOfWork:
        """A consistent, read-only view of the system of record."""
        return self.db.unit_of_work(snapshot=True)


def get_context(request: Request) -> ApiContext:
    context = request.app.state.context
    assert isinstance(context, ApiContext)
    return context
