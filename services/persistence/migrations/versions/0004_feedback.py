"""Pre-interview decisions, students' reflections and whether providers would host again.

Revision ID: 0004_feedback
Revises: 0003_api_tokens
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_feedback"
down_revision: str | None = "0003_api_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 64


def _id(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(ID), nullable=False)


def _at(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _fk(column: str, target: str, table: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=op.f(f"fk_{table}_{column}_{referred}"))


def upgrade() -> None:
    op.create_table(
        "interviews",
        _id("student_id"),
        _id("offer_id"),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        _at("decided_at"),
        sa.CheckConstraint(
            "outcome IN ('confirmed', 'declined')", name=op.f("ck_interviews_outcome")
        ),
        _fk("offer_id", "offers.offer_id", "interviews"),
        _fk("student_id", "students.student_id", "interviews"),
        sa.PrimaryKeyConstraint("student_id", "offer_id", name=op.f("pk_interviews")),
    )
    op.create_index(op.f("ix_interviews_offer_id"), "interviews", ["offer_id"])

    op.create_table(
        "reflections",
        _id("student_id"),
        _id("offer_id"),
        sa.Column("text", sa.Text(), nullable=False),
        _at("submitted_at"),
        _fk("offer_id", "offers.offer_id", "reflections"),
        _fk("student_id", "students.student_id", "reflections"),
        sa.PrimaryKeyConstraint("student_id", "offer_id", name=op.f("pk_reflections")),
    )
    op.create_index(op.f("ix_reflections_offer_id"), "reflections", ["offer_id"])

    op.create_table(
        "host_again",
        _id("offer_id"),
        sa.Column("would_host_again", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _at("answered_at"),
        _fk("offer_id", "offers.offer_id", "host_again"),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_host_again")),
    )


def downgrade() -> None:
    op.drop_table("host_again")
    op.drop_index(op.f("ix_reflections_offer_id"), table_name="reflections")
    op.drop_table("reflections")
    op.drop_index(op.f("ix_interviews_offer_id"), table_name="interviews")
    op.drop_table("interviews")
