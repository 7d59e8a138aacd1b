"""Security: operators, the certificates the controller issued (its revocation list), policies and
their attachments; the built-in AdministratorAccess policy.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Written out by hand (no MetaData import), like 0001 and 0002.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# controller/trust/policy.py's ADMINISTRATOR_ACCESS, as text (a migration imports nothing that changes)
ADMINISTRATOR_ACCESS = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("revoked_at_ms", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_operators"),
    )
    op.create_table(
        "certificates",
        sa.Column("serial", sa.Text, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("issued_at_ms", sa.BigInteger, nullable=False),
        sa.Column("not_after_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_at_ms", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("serial", name="pk_certificates"),
    )
    op.create_index("ix_certificates_subject", "certificates", ["subject"])
    policies = op.create_table(
        "policies",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("builtin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_policies"),
    )
    op.create_table(
        "policy_attachments",
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("operator", sa.Text, nullable=False),
        sa.Column("attached_at_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("policy", "operator", name="pk_policy_attachments"),
        sa.ForeignKeyConstraint(["policy"], ["policies.name"], name="fk_policy_attachments_policy_policies"),
        sa.ForeignKeyConstraint(["operator"], ["operators.name"], name="fk_policy_attachments_operator_operators",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_policy_attachments_operator", "policy_attachments", ["operator"])
    assert policies is not None
    op.bulk_insert(policies, [{"name": "AdministratorAccess", "document": ADMINISTRATOR_ACCESS, "builtin": True,
                               "created_at_ms": 0, "updated_at_ms": 0, "created_by": "outpost"}])


def downgrade() -> None:
    op.drop_table("policy_attachments")
    op.drop_table("policies")
    op.drop_table("certificates")
    op.drop_table("operators")
