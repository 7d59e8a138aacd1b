"""Sealed at rest (issue 18): commands' documents and every stored output are kept as sealed records
(controller/trust/sealed_records.py), each with its own data key wrapped under the master key; an
output chunk's plaintext length moves to a column of its own (``size``), since its sealed length is
longer. What earlier revisions kept plain is sealed here, which needs the master key: ``Store.migrate``
passes its sealer in ``config.attributes["sealer"]``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Written out by hand (no MetaData import), like 0001 and 0002; the places (associated data) are
spelt out here as the store spells them, so that this revision keeps meaning what it did.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from controller.store.errors import StoreError
from controller.store.places import where_of
from controller.store.sealer import Sealer

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 200


def _sealer() -> Sealer:
    config = op.get_context().config
    sealer = config.attributes.get("sealer") if config is not None else None
    if sealer is None:
        raise StoreError("this store holds documents or output from before sealing (revision 0007): "
                         "migrating it needs the controller's master key")
    return sealer


def _tables() -> tuple[tuple[sa.Table, list[str], str, str], ...]:
    md = sa.MetaData()
    texts = ("command_id", "node_id", "step_name", "stream")
    documents = sa.Table("documents", md, sa.Column("sha256", sa.LargeBinary), sa.Column("content", sa.LargeBinary))
    chunks = sa.Table("output_chunks", md, *(sa.Column(n, sa.Text) for n in texts), sa.Column("seq", sa.BigInteger),
                      sa.Column("data", sa.LargeBinary), sa.Column("size", sa.Integer))
    blobs = sa.Table("step_outputs", md, *(sa.Column(n, sa.Text) for n in texts), sa.Column("data", sa.LargeBinary))
    return ((documents, ["sha256"], "content", "documents.content"),
            (chunks, [*texts, "seq"], "data", "output_chunks.data"),
            (blobs, list(texts), "data", "step_outputs.data"))


def _rewrite(table: sa.Table, key: list[str], column: str, place: str,
             change: Callable[[Sealer, bytes, bytes], bytes]) -> int:
    """Every row's ``column`` through ``change``, a batch of rows at a time in key order; how many."""
    conn = op.get_bind()
    cols = [table.c[k] for k in key]
    after: tuple[object, ...] | None = None
    sealer: Sealer | None = None
    done = 0
    while True:
        q = sa.select(*cols, table.c[column]).order_by(*cols).limit(_BATCH)
        if after is not None:
            q = q.where(sa.tuple_(*cols) > sa.tuple_(*after))
        rows = conn.execute(q).all()
        if not rows:
            return done
        sealer = sealer or _sealer()
        for row in rows:
            ident, value = tuple(row[:-1]), bytes(row[-1])
            where = where_of(place, *(v.hex() if isinstance(v, bytes) else v for v in ident))
            conn.execute(table.update().where(*(c == v for c, v in zip(cols, ident, strict=True)))
                         .values({column: change(sealer, value, where)}))
        after = tuple(rows[-1][:-1])
        done += len(rows)


def upgrade() -> None:
    op.add_column("output_chunks", sa.Column("size", sa.Integer, nullable=False, server_default=sa.text("0")))
    op.execute("UPDATE output_chunks SET size = length(data)")
    sealed = sum(_rewrite(table, key, column, place, lambda s, plain, where: s.seal(plain, where))
                 for table, key, column, place in _tables())
    # the plain bytes' old pages: Store.migrate rewrites the database once the upgrade is committed
    op.get_context().config.attributes["sealed_rows"] = sealed  # type: ignore[union-attr]


def downgrade() -> None:
    for table, key, column, place in _tables():
        _rewrite(table, key, column, place, lambda s, sealed, where: s.open(sealed, where))
    with op.batch_alter_table("output_chunks") as batch:
        batch.drop_column("size")
