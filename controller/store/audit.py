"""The audit trail at rest: records appended in seq order, each chained to the one before
(controller/model.py), and the signed heads. Nothing here updates or deletes a record: the trail
only grows (retention, when it comes, will cut whole signed prefixes and say so in the trail).

Several controllers on one PostgreSQL database append to one chain: each takes a transaction-scoped
advisory lock, reads the last record and inserts the next seq; should two ever race all the same (a
database without the lock), the loser fails on the key and chains again after the winner's record.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, RowMapping, select, text
from sqlalchemy.exc import IntegrityError

from controller.model import AUDIT_GENESIS, AuditEntry, AuditOutcome, AuditQuery, AuditRecord, SignedHead, audit_digest
from controller.store import driver
from controller.store.engine import read_tx, write_tx
from controller.store.errors import StoreError
from controller.store.schema import audit_heads, audit_records

APPEND_ATTEMPTS = 8  # races lost in a row to other controllers before an append gives up
MAX_PAGE = 10_000
APPEND_LOCK = 0x6F75747061756469  # "outpaudi": the advisory lock appenders take turns by
_APPEND_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_TAIL = select(audit_records.c.seq, audit_records.c.digest).order_by(audit_records.c.seq.desc()).limit(1)
_INSERT = audit_records.insert()


class _LostRace(StoreError):
    """Another controller appended at the same seq first."""


def _row(rec: AuditRecord) -> dict[str, object]:
    e = rec.entry
    return dict(seq=rec.seq, at_ms=e.at_ms, actor=e.actor, source_ip=e.source_ip, action=e.action,
                outcome=e.outcome.value, request_id=e.request_id, resource=e.resource,
                document_version=e.document_version, document_sha256=e.document_sha256, targets=e.targets,
                resolved=e.resolved, parameters=json.dumps([list(p) for p in e.parameters]), detail=e.detail,
                prev=rec.prev, digest=rec.digest)


def _record(r: RowMapping) -> AuditRecord:
    """A stored row as it is (an edited one included: verify is what tells)."""
    try:
        outcome = AuditOutcome(str(r["outcome"]))
    except ValueError:
        raise StoreError(f"audit record {r['seq']}: unknown outcome {str(r['outcome'])[:40]!r}") from None
    try:
        parameters = tuple((str(k), str(v)) for k, v in json.loads(str(r["parameters"])))
    except (ValueError, TypeError):
        raise StoreError(f"audit record {r['seq']}: its parameters are not a list of pairs") from None
    entry = AuditEntry(at_ms=int(r["at_ms"]), actor=str(r["actor"]), source_ip=str(r["source_ip"]),
                       action=str(r["action"]), outcome=outcome, request_id=str(r["request_id"]),
                       resource=str(r["resource"]), document_version=int(r["document_version"]),
                       document_sha256=str(r["document_sha256"]), targets=str(r["targets"]),
                       resolved=int(r["resolved"]), parameters=parameters, detail=str(r["detail"]))
    return AuditRecord(int(r["seq"]), entry, bytes(r["prev"]), bytes(r["digest"]))


def _last(conn: Connection) -> AuditRecord | None:
    row = conn.execute(select(audit_records).order_by(audit_records.c.seq.desc()).limit(1)).mappings().one_or_none()
    return None if row is None else _record(row)


def append_in(conn: Connection, entries: Sequence[AuditEntry]) -> AuditRecord | None:
    """Append ``entries`` within the caller's write transaction (a command and its send's record
    commit together); _LostRace when another controller took the seq (PostgreSQL without the lock).
    On the driver's cursor with prebuilt statements (controller/store/driver.py): a send pays for
    its record inside its command's transaction, so it costs what a row does, not SQLAlchemy's
    per-call machinery (measured: about 1 ms of a send's 9 ms through Connection.execute)."""
    if not entries:
        return None
    if conn.dialect.name == "postgresql":  # appenders take turns (SQLite's writers always do)
        driver.execute(conn, _APPEND_LOCK, {"key": APPEND_LOCK})
    tail = driver.execute(conn, _TAIL)
    seq, prev = (0, AUDIT_GENESIS) if not tail else (int(tail[0][0]), bytes(tail[0][1]))
    rows: list[dict[str, object]] = []
    last: AuditRecord | None = None
    for entry in entries:
        seq += 1
        last = AuditRecord(seq, entry, prev, audit_digest(seq, prev, entry))
        rows.append(_row(last))
        prev = last.digest
    try:
        driver.executemany(conn, _INSERT, rows)
    except IntegrityError:
        raise _LostRace from None
    return last


class AuditTables:
    """Mixed into Store: the audit trail's records and signed heads."""

    _engine: Engine

    def append_audit(self, entries: Sequence[AuditEntry]) -> AuditRecord | None:
        """Append ``entries`` in order, each chained to the one before; the last record (None for none)."""
        if not entries:
            return None
        for _ in range(APPEND_ATTEMPTS):
            try:
                with write_tx(self._engine) as conn:
                    return append_in(conn, entries)
            except _LostRace:
                continue  # another controller appended at that seq: chain after its record
        raise StoreError(f"the audit trail could not be appended to: {APPEND_ATTEMPTS} races lost in a row")

    def audit_tail(self) -> AuditRecord | None:
        with read_tx(self._engine) as conn:
            return _last(conn)

    def audit_page(self, query: AuditQuery) -> list[AuditRecord]:
        """Records after ``query.after_seq`` that match it, by seq, at most ``query.limit``."""
        c = audit_records.c
        q = select(audit_records).where(c.seq > query.after_seq)
        if query.since_ms:
            q = q.where(c.at_ms >= query.since_ms)
        if query.until_ms:
            q = q.where(c.at_ms < query.until_ms)
        if query.actor:
            q = q.where(c.actor == query.actor)
        if query.action.endswith("*"):
            prefix = query.action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(c.action.like(prefix + "%", escape="\\"))
        elif query.action:
            q = q.where(c.action == query.action)
        q = q.order_by(c.seq).limit(max(1, min(query.limit, MAX_PAGE)))
        with read_tx(self._engine) as conn:
            return [_record(r) for r in conn.execute(q).mappings()]

    def add_audit_head(self, head: SignedHead) -> None:
        with write_tx(self._engine) as conn:
            if conn.execute(select(audit_heads.c.seq).where(audit_heads.c.seq == head.seq)).one_or_none() is None:
                conn.execute(audit_heads.insert().values(seq=head.seq, at_ms=head.at_ms, digest=head.digest,
                                                         signature=head.signature))

    def audit_heads(self) -> list[SignedHead]:
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(audit_heads).order_by(audit_heads.c.seq)).mappings().all()
        return [SignedHead(int(r["seq"]), int(r["at_ms"]), bytes(r["digest"]), bytes(r["signature"])) for r in rows]
