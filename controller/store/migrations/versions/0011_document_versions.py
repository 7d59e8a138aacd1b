"""Document versions: a version name (SSM's VersionName: unique per document, never changed) and
deleting one version (a mark: the row stays, so a number recorded with a command never comes to mean
other content and the numbering continues).

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-08

Written out by hand (no MetaData import), like 0001 and 0002.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN: NULL and a constant default fill the rows there are, no copy
    op.add_column("document_versions", sa.Column("version_name", sa.Text, nullable=True))
    op.add_column("document_versions", sa.Column("deleted", sa.Boolean, nullable=False,
                                                 server_default=sa.false()))
    # NULLs are distinct in a unique index on both SQLite and PostgreSQL: unnamed versions never clash
    op.create_index("ux_document_versions_version_name", "document_versions", ["name", "version_name"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ux_document_versions_version_name", table_name="document_versions")
    with op.batch_alter_table("document_versions") as batch:
        batch.drop_column("deleted")
        batch.drop_column("version_name")
