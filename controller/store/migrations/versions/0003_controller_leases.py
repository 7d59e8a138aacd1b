"""Controller leases: the row that keeps a second controller off a database one already serves.

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-20

Written out by hand (no MetaData import), like 0001 and 0002. One row per lease; today only
``sole-controller`` (controller/store/lease.py).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "controller_leases",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("holder_id", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("process_space", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("process_started_ms", sa.BigInteger, nullable=False),
        sa.Column("listen", sa.Text, nullable=False),
        sa.Column("acquired_at_ms", sa.BigInteger, nullable=False),
        sa.Column("renewed_at_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_controller_leases"),
    )


def downgrade() -> None:
    op.drop_table("controller_leases")
