"""The fleet's status events (status_events): every StatusEvent the controller publishes, kept so
that ``outpost events`` lists recent ones and a follower resumes past the last seq it printed, across
controller restarts. ``seq`` is the database's autoincrement (SQLite AUTOINCREMENT: never reused
after pruning; PostgreSQL bigserial).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08

Written out by hand (no MetaData import), like 0001 and 0002.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "status_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("node_id", sa.Text, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_detail", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_status_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_status_events_at_ms", "status_events", ["at_ms"])
    op.create_index("ix_status_events_command_id_seq", "status_events", ["command_id", "seq"])


def downgrade() -> None:
    op.drop_table("status_events")
