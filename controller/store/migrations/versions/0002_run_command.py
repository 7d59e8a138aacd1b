"""Run Command: named versioned documents, target groups, rate control and cancel on commands,
full step output kept compressed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-16

Written out by hand (no MetaData import), like 0001. The table ``documents`` of 0001 stays the
content-addressed store of what commands ran; named documents get ``document_heads`` (one row per
name) and ``document_versions`` (one row per version, never removed).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Added to commands, in this order; server defaults fill the rows that already exist.
_COMMAND_COLUMNS = (
    ("max_concurrency", sa.Text, "50"),
    ("max_errors", sa.Text, "0"),
    ("delivery_timed_out_count", sa.Integer, sa.text("0")),
    ("document_version", sa.Integer, sa.text("0")),
    ("parameters", sa.Text, "{}"),
    ("cancel_requested", sa.Boolean, sa.false()),
)


def upgrade() -> None:
    op.create_table(
        "document_heads",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("default_version", sa.Integer, nullable=False),
        sa.Column("builtin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("name", name="pk_document_heads"),
    )
    op.create_table(
        "document_versions",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_document_versions"),
        sa.ForeignKeyConstraint(["name"], ["document_heads.name"], name="fk_document_versions_name_document_heads"),
        sa.CheckConstraint("format IN ('YAML', 'JSON')", name="ck_document_versions_format"),
    )
    op.create_table(
        "target_groups",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("targets", sa.Text, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_target_groups"),
    )
    for name, type_, default in _COMMAND_COLUMNS:
        op.add_column("commands", sa.Column(name, type_, nullable=False, server_default=default))
    op.create_table(
        "step_outputs",
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("node_id", sa.Text, nullable=False),
        sa.Column("step_name", sa.Text, nullable=False),
        sa.Column("stream", sa.String(8), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("command_id", "node_id", "step_name", "stream", name="pk_step_outputs"),
        sa.ForeignKeyConstraint(["command_id", "node_id"], ["invocations.command_id", "invocations.node_id"],
                                name="fk_step_outputs_command_id_node_id_invocations", ondelete="CASCADE"),
        sa.CheckConstraint("stream IN ('stdout', 'stderr')", name="ck_step_outputs_stream"),
    )


def downgrade() -> None:
    op.drop_table("step_outputs")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), never a batch copy: recreating commands
    # would DROP it, and with foreign keys on that deletes every invocation through the cascade.
    for name, _type, _default in reversed(_COMMAND_COLUMNS):
        op.drop_column("commands", name)
    for table in ("target_groups", "document_versions", "document_heads"):
        op.drop_table(table)
