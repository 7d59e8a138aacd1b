"""Each node's latest patch compliance (docs/patching.md): what its last ``patch`` step reported,
checked on arrival (controller/dispatch/compliance.py) and kept whole as its canonical JSON, with the
columns a listing filters and shows beside it.

"Latest" is the command's: a report of an older command than the one stored (by the controller's
clock, when each was sent) does not replace it, whatever order reports arrive in (an agent sends
again what was not acknowledged); within one command, the report that ended last wins (a step run
again after a reboot). A report is kept only for a registered node and a command sent to it."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Engine, RowMapping, Text, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB

from controller.store.engine import read_tx, write_tx
from controller.store.errors import NotFound, StoreError
from controller.store.schema import commands, invocations, node_compliance, nodes
from controller.store.statements import dialect_insert
from plugins.sdk.strict import canonical_json


@dataclass(frozen=True)
class ComplianceRecord:
    node_id: str
    command_id: str
    baseline_id: str
    operation: str  # Scan | Install
    compliant: bool
    started_at_ms: int
    ended_at_ms: int
    summary: str  # PatchCompliance's canonical JSON; in listings, without its records


_nc = node_compliance.c
_COLUMNS = (_nc.node_id, _nc.command_id, _nc.baseline_id, _nc.operation, _nc.compliant, _nc.started_at_ms,
            _nc.ended_at_ms)


def _record(r: RowMapping, summary: str) -> ComplianceRecord:
    return ComplianceRecord(str(r["node_id"]), str(r["command_id"]), str(r["baseline_id"]), str(r["operation"]),
                            bool(r["compliant"]), int(r["started_at_ms"]), int(r["ended_at_ms"]), summary)


def _without_records(conn: Connection) -> ColumnElement[str]:
    """The summary less its records, computed by the database (a summary is up to 1 MB, a listing's
    row needs its counts): one JSON parse a row there, no bytes of the records read here."""
    if conn.dialect.name == "postgresql":
        return cast(cast(_nc.summary, JSONB).op("-")("records"), Text)
    return func.json_remove(_nc.summary, "$.records")


def _canonical(text: str) -> str:
    """The database's rendering of a JSON value (PostgreSQL's has spaces and its own key order) as
    canonical JSON."""
    try:
        return canonical_json(json.loads(text)).decode()
    except ValueError as exc:  # stored by this module as canonical JSON: never
        raise StoreError(f"a stored compliance summary is not JSON: {exc}") from None


def _command_sent_at(conn: Connection, command_id: str) -> int | None:
    return conn.execute(select(commands.c.created_at_ms).where(commands.c.command_id == command_id)).scalar()


class ComplianceTables:
    """Mixed into Store: each node's latest patch compliance."""

    _engine: Engine

    def put_compliance(self, records: Sequence[ComplianceRecord]) -> int:
        """Store what nodes reported, in order, in one transaction; the count stored (see the module's
        docstring for what is not)."""
        if not records:
            return 0
        stored = 0
        i = invocations.c
        with write_tx(self._engine) as conn:
            for rec in records:
                sent = conn.execute(select(commands.c.created_at_ms)
                                    .join(invocations, i.command_id == commands.c.command_id)
                                    .join(nodes, nodes.c.node_id == i.node_id)
                                    .where(i.command_id == rec.command_id, i.node_id == rec.node_id)).scalar()
                if sent is None:
                    continue  # no such node, or no invocation of it for that command
                now = conn.execute(select(_nc.command_id, _nc.ended_at_ms)
                                   .where(_nc.node_id == rec.node_id)).first()
                if now is not None:
                    if now[0] == rec.command_id:
                        if int(now[1]) > rec.ended_at_ms:
                            continue
                    elif (was := _command_sent_at(conn, str(now[0]))) is not None and was > int(sent):
                        continue
                values = {"node_id": rec.node_id, "command_id": rec.command_id, "baseline_id": rec.baseline_id,
                          "operation": rec.operation, "compliant": rec.compliant,
                          "started_at_ms": rec.started_at_ms, "ended_at_ms": rec.ended_at_ms,
                          "summary": rec.summary}
                stmt = dialect_insert(conn, node_compliance).values(**values)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=[_nc.node_id], set_={k: v for k, v in values.items() if k != "node_id"}))
                stored += 1
        return stored

    def get_compliance(self, node_id: str) -> ComplianceRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(*_COLUMNS, _nc.summary).where(_nc.node_id == node_id)).mappings().first()
        if row is None:
            raise NotFound(f"no patch compliance for node {node_id!r}: no patch step has reported from it")
        return _record(row, str(row["summary"]))

    def list_compliance(self, after: str, limit: int, *, non_compliant_only: bool = False
                        ) -> list[ComplianceRecord]:
        """At most ``limit`` nodes' compliance whose node ids come after ``after``, by node id; each
        summary without its records (get_compliance has them)."""
        if limit < 1:
            raise StoreError(f"limit must be positive, got {limit}")
        with read_tx(self._engine) as conn:
            query = select(*_COLUMNS, _without_records(conn).label("headline")).where(_nc.node_id > after)
            if non_compliant_only:
                query = query.where(_nc.compliant.is_(False))
            rows = conn.execute(query.order_by(_nc.node_id).limit(limit)).mappings().all()
        return [_record(r, _canonical(str(r["headline"]))) for r in rows]
