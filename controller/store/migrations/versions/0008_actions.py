"""Actions: whether a step changed its node (step_results.changed), each node's latest patch
compliance (node_compliance), patch baselines, agent releases for self-update, and the content store
(content_files, content_chunks: sealed) copy steps send from, and the parameter store (parameters: sealed)
that ``{{ssm:NAME}}`` references are filled from at send.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Written out by hand (no MetaData import), like 0001 and 0002.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain ALTER TABLE ... ADD COLUMN: a constant default fills the rows there are without a copy
    op.add_column("step_results", sa.Column("changed", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "node_compliance",
        sa.Column("node_id", sa.Text, nullable=False),
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("baseline_id", sa.Text, nullable=False),
        sa.Column("operation", sa.Text, nullable=False),
        sa.Column("compliant", sa.Boolean, nullable=False),
        sa.Column("started_at_ms", sa.BigInteger, nullable=False),
        sa.Column("ended_at_ms", sa.BigInteger, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("node_id", name="pk_node_compliance"),
    )
    op.create_table(
        "agent_releases",
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("published_at_ms", sa.BigInteger, nullable=False),
        sa.Column("published_by", sa.Text, nullable=False),
        sa.Column("signing_key_id", sa.Text, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_agent_releases"),
    )
    op.create_table(
        "content_files",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("stored_at_ms", sa.BigInteger, nullable=False),
        sa.Column("stored_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_content_files"),
    )
    op.create_index("ix_content_files_sha256", "content_files", ["sha256"])
    op.create_table(
        "content_chunks",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("name", "seq", name="pk_content_chunks"),
        sa.ForeignKeyConstraint(["name"], ["content_files.name"], name="fk_content_chunks_name_content_files",
                                ondelete="CASCADE"),
    )
    op.create_table(
        "parameters",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("modified_at_ms", sa.BigInteger, nullable=False),
        sa.Column("modified_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_parameters"),
    )
    op.create_table(
        "baselines",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("operating_system", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_baselines"),
    )


def downgrade() -> None:
    op.drop_table("baselines")
    op.drop_table("parameters")
    op.drop_table("content_chunks")
    op.drop_table("content_files")
    op.drop_table("agent_releases")
    op.drop_table("node_compliance")
    op.drop_column("step_results", "changed")  # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), as 0002
