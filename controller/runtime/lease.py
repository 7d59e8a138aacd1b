"""This controller's hold on its database: the sole-controller lease (controller/store/lease.py),
taken before anything is served, renewed while serving, given back on a clean stop.

Multi-controller operation is not supported yet. Two controllers on one database each believed
they held every agent: a node connected to one was shown Online by the other, whose invocations
for it then ended DeliveryTimedOut. So a second controller refuses to start, naming the one that
holds the database and until when.

A controller killed outright (kill -9, a crash) leaves its lease behind. When the recorded holder
ran on this host (the same kernel boot and pid namespace, so its pid means the same thing here)
and that process is gone, or the pid is now another process's (a different start time), the lease
is taken over at once: a restart does not wait out the lease. A holder on another host cannot be
checked from here: its lease must lapse (``TTL_SECONDS`` after its last renewal).

A controller that cannot renew its lease before it could lapse, or finds it taken, stops serving:
past that point another controller may hold the database, and two writers are what the lease is
for. ``Db.fence`` then refuses the database to everything still running here.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from controller.store import Store, StoreError
from controller.store.lease import SOLE_CONTROLLER, Lease, LeaseClaim, LeaseHeld, LeaseLost
from plugins.sdk.errors import OutpostError

log = logging.getLogger(__name__)

TTL_SECONDS = 30.0
RENEW_SECONDS = 10.0
RETRY_SECONDS = 1.0  # after a renewal failed, while the lease has time left


class AnotherController(OutpostError):
    """Another controller holds this database."""


class LeaseGone(OutpostError):
    """This controller no longer holds its database, or cannot show that it does: it stops serving."""


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def process_space() -> str:
    """Where a pid names one process: this boot of this kernel and this pid namespace ("" where that
    cannot be read: then no holder is ever taken to be on this host)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return ""


def _started_ms(process: psutil.Process) -> int:
    return round(process.create_time() * 1000)


def this_process(listen: str) -> LeaseClaim:
    return LeaseClaim(uuid.uuid4().hex, socket.gethostname(), process_space(), os.getpid(),
                      _started_ms(psutil.Process()), listen)


def holder_is_gone(holder: LeaseClaim, here: str) -> bool:
    """Whether ``holder`` is known not to run any more: it ran where pids mean what they mean here, and
    its pid is free, a zombie, or another process's. False when that cannot be told."""
    if not here or holder.process_space != here:
        return False
    try:
        process = psutil.Process(holder.pid)
        return process.status() == psutil.STATUS_ZOMBIE or _started_ms(process) != holder.process_started_ms
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # not ours to look at: assume it runs
        return False


def refusal(lease: Lease, here: str) -> str:
    """The one line a second controller exits with."""
    h = lease.holder
    text = (f"another controller serves this database: pid {h.pid} on host {h.host} (listening on {h.listen}) "
            f"since {_iso(lease.acquired_at_ms)}, its lease running until {_iso(lease.expires_at_ms)}; "
            f"multi-controller operation is not supported yet: ")
    if here and h.process_space == here:
        return text + f"stop that controller (pid {h.pid}) first"
    return text + f"stop that controller first, or if it is gone retry after {_iso(lease.expires_at_ms)}"


class LeaseKeeper:
    """Takes, keeps and gives back this controller's lease. Renewals run on a thread of their own, so
    that they do not wait behind the fleet's database work (``Db``'s one thread)."""

    def __init__(self, store: Store, claim: LeaseClaim, *, ttl_seconds: float = TTL_SECONDS,
                 renew_seconds: float = RENEW_SECONDS) -> None:
        if not 0 < renew_seconds < ttl_seconds:
            raise ValueError("a lease is renewed more often than it lasts")
        self._store = store
        self.claim = claim
        self._ttl_ms = round(ttl_seconds * 1000)
        self._renew = renew_seconds
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outpost-lease")

    def acquire(self) -> Lease:
        """Take the lease, or AnotherController naming who holds it. A holder on this host that is
        gone is replaced at once."""
        here = self.claim.process_space
        try:
            return self._store.acquire_lease(SOLE_CONTROLLER, self.claim, self._ttl_ms)
        except LeaseHeld as held:
            left = held.lease
        if not holder_is_gone(left.holder, here):
            raise AnotherController(refusal(left, here))
        try:
            lease = self._store.acquire_lease(SOLE_CONTROLLER, self.claim, self._ttl_ms,
                                              replacing=left.holder.holder_id)
        except LeaseHeld as held:  # a third controller was quicker
            raise AnotherController(refusal(held.lease, here)) from None
        log.warning("took over the controller lease of pid %d on this host (%s), which is gone; its lease ran "
                    "until %s", left.holder.pid, left.holder.host, _iso(left.expires_at_ms))
        return lease

    async def keep(self) -> None:
        """Renew every ``renew_seconds`` until cancelled. Raises LeaseGone when the lease is found
        taken, or when it could not be renewed before it might lapse (``ttl - renew`` after the last
        renewal: a renewal's worth of time is left for this controller to stop)."""
        loop = asyncio.get_running_loop()
        renewed = loop.time()
        wait = self._renew
        while True:
            await asyncio.sleep(wait)
            try:
                await loop.run_in_executor(self._pool, self._store.renew_lease, SOLE_CONTROLLER,
                                           self.claim.holder_id, self._ttl_ms)
            except LeaseLost as exc:
                text = (f"lost the controller lease ({exc}); stopped serving: multi-controller operation is "
                        f"not supported yet")
                log.error("%s", text)
                raise LeaseGone(text) from None
            except StoreError as exc:
                if loop.time() - renewed >= self._ttl_ms / 1000 - self._renew:
                    text = (f"could not renew the controller lease for {loop.time() - renewed:.0f} s ({exc}); "
                            f"stopped serving before another controller could take the database")
                    log.error("%s", text)
                    raise LeaseGone(text) from None
                log.warning("could not renew the controller lease (%s); trying again", exc)
                wait = min(RETRY_SECONDS, self._renew)
                continue
            renewed, wait = loop.time(), self._renew

    def release(self) -> None:
        """Give the lease back (a clean stop): the next controller need not wait."""
        try:
            if self._store.release_lease(SOLE_CONTROLLER, self.claim.holder_id):
                log.info("released the controller lease")
        except StoreError as exc:
            log.warning("could not release the controller lease (%s); it lapses by itself", exc)
        finally:
            self._pool.shutdown(wait=False)
