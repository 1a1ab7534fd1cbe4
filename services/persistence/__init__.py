"""Persistence: the system of record behind repositories, a unit of work and an outbox.

    db = Database.from_settings(settings)       # SQLite file or PostgreSQL, from DATABASE_URL
    migrate(settings)                           # Alembic, upgraded to the newest revision
    with db.unit_of_work() as uow: ...          # see unit_of_work.py for the handler pattern
    relay_once(db.unit_of_work, publish)        # outbox -> transport, at-least-once
    with db.unit_of_work(snapshot=True) as uow:
        instance = load_round(uow, round_)      # a consistent Instance for the engine

Handler tests use `MemoryUnitOfWork`, which subclasses the same abstract unit of work.
"""

from services.persistence.database import Database, make_engine
from services.persistence.errors import Conflict, NotFound, PersistenceError
from services.persistence.memory import MemoryStore, MemoryUnitOfWork
from services.persistence.migrations import alembic_config, migrate
from services.persistence.records import (
    AllocationStatus,
    AttendanceRecord,
    Clock,
    HostAgainRecord,
    InterviewRecord,
    OfferRecord,
    OutboxMessage,
    ReflectionRecord,
    RiskFlagRecord,
    RiskStatus,
    RoundRecord,
    RoundStatus,
    StoredAllocation,
)
from services.persistence.relay import Publish, PublishFailed, relay_once, relay_pending
from services.persistence.snapshot import load_instance, load_round
from services.persistence.unit_of_work import (
    AbstractUnitOfWork,
    SqlAlchemyUnitOfWork,
    UnitOfWorkFactory,
)

__all__ = [
    "AbstractUnitOfWork",
    "AllocationStatus",
    "AttendanceRecord",
    "Clock",
    "Conflict",
    "Database",
    "HostAgainRecord",
    "InterviewRecord",
    "MemoryStore",
    "MemoryUnitOfWork",
    "NotFound",
    "OfferRecord",
    "OutboxMessage",
    "PersistenceError",
    "Publish",
    "PublishFailed",
    "ReflectionRecord",
    "RiskFlagRecord",
    "RiskStatus",
    "RoundRecord",
    "RoundStatus",
    "SqlAlchemyUnitOfWork",
    "StoredAllocation",
    "UnitOfWorkFactory",
    "alembic_config",
    "load_instance",
    "load_round",
    "make_engine",
    "migrate",
    "relay_once",
    "relay_pending",
]
