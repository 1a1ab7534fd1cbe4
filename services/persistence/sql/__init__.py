"""SQLAlchemy implementations of the repositories, for SQLite and PostgreSQL."""

from services.persistence.sql.activity import SqlAttendanceRepository, SqlRiskFlagRepository
from services.persistence.sql.catalogue import (
    SqlOfferRepository,
    SqlOverrideRepository,
    SqlPreferenceRepository,
    SqlStudentRepository,
)
from services.persistence.sql.feedback import SqlFeedbackRepository
from services.persistence.sql.messaging import (
    CommittedPayloads,
    SqlOutbox,
    SqlProcessedEventRepository,
)
from services.persistence.sql.rounds import SqlAllocationRepository, SqlRoundRepository

__all__ = [
    "CommittedPayloads",
    "SqlAllocationRepository",
    "SqlAttendanceRepository",
    "SqlFeedbackRepository",
    "SqlOfferRepository",
    "SqlOutbox",
    "SqlOverrideRepository",
    "SqlPreferenceRepository",
    "SqlProcessedEventRepository",
    "SqlRiskFlagRepository",
    "SqlRoundRepository",
    "SqlStudentRepository",
]
