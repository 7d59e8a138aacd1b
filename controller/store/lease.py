"""Leases: a row that says which controller process holds something of the database, and until when.

Today there is one lease, ``SOLE_CONTROLLER``: while one controller serves a database no other may
(controller/runtime/lease.py takes it at start, renews it and gives it back). Two controllers on
one database would each believe it holds every agent's stream: a node connected to one is shown
Online by the other, whose invocations for it then end DeliveryTimedOut.

The table is shaped for several controllers on one PostgreSQL later: each would hold a lease of
its own name (``controller:<holder id>``) instead of the sole one, and the nodes it serves would
name its holder id, so a controller can tell a node on a live peer from one whose controller is
gone. Nothing here assumes there is one row.

Every time is the database's clock, not the controller's: two controllers on two hosts compare
against one clock, so a skewed host cannot cut another's lease short.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, RowMapping, delete, select, text, update

from controller.store.engine import read_tx, write_tx
from controller.store.errors import StoreError
from controller.store.schema import controller_leases
from controller.store.statements import dialect_insert

SOLE_CONTROLLER = "sole-controller"

_NOW_MS = {
    "sqlite": text("SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"),
    "postgresql": text("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"),
}


@dataclass(frozen=True)
class LeaseClaim:
    """Who holds (or asks for) a lease: one controller process, and how to tell whether it still runs."""
    holder_id: str  # new at every start of a controller: the lease's owner, not the host's
    host: str  # the host name, for people
    process_space: str  # where ``pid`` names one process: the kernel's boot id and the pid namespace
    pid: int
    process_started_ms: int  # the process's start time, so that a reused pid is not taken for it
    listen: str  # the address it serves agents on


@dataclass(frozen=True)
class Lease:
    name: str
    holder: LeaseClaim
    acquired_at_ms: int
    renewed_at_ms: int
    expires_at_ms: int
    now_ms: int  # the database's clock when this was read

    @property
    def lapsed(self) -> bool:
        return self.expires_at_ms <= self.now_ms


class LeaseHeld(StoreError):
    """Another holder has the lease and it has not lapsed."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        super().__init__(f"lease {lease.name} is held by {lease.holder.holder_id} (pid {lease.holder.pid} on "
                         f"{lease.holder.host})")


class LeaseLost(StoreError):
    """A renewal found the lease no longer this holder's: released, or taken by another (``lease``)."""

    def __init__(self, name: str, lease: Lease | None) -> None:
        self.lease = lease
        who = (f"now held by pid {lease.holder.pid} on {lease.holder.host}" if lease is not None
               else "no longer held by anyone")
        super().__init__(f"lease {name} is {who}")


def _now_ms(conn: Connection) -> int:
    return int(conn.execute(_NOW_MS[conn.dialect.name]).scalar_one())


def _lease(r: RowMapping, now_ms: int) -> Lease:
    claim = LeaseClaim(str(r["holder_id"]), str(r["host"]), str(r["process_space"]), int(r["pid"]),
                       int(r["process_started_ms"]), str(r["listen"]))
    return Lease(str(r["name"]), claim, int(r["acquired_at_ms"]), int(r["renewed_at_ms"]), int(r["expires_at_ms"]),
                 now_ms)


def _read(conn: Connection, name: str, *, lock: bool = False) -> Lease | None:
    q = select(controller_leases).where(controller_leases.c.name == name)
    row = conn.execute(q.with_for_update() if lock else q).mappings().one_or_none()
    return None if row is None else _lease(row, _now_ms(conn))


class LeaseTables:
    """Mixed into Store: leases."""

    _engine: Engine

    def acquire_lease(self, name: str, claim: LeaseClaim, ttl_ms: int, *, replacing: str = "") -> Lease:
        """Take the lease for ``ttl_ms`` when nobody holds it, its holder's time has run out, it is
        ``claim``'s already, or its holder is ``replacing`` (a holder id the caller knows to be gone).
        LeaseHeld, with who holds it, otherwise."""
        if ttl_ms < 1:
            raise StoreError(f"lease {name}: ttl must be positive, got {ttl_ms} ms")
        c = controller_leases.c
        with write_tx(self._engine) as conn:
            # the row exists from here on (a no-op when it does), so that two first takers wait for
            # each other on its lock rather than both inserting
            conn.execute(dialect_insert(conn, controller_leases).values(
                name=name, holder_id="", host="", process_space="", pid=0, process_started_ms=0, listen="",
                acquired_at_ms=0, renewed_at_ms=0, expires_at_ms=0).on_conflict_do_nothing(index_elements=[c.name]))
            current = _read(conn, name, lock=True)
            assert current is not None
            holder = current.holder.holder_id
            if holder and not current.lapsed and holder not in (claim.holder_id, replacing):
                raise LeaseHeld(current)
            acquired = current.acquired_at_ms if holder == claim.holder_id else current.now_ms
            conn.execute(update(controller_leases).where(c.name == name).values(
                holder_id=claim.holder_id, host=claim.host, process_space=claim.process_space, pid=claim.pid,
                process_started_ms=claim.process_started_ms, listen=claim.listen, acquired_at_ms=acquired,
                renewed_at_ms=current.now_ms, expires_at_ms=current.now_ms + ttl_ms))
            return Lease(name, claim, acquired, current.now_ms, current.now_ms + ttl_ms, current.now_ms)

    def renew_lease(self, name: str, holder_id: str, ttl_ms: int) -> Lease:
        """Move the lease's end to ``ttl_ms`` from now, if ``holder_id`` still holds it (its time may
        have run out meanwhile: nobody else took it, so it is still its); LeaseLost if not."""
        c = controller_leases.c
        with write_tx(self._engine) as conn:
            now = _now_ms(conn)
            changed = conn.execute(update(controller_leases).where(c.name == name, c.holder_id == holder_id)
                                   .values(renewed_at_ms=now, expires_at_ms=now + ttl_ms)).rowcount
            current = _read(conn, name)
        if changed != 1 or current is None:
            raise LeaseLost(name, current if current is not None and current.holder.holder_id else None)
        return current

    def release_lease(self, name: str, holder_id: str) -> bool:
        """Give the lease up, if ``holder_id`` holds it; whether it did."""
        c = controller_leases.c
        with write_tx(self._engine) as conn:
            return conn.execute(delete(controller_leases).where(c.name == name, c.holder_id == holder_id)
                                ).rowcount == 1

    def read_lease(self, name: str) -> Lease | None:
        """The lease as it stands, or None when nobody holds it."""
        with read_tx(self._engine) as conn:
            lease = _read(conn, name)
        return lease if lease is not None and lease.holder.holder_id else None
