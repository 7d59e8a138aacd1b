"""Initial schema: activations, enrolment failures, nodes, documents, commands, invocations, output.

Revision ID: 0001
Revises:
Create Date: 2026-05-09

Written out by hand (no MetaData import) so this revision stays what it was when later revisions
change controller/store/schema.py. Constraint names follow schema.NAMING_CONVENTION.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "activations",
        sa.Column("activation_id", sa.Text, nullable=False),
        sa.Column("code_hash", sa.LargeBinary, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("registration_limit", sa.Integer, nullable=False),
        sa.Column("registrations_count", sa.Integer, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("activation_id", name="pk_activations"),
    )
    op.create_table(
        "enrolment_failures",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("activation_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("peer", sa.Text, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_enrolment_failures"),
    )
    op.create_index("ix_enrolment_failures_at_ms", "enrolment_failures", ["at_ms"])
    op.create_table(
        "nodes",
        sa.Column("node_id", sa.Text, nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("activation_id", sa.Text, nullable=False),
        sa.Column("certificate_serial", sa.Text, nullable=False),
        sa.Column("registered_at_ms", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at_ms", sa.BigInteger, nullable=False),
        sa.Column("ping_status", _STATUS, nullable=False),
        sa.PrimaryKeyConstraint("node_id", name="pk_nodes"),
    )
    op.create_table(
        "node_tags",
        sa.Column("node_id", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("node_id", "position", name="pk_node_tags"),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.node_id"], name="fk_node_tags_node_id_nodes",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("node_id", "key", name="uq_node_tags_node_id_key"),
    )
    op.create_index("ix_node_tags_key_value", "node_tags", ["key", "value"])
    op.create_table(
        "documents",
        sa.Column("sha256", sa.LargeBinary, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_documents"),
    )
    op.create_table(
        "commands",
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("document_name", sa.Text, nullable=False),
        sa.Column("document_sha256", sa.LargeBinary, nullable=False),
        sa.Column("targets", sa.Text, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
        sa.Column("status", _STATUS, nullable=False),
        sa.Column("status_detail", sa.Text, nullable=False),
        sa.Column("target_count", sa.Integer, nullable=False),
        sa.Column("completed_count", sa.Integer, nullable=False),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("command_id", name="pk_commands"),
        sa.ForeignKeyConstraint(["document_sha256"], ["documents.sha256"],
                                name="fk_commands_document_sha256_documents"),
    )
    op.create_index("ix_commands_created_at_ms", "commands", ["created_at_ms"])
    op.create_table(
        "invocations",
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("node_id", sa.Text, nullable=False),
        sa.Column("status", _STATUS, nullable=False),
        sa.Column("status_detail", sa.Text, nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=False),
        sa.Column("started_at_ms", sa.BigInteger, nullable=False),
        sa.Column("ended_at_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("command_id", "node_id", name="pk_invocations"),
        sa.ForeignKeyConstraint(["command_id"], ["commands.command_id"],
                                name="fk_invocations_command_id_commands", ondelete="CASCADE"),
    )
    op.create_index("ix_invocations_node_id_status", "invocations", ["node_id", "status"])
    op.create_table(
        "step_results",
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("node_id", sa.Text, nullable=False),
        sa.Column("step_index", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("step_name", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("status", _STATUS, nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=False),
        sa.Column("started_at_ms", sa.BigInteger, nullable=False),
        sa.Column("ended_at_ms", sa.BigInteger, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("command_id", "node_id", "step_index", name="pk_step_results"),
        sa.ForeignKeyConstraint(["command_id", "node_id"], ["invocations.command_id", "invocations.node_id"],
                                name="fk_step_results_command_id_node_id_invocations", ondelete="CASCADE"),
    )
    op.create_table(
        "output_chunks",
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("node_id", sa.Text, nullable=False),
        sa.Column("step_name", sa.Text, nullable=False),
        sa.Column("stream", sa.String(8), nullable=False),
        sa.Column("seq", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("command_id", "node_id", "step_name", "stream", "seq",
                                name="pk_output_chunks"),
        sa.ForeignKeyConstraint(["command_id", "node_id"], ["invocations.command_id", "invocations.node_id"],
                                name="fk_output_chunks_command_id_node_id_invocations", ondelete="CASCADE"),
        sa.CheckConstraint("stream IN ('stdout', 'stderr')", name="ck_output_chunks_stream"),
    )


def downgrade() -> None:
    for table in ("output_chunks", "step_results", "invocations", "commands", "documents", "node_tags",
                  "nodes", "enrolment_failures", "activations"):
        op.drop_table(table)
