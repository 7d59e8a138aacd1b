"""The fleet's status events at rest (``status_events``): every StatusEvent the event bus publishes,
with its ``seq`` given by the database (an autoincrement: monotonic across restarts, never reused
after pruning, and one sequence for every controller on the database). ``outpost events`` lists them
and a follower that lost its stream resumes past the last seq it printed.

Several controllers on one PostgreSQL database: an insert takes a transaction-scoped advisory lock,
so seqs commit in their order and a reader past seq N never misses a smaller seq committed later.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Engine, RowMapping, bindparam, delete, func, select, text

from controller.model import EventFilter, EventKind, StatusEvent
from controller.store import driver
from controller.store.engine import read_tx, write_tx
from controller.store.errors import StoreError
from controller.store.rows import detail as row_detail
from controller.store.schema import invocations, status_events
from plugins.sdk.status import Detail

MAX_EVENT_PAGE = 10_000
EVENTS_LOCK = 0x6F75747065766E74  # "outpevnt": controllers on one PostgreSQL take turns to append
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_INSERT = status_events.insert().values(at_ms=bindparam("a"), kind=bindparam("k"), command_id=bindparam("c"),
                                        node_id=bindparam("n"), status=bindparam("st"), status_detail=bindparam("sd"),
                                        note=bindparam("nt"))
_SQLITE_LAST = text("SELECT seq FROM sqlite_sequence WHERE name = 'status_events'")


def _event(r: RowMapping) -> StatusEvent:
    try:
        kind = EventKind(str(r["kind"]))
    except ValueError:
        raise StoreError(f"status event {r['seq']}: unknown kind {str(r['kind'])[:40]!r}") from None
    value = str(r["status_detail"])
    return StatusEvent(kind, str(r["command_id"]), str(r["node_id"]), row_detail(value) if value else None,
                       int(r["at_ms"]), int(r["seq"]), str(r["note"]))


def _where(f: EventFilter) -> list:
    e = status_events.c
    out = []
    if f.after_seq:
        out.append(e.seq > f.after_seq)
    if f.since_ms:
        out.append(e.at_ms >= f.since_ms)
    if f.command_id:
        out.append(e.command_id == f.command_id)
    if f.node_id:
        out.append(e.node_id == f.node_id)
    return out


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_EVENT_PAGE:
        raise StoreError(f"limit must be 1 to {MAX_EVENT_PAGE}, got {limit}")
    return limit


class EventTables:
    """Mixed into Store."""

    _engine: Engine

    def record_events(self, events: Sequence[StatusEvent]) -> list[StatusEvent]:
        """Store ``events`` in one transaction, in their order; each comes back with its seq."""
        if not events:
            return []
        rows = [{"a": e.at_ms, "k": e.kind.value, "c": e.command_id, "n": e.node_id,
                 "st": "" if e.detail is None else e.detail.status.value,
                 "sd": "" if e.detail is None else e.detail.value, "nt": e.note} for e in events]
        with write_tx(self._engine) as conn:
            if conn.dialect.name == "postgresql":
                driver.execute(conn, _LOCK, {"key": EVENTS_LOCK})
                seqs = list(conn.execute(_INSERT.returning(status_events.c.seq, sort_by_parameter_order=True),
                                         rows).scalars())
            else:  # the one writer holds the lock: AUTOINCREMENT numbers this transaction's rows in a row
                driver.executemany(conn, _INSERT, rows)
                last = int(driver.execute(conn, _SQLITE_LAST)[0][0])
                seqs = list(range(last - len(rows) + 1, last + 1))
        return [replace(e, seq=int(s)) for e, s in zip(events, seqs, strict=True)]

    def events_after(self, chosen: EventFilter, limit: int) -> list[StatusEvent]:
        """The first ``limit`` events that pass ``chosen``, in seq order (a follower's replay, a page
        at a time: the next page is after the last seq of this one)."""
        e = status_events.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(status_events).where(*_where(chosen)).order_by(e.seq)
                                .limit(_limit(limit))).mappings().all()
        return [_event(r) for r in rows]

    def newest_events(self, chosen: EventFilter, limit: int) -> list[StatusEvent]:
        """The newest ``limit`` events that pass ``chosen``, in seq order (``outpost events``)."""
        e = status_events.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(status_events).where(*_where(chosen)).order_by(e.seq.desc())
                                .limit(_limit(limit))).mappings().all()
        return [_event(r) for r in reversed(rows)]

    def announced_details(self, command_id: str) -> dict[str, Detail]:
        """The last detail recorded of the command (key "") and of each of its invocations (key: the
        node id): what the fleet was last told, for a restarted controller to go on from."""
        e = status_events.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(e.node_id, e.status_detail).where(
                e.command_id == command_id, e.kind != EventKind.NODE.value).order_by(e.seq)).all()
        return {str(node): row_detail(value) for node, value in rows if value}

    def commands_ended_since(self, since_ms: int, limit: int = 1000) -> list[str]:
        """The commands with an invocation that ended at ``since_ms`` or later (newest first): those a
        restarted controller checks for an end it had stored but not yet told."""
        i = invocations.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(i.command_id).where(i.ended_at_ms >= since_ms).group_by(i.command_id)
                                .order_by(func.max(i.ended_at_ms).desc()).limit(limit)).all()
        return [str(r[0]) for r in rows]

    def last_event_seq(self) -> int:
        """The newest stored event's seq (0: none is stored)."""
        with read_tx(self._engine) as conn:
            return int(conn.execute(select(status_events.c.seq).order_by(status_events.c.seq.desc())
                                    .limit(1)).scalar_one_or_none() or 0)

    def prune_events(self, before_ms: int, batch: int = 1000) -> int:
        """Delete up to ``batch`` of the oldest events from before ``before_ms``; how many went (call
        again until 0). The sequence goes on past them: a seq is never given twice."""
        e = status_events.c
        with write_tx(self._engine) as conn:
            seqs = [int(s) for (s,) in conn.execute(select(e.seq).where(e.at_ms < before_ms).order_by(e.seq)
                                                    .limit(batch))]
            if seqs:
                conn.execute(delete(status_events).where(e.seq.in_(seqs)))
        return len(seqs)
