"""sweeps and check_results

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a migration must not change when the models do.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("check_count", sa.Integer(), nullable=False),
        sa.Column("worst_status", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sweeps"),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_sweeps_started_at", "sweeps", ["started_at"])
    op.create_table(
        "check_results",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("sweep_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("check", sa.String(length=255), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("perfdata", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["sweep_id"],
            ["sweeps.id"],
            name="fk_check_results_sweep_id_sweeps",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_check_results"),
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_check_results_sweep_id", "check_results", ["sweep_id"])
    op.create_index("ix_check_results_name_created_at", "check_results", ["name", "created_at"])
    op.create_index("ix_check_results_created_at", "check_results", ["created_at"])


def downgrade() -> None:
    op.drop_table("check_results")
    op.drop_table("sweeps")
