"""A command's own notification (SSM's NotificationConfig): command_notifications, one row for a
command sent with one, its webhook URL sealed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08

Written out by hand (no MetaData import), like 0001 and 0002.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "command_notifications",
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("url", sa.LargeBinary, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("command_id", name="pk_command_notifications"),
        sa.ForeignKeyConstraint(["command_id"], ["commands.command_id"],
                                name="fk_command_notifications_command_id_commands", ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("command_notifications")
