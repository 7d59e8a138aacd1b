"""The store's side of a master key rotation: every sealed value's data key re-wrapped under the
sealer's current master key, a batch of rows at a time in key order, each batch its own
transaction, so a rotation goes on beside the command path and a restart picks it up where the
keyring says one was under way (controller/trust/key_rotation.py). Only a record's header (its
wrapped data key) changes; its sealed bytes stay as they are."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Engine, LargeBinary, Table, func, inspect, select, text, tuple_

from controller.store.engine import read_tx, write_tx
from controller.store.places import (
    blob_place,
    chunk_place,
    content_place,
    document_place,
    notification_place,
    parameter_place,
)
from controller.store.schema import (
    command_notifications,
    content_chunks,
    documents,
    output_chunks,
    parameters,
    step_outputs,
)
from controller.store.sealer import Sealer

log = logging.getLogger(__name__)

SEALED_SINCE = "0007"  # the revision that sealed documents and output
REWRAP_BATCH = 100  # rows a transaction: a batch of 16 MB outputs is read one row at a time


@dataclass(frozen=True)
class SealedColumn:
    """A column whose values are sealed records, with how a row's key names its place."""
    table: Table
    key: tuple[str, ...]
    column: str
    place: Callable[..., bytes]

    @property
    def key_columns(self) -> list[Column[object]]:
        return [self.table.c[k] for k in self.key]


SEALED_COLUMNS = (
    SealedColumn(documents, ("sha256",), "content", document_place),
    SealedColumn(output_chunks, ("command_id", "node_id", "step_name", "stream", "seq"), "data", chunk_place),
    SealedColumn(step_outputs, ("command_id", "node_id", "step_name", "stream"), "data", blob_place),
    SealedColumn(content_chunks, ("name", "seq"), "data", content_place),
    SealedColumn(parameters, ("name", "version"), "value", parameter_place),
    SealedColumn(command_notifications, ("command_id",), "url", notification_place),
)

RowKey = tuple[object, ...]


class RewrapTables:
    """Mixed into Store: sealed values re-wrapped under the current master key."""

    _engine: Engine
    _sealer: Sealer

    def rewrap_batch(self, which: int, after: RowKey | None, limit: int = REWRAP_BATCH
                     ) -> tuple[int, RowKey | None]:
        """Re-wrap the data keys of up to ``limit`` rows of SEALED_COLUMNS[which] whose keys come
        after ``after`` (None: from the first). Returns how many were re-wrapped and the last key
        looked at (None when the column has no more rows)."""
        sealed = SEALED_COLUMNS[which]
        cols = sealed.key_columns
        data = sealed.table.c[sealed.column]
        current = self._sealer.current_key_id
        q = select(*cols, func.substr(data, 1, self._sealer.header_max, type_=LargeBinary)).order_by(*cols).limit(limit)
        if after is not None:
            q = q.where(tuple_(*cols) > tuple_(*after))
        done = 0
        with write_tx(self._engine) as conn:
            rows = conn.execute(q).all()
            for row in rows:
                key, head = tuple(row[:-1]), bytes(row[-1])
                place = sealed.place(*key)
                if self._sealer.key_id_of(head, place) == current:
                    continue
                match = [c == v for c, v in zip(cols, key, strict=True)]
                whole = bytes(conn.execute(select(data).where(*match)).scalar_one())
                rewrapped = self._sealer.rewrap(whole, place)
                if rewrapped is not None:
                    conn.execute(sealed.table.update().where(*match).values({sealed.column: rewrapped}))
                    done += 1
        return done, (tuple(rows[-1][:-1]) if len(rows) == limit else None)

    def sealed_master_keys(self) -> dict[str, int]:
        """How many sealed values each master key wraps (what a rotation leaves: the current one)."""
        counts: dict[str, int] = {}
        with read_tx(self._engine) as conn:
            for sealed in SEALED_COLUMNS:
                data = sealed.table.c[sealed.column]
                for row in conn.execute(select(*sealed.key_columns, func.substr(data, 1, self._sealer.header_max,
                                                                                   type_=LargeBinary))):
                    kid = self._sealer.key_id_of(bytes(row[-1]), sealed.place(*row[:-1]))
                    counts[kid] = counts.get(kid, 0) + 1
        return counts

    def holds_sealed_values(self) -> bool:
        """Whether the database holds any sealed value (so that only its master key opens it): it is
        at revision 0007 or later and has a document or output."""
        with read_tx(self._engine) as conn:
            if not inspect(conn).has_table("alembic_version"):
                return False
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            if revision is None or str(revision) < SEALED_SINCE:
                return False
            present = inspect(conn)  # a column sealed since a later revision has no table yet
            return any(conn.execute(select(sealed.table.c[sealed.column]).limit(1)).first() is not None
                       for sealed in SEALED_COLUMNS if present.has_table(sealed.table.name))


def rewrite_after_sealing(engine: Engine, rows: int) -> None:
    """Migration 0007 sealed ``rows`` values that were plain: their old bytes stay in the database's
    free pages and SQLite's WAL (PostgreSQL's dead tuples) until rewritten. Rewrite them now, once,
    outside any transaction (``Store.migrate``, after the upgrade commits)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # the driver's own: no BEGIN before it (engine.py)
        try:
            driver = raw.driver_connection
            assert driver is not None
            driver.execute("VACUUM")
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM FULL documents, output_chunks, step_outputs"))
    log.warning("sealed %d stored value(s) kept plain before, and rewrote the database without their old bytes",
                rows)
