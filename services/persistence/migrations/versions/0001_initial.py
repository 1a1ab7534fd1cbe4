"""The initial schema: the system of record, processed event ids and the outbox.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24

Migrations are frozen in time: they use plain SQLAlchemy types, never the application's (the
models' UTCDateTime is DateTime(timezone=True) underneath).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 64


def _id(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(ID), nullable=False)


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _flag(name: str) -> sa.Column[bool]:
    return sa.Column(name, sa.Boolean(), nullable=False)


def _serial() -> sa.Column[int]:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # a rowid on SQLite
    return sa.Column("id", big, autoincrement=True, nullable=False)


def _fk(
    column: str, target: str, table: str, ondelete: str | None = None
) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete
    )


def _status(table: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}"))


def upgrade() -> None:
    op.create_table(
        "students",
        _id("student_id"),
        _id("school_id"),
        sa.Column("form", sa.String(2), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("subjects", sa.JSON(), nullable=False),
        sa.Column("interests", sa.JSON(), nullable=False),
        sa.Column("academic_band", sa.Integer(), nullable=True),
        _flag("parental_consent"),
        _flag("priority"),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("prior_encounters", sa.JSON(), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("student_id", name=op.f("pk_students")),
    )
    op.create_index(op.f("ix_students_school_id"), "students", ["school_id"])

    op.create_table(
        "offers",
        _id("offer_id"),
        _id("provider_id"),
        sa.Column("provider_name", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("sector", sa.String(64), nullable=False),
        sa.Column("district", sa.String(64), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        _flag("requires_interview"),
        _flag("teacher_previsit_done"),
        sa.Column("accompanying_teachers", sa.Integer(), nullable=False),
        sa.Column("sessions", sa.JSON(), nullable=False),
        sa.Column("prerequisites", sa.JSON(), nullable=False),
        sa.Column("insurance", sa.JSON(), nullable=True),
        _at("preference_deadline", nullable=True),
        _at("withdrawn_at", nullable=True),
        sa.Column("withdrawal_reason", sa.Text(), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_offers")),
    )
    op.create_index(op.f("ix_offers_provider_id"), "offers", ["provider_id"])

    op.create_table(
        "preference_lists",
        _id("student_id"),
        _at("submitted_at", nullable=True),
        _at("updated_at"),
        _fk("student_id", "students.student_id", "preference_lists", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("student_id", name=op.f("pk_preference_lists")),
    )
    op.create_table(
        "preference_ranks",
        _id("student_id"),
        sa.Column("rank", sa.Integer(), nullable=False),
        _id("offer_id"),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_preference_ranks_rank_from_one")),
        _fk("offer_id", "offers.offer_id", "preference_ranks"),
        _fk("student_id", "preference_lists.student_id", "preference_ranks", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("student_id", "rank", name=op.f("pk_preference_ranks")),
        sa.UniqueConstraint(
            "student_id", "offer_id", name=op.f("uq_preference_ranks_student_id_offer_id")
        ),
    )
    op.create_index(op.f("ix_preference_ranks_offer_id"), "preference_ranks", ["offer_id"])

    op.create_table(
        "overrides",
        _id("student_id"),
        _id("offer_id"),
        sa.Column("kind", sa.String(16), nullable=False),
        _at("created_at"),
        _status("overrides", "kind", ("pinned", "forbidden")),
        _fk("offer_id", "offers.offer_id", "overrides"),
        _fk("student_id", "students.student_id", "overrides"),
        sa.PrimaryKeyConstraint("student_id", "offer_id", name=op.f("pk_overrides")),
    )
    op.create_index(op.f("ix_overrides_offer_id"), "overrides", ["offer_id"])

    op.create_table(
        "rounds",
        _id("round_id"),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("school_ids", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("matching_mode", sa.String(16), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _at("requested_at"),
        _at("started_at", nullable=True),
        _at("finished_at", nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        _at("updated_at"),
        _status("rounds", "status", ("queued", "running", "done", "failed")),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name=op.f("ck_rounds_progress")),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_rounds")),
    )
    op.create_index(op.f("ix_rounds_status"), "rounds", ["status"])

    op.create_table(
        "allocations",
        _serial(),
        _id("round_id"),
        _id("student_id"),
        _id("offer_id"),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("level_group", sa.String(32), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        _flag("pinned"),
        _flag("pending_interview"),
        sa.Column("risks", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        _status("allocations", "status", ("active", "held", "revoked")),
        _fk("offer_id", "offers.offer_id", "allocations"),
        _fk("round_id", "rounds.round_id", "allocations"),
        _fk("student_id", "students.student_id", "allocations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
        sa.UniqueConstraint(
            "round_id",
            "student_id",
            "offer_id",
            name=op.f("uq_allocations_round_id_student_id_offer_id"),
        ),
    )
    op.create_index(op.f("ix_allocations_offer_id"), "allocations", ["offer_id"])
    op.create_index(op.f("ix_allocations_student_id"), "allocations", ["student_id"])

    op.create_table(
        "attendance",
        _id("student_id"),
        _id("offer_id"),
        sa.Column("date", sa.Date(), nullable=False),
        _flag("attended"),
        sa.Column("hours", sa.Float(), nullable=False),
        _flag("debriefed"),
        _at("debriefed_at", nullable=True),
        _at("recorded_at"),
        _fk("offer_id", "offers.offer_id", "attendance"),
        _fk("student_id", "students.student_id", "attendance"),
        sa.PrimaryKeyConstraint("student_id", "offer_id", "date", name=op.f("pk_attendance")),
    )
    op.create_index(op.f("ix_attendance_offer_id"), "attendance", ["offer_id"])

    op.create_table(
        "risk_flags",
        _serial(),
        sa.Column("student_id", sa.String(ID), nullable=True),
        _id("offer_id"),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _at("flagged_at"),
        _at("cleared_at", nullable=True),
        _at("updated_at"),
        _status("risk_flags", "status", ("flagged", "cleared")),
        _fk("offer_id", "offers.offer_id", "risk_flags"),
        _fk("student_id", "students.student_id", "risk_flags"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_flags")),
    )
    # One row per (student, offer, code); NULLs are distinct in a plain unique constraint.
    for name, columns, where in (
        ("uq_risk_flags_student_offer_code", ["student_id", "offer_id", "code"], "IS NOT NULL"),
        ("uq_risk_flags_offer_code", ["offer_id", "code"], "IS NULL"),
    ):
        condition = sa.text(f"student_id {where}")
        op.create_index(
            name,
            "risk_flags",
            columns,
            unique=True,
            sqlite_where=condition,
            postgresql_where=condition,
        )

    op.create_table(
        "processed_events",
        _id("event_id"),
        sa.Column("topic", sa.String(255), nullable=False),
        _at("processed_at"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
    )

    op.create_table(
        "outbox",
        _serial(),
        _id("event_id"),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _at("created_at"),
        _at("published_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    unpublished = sa.text("published_at IS NULL")
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        sqlite_where=unpublished,
        postgresql_where=unpublished,
    )


def downgrade() -> None:
    for table in (
        "outbox",
        "processed_events",
        "risk_flags",
        "attendance",
        "allocations",
        "rounds",
        "overrides",
        "preference_ranks",
        "preference_lists",
        "offers",
        "students",
    ):
        op.drop_table(table)  # its indexes go with it
