"""Tables of the system of record, as typed SQLAlchemy 2.0 declarative models.

Rows are an adapter detail: repositories turn them into the `schemas` models and the records of
`services.persistence.records`, and nothing outside this package sees them. Enumerations are
stored as their string values (no database enum types, so adding a value needs no migration);
nested value objects (sessions, prerequisites, insurance, metrics) are JSON in the pydantic
models' own JSON form, so the full record comes back exactly. Every timestamp is UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = 64  # schemas.common.Id: at most 64 characters


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so the value is stored as naive UTC
    and made aware again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a time zone (UTC)")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# SQLite only makes an INTEGER PRIMARY KEY an auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class StudentRow(Base):
    __tablename__ = "students"

    student_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(ID), index=True)
    form: Mapped[str] = mapped_column(String(2))
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    subjects: Mapped[list[str]] = mapped_column(JSON)
    interests: Mapped[list[str]] = mapped_column(JSON)
    academic_band: Mapped[int | None]
    parental_consent: Mapped[bool]
    priority: Mapped[bool]
    name: Mapped[str | None] = mapped_column(Text)
    # Encounters from before the service kept records, as registered with the student.
    prior_encounters: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OfferRow(Base):
    __tablename__ = "offers"

    offer_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(ID), index=True)
    provider_name: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    sector: Mapped[str] = mapped_column(String(64))
    district: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(16))
    capacity: Mapped[int]
    requires_interview: Mapped[bool]
    teacher_previsit_done: Mapped[bool]
    accompanying_teachers: Mapped[int]
    sessions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    prerequisites: Mapped[dict[str, Any]] = mapped_column(JSON)
    insurance: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    preference_deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawal_reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PreferenceListRow(Base):
    __tablename__ = "preference_lists"

    student_id: Mapped[str] = mapped_column(
        ForeignKey("students.student_id", ondelete="CASCADE"), primary_key=True
    )
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PreferenceRankRow(Base):
    """One ranked offer: a child table, so "who ranked this offer" is an indexed query."""

    __tablename__ = "preference_ranks"
    __table_args__ = (
        UniqueConstraint("student_id", "offer_id"),
        CheckConstraint("rank >= 1", name="rank_from_one"),
    )

    student_id: Mapped[str] = mapped_column(
        ForeignKey("preference_lists.student_id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(primary_key=True)  # 1 is the favourite
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.offer_id"), index=True)


class OverrideRow(Base):
    """A careers team's pin (must be allocated) or forbidden pair; a pair is one or the other."""

    __tablename__ = "overrides"
    __table_args__ = (CheckConstraint(_in("kind", ("pinned", "forbidden")), name="kind"),)

    student_id: Mapped[str] = mapped_column(ForeignKey("students.student_id"), primary_key=True)
    offer_id: Mapped[str] = mapped_column(
        ForeignKey("offers.offer_id"), primary_key=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RoundRow(Base):
    __tablename__ = "rounds"
    __table_args__ = (
        CheckConstraint(_in("status", ("queued", "running", "done", "failed")), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
    )

    round_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    school_ids: Mapped[list[str]] = mapped_column(JSON)
    student_ids: Mapped[list[str]] = mapped_column(JSON)  # scope "students" (a re-match)
    mode: Mapped[str] = mapped_column(String(16))
    matching_mode: Mapped[str] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(BigInteger)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AllocationRow(Base):
    __tablename__ = "allocations"
    __table_args__ = (
        UniqueConstraint("round_id", "student_id", "offer_id"),
        CheckConstraint(_in("status", ("active", "held", "revoked")), name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.round_id"))
    student_id: Mapped[str] = mapped_column(ForeignKey("students.student_id"), index=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.offer_id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    level_group: Mapped[str] = mapped_column(String(32))
    rank: Mapped[int | None]
    pinned: Mapped[bool]
    pending_interview: Mapped[bool]
    risks: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AttendanceRow(Base):
    """One session day of an offer for one student; debriefs are recorded on it."""

    __tablename__ = "attendance"

    student_id: Mapped[str] = mapped_column(ForeignKey("students.student_id"), primary_key=True)
    offer_id: Mapped[str] = mapped_column(
        ForeignKey("offers.offer_id"), primary_key=True, index=True
    )
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    attended: Mapped[bool]
    hours: Mapped[float] = mapped_column(Float)
    debriefed: Mapped[bool]
    debriefed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InterviewRow(Base):
    """The employer's decision after a student's pre-interview for its offer."""

    __tablename__ = "interviews"
    __table_args__ = (CheckConstraint(_in("outcome", ("confirmed", "declined")), name="outcome"),)

    student_id: Mapped[str] = mapped_column(ForeignKey("students.student_id"), primary_key=True)
    offer_id: Mapped[str] = mapped_column(
        ForeignKey("offers.offer_id"), primary_key=True, index=True
    )
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ReflectionRow(Base):
    """A student's reflection on an encounter they attended."""

    __tablename__ = "reflections"

    student_id: Mapped[str] = mapped_column(ForeignKey("students.student_id"), primary_key=True)
    offer_id: Mapped[str] = mapped_column(
        ForeignKey("offers.offer_id"), primary_key=True, index=True
    )
    text: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class HostAgainRow(Base):
    """Whether the provider of an offer would host again."""

    __tablename__ = "host_again"

    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.offer_id"), primary_key=True)
    would_host_again: Mapped[bool]
    comment: Mapped[str] = mapped_column(Text)
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RiskFlagRow(Base):
    """A risk on an offer (student_id NULL) or on one student's placement in it.

    At most one row per (student, offer, code): two partial unique indexes, because NULLs are
    distinct in an ordinary unique constraint.
    """

    __tablename__ = "risk_flags"
    __table_args__ = (
        CheckConstraint(_in("status", ("flagged", "cleared")), name="status"),
        Index(
            "uq_risk_flags_student_offer_code",
            "student_id",
            "offer_id",
            "code",
            unique=True,
            sqlite_where=text("student_id IS NOT NULL"),
            postgresql_where=text("student_id IS NOT NULL"),
        ),
        Index(
            "uq_risk_flags_offer_code",
            "offer_id",
            "code",
            unique=True,
            sqlite_where=text("student_id IS NULL"),
            postgresql_where=text("student_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    student_id: Mapped[str | None] = mapped_column(ForeignKey("students.student_id"))
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.offer_id"))
    code: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    flagged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ProcessedEventRow(Base):
    """An event a consumer has applied: the primary key makes a second application impossible."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255))
    processed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # The relay's query: unpublished rows in id order. Published rows drop out of the index.
        Index(
            "ix_outbox_unpublished",
            "id",
            sqlite_where=text("published_at IS NULL"),
            postgresql_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(ID), unique=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApiTokenRow(Base):
    """A bearer token of the HTTP API: its role and tenant, and the SHA-256 of its secret.

    The secret itself is never stored; a token is looked up by its id (the part of the token
    before the secret) and the secret's hash compared.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(_in("role", ("careers", "employer", "student", "admin")), name="role"),
    )

    token_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str | None] = mapped_column(String(ID))  # None for admin
    secret_sha256: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
