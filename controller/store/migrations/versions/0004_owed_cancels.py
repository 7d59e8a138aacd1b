"""Reliability: the cancels owed to agents that were away when their invocation was cancelled.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Written out by hand (no MetaData import), like 0001 and 0002.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "owed_cancels",
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("node_id", sa.Text, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("command_id", "node_id", name="pk_owed_cancels"),
        sa.ForeignKeyConstraint(["command_id"], ["commands.command_id"], name="fk_owed_cancels_command_id_commands",
                                ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("owed_cancels")
