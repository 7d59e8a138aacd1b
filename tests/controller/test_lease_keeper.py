"""The controller's lease keeper (controller/runtime/lease.py) on a real SQLite store: a second
controller is refused with who holds the database; a holder on this host that is gone, or whose pid
is now another process's, is replaced at once; one on another host is waited for; a lease found
taken, or not renewable before it could lapse, ends the keeper with LeaseGone."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from controller.runtime.lease import AnotherController, LeaseGone, LeaseKeeper, process_space, this_process
from controller.store import Store, StoreError
from controller.store.lease import SOLE_CONTROLLER, LeaseClaim
from tests.support.keys import fixed_sealer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    s.migrate()
    try:
        yield s
    finally:
        s.close()


def _holder(store: Store, claim: LeaseClaim) -> None:
    store.acquire_lease(SOLE_CONTROLLER, claim, 30_000)


def test_a_second_controller_is_refused_with_the_holder_named(store: Store) -> None:
    first = LeaseKeeper(store, this_process("127.0.0.1:8443"))
    first.acquire()
    with pytest.raises(AnotherController) as refused:
        LeaseKeeper(store, this_process("127.0.0.1:9443")).acquire()
    text = str(refused.value)
    lease = store.read_lease(SOLE_CONTROLLER)
    assert lease is not None and lease.holder == first.claim
    assert "\n" not in text
    assert f"pid {first.claim.pid} on host {first.claim.host} (listening on 127.0.0.1:8443)" in text
    assert "multi-controller operation is not supported yet" in text
    assert text.endswith(f"stop that controller (pid {first.claim.pid}) first")


def test_a_holder_on_this_host_that_is_gone_is_replaced_at_once(store: Store,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = round(psutil.Process(proc.pid).create_time() * 1000)
    gone = LeaseClaim("gone", "this-host", process_space(), proc.pid, started, "127.0.0.1:8443")
    _holder(store, gone)
    proc.kill()
    proc.wait()
    caplog.set_level(logging.WARNING)
    keeper = LeaseKeeper(store, this_process("127.0.0.1:8443"))
    assert keeper.acquire().holder == keeper.claim
    assert f"took over the controller lease of pid {proc.pid}" in caplog.text


def test_a_pid_that_is_now_another_process_is_not_taken_for_the_holder(store: Store) -> None:
    me = this_process("127.0.0.1:8443")
    _holder(store, dataclasses.replace(me, holder_id="earlier", process_started_ms=me.process_started_ms - 5_000))
    keeper = LeaseKeeper(store, me)
    assert keeper.acquire().holder == me


def test_a_holder_on_another_host_is_waited_for(store: Store) -> None:
    me = this_process("127.0.0.1:8443")
    # a live pid (this one), but in another host's pid space: it cannot be looked at from here
    _holder(store, dataclasses.replace(me, holder_id="remote", host="other", process_space="boot-x/pid:[1]"))
    with pytest.raises(AnotherController) as refused:
        LeaseKeeper(store, me).acquire()
    lease = store.read_lease(SOLE_CONTROLLER)
    assert lease is not None and lease.holder.holder_id == "remote"
    until = dt.datetime.fromtimestamp(lease.expires_at_ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "on host other" in str(refused.value)
    assert f"its lease running until {until}" in str(refused.value)
    assert str(refused.value).endswith(f"stop that controller first, or if it is gone retry after {until}")


def test_renewals_keep_the_lease_and_release_frees_it(store: Store) -> None:
    keeper = LeaseKeeper(store, this_process("127.0.0.1:8443"), ttl_seconds=30, renew_seconds=0.05)
    first = keeper.acquire()

    async def renew_a_few_times() -> None:
        task = asyncio.create_task(keeper.keep())
        while (store.read_lease(SOLE_CONTROLLER) or first).renewed_at_ms == first.renewed_at_ms:
            assert not task.done()
            await asyncio.sleep(0.02)
        task.cancel()
    asyncio.run(asyncio.wait_for(renew_a_few_times(), 20))
    lease = store.read_lease(SOLE_CONTROLLER)
    assert lease is not None and lease.expires_at_ms > first.expires_at_ms
    keeper.release()
    assert store.read_lease(SOLE_CONTROLLER) is None
    other = LeaseKeeper(store, dataclasses.replace(this_process("127.0.0.1:9443"), holder_id="next"))
    assert other.acquire().holder.holder_id == "next"


def test_a_lease_found_taken_ends_the_keeper(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    keeper = LeaseKeeper(store, this_process("127.0.0.1:8443"), ttl_seconds=30, renew_seconds=0.05)
    keeper.acquire()
    thief = dataclasses.replace(keeper.claim, holder_id="thief", host="elsewhere")
    store.acquire_lease(SOLE_CONTROLLER, thief, 30_000, replacing=keeper.claim.holder_id)
    with pytest.raises(LeaseGone, match="lost the controller lease .*pid .* on elsewhere.*stopped serving"):
        asyncio.run(asyncio.wait_for(keeper.keep(), 20))
    assert "lost the controller lease" in caplog.text


def test_a_lease_that_cannot_be_renewed_before_it_could_lapse_ends_the_keeper(store: Store) -> None:
    keeper = LeaseKeeper(store, this_process("127.0.0.1:8443"), ttl_seconds=0.4, renew_seconds=0.1)
    keeper.acquire()
    tries: list[str] = []

    def unreachable(*args: object) -> None:
        tries.append("renew")
        raise StoreError("database error: connection refused")
    store.renew_lease = unreachable  # type: ignore[method-assign]
    with pytest.raises(LeaseGone, match="could not renew the controller lease .*connection refused"):
        asyncio.run(asyncio.wait_for(keeper.keep(), 20))
    assert len(tries) >= 2  # it tried again before it gave up
