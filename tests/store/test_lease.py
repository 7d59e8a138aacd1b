"""Controller leases (controller/store/lease.py) on SQLite and PostgreSQL: one holder at a time, its
time on the database's clock, taken over only when it lapsed or its holder is known to be gone."""
from __future__ import annotations

import time

import pytest

from controller.store import Store
from controller.store.lease import SOLE_CONTROLLER, LeaseClaim, LeaseHeld, LeaseLost
from tests.store.test_store import run_threads
from tests.support.keys import fixed_sealer

TTL_MS = 30_000


def claim(holder: str, pid: int = 100) -> LeaseClaim:
    return LeaseClaim(holder, f"host-{holder}", "boot/pid:[1]", pid, 1_700_000_000_000 + pid, "127.0.0.1:8443")


def test_first_taker_gets_the_lease_and_a_second_is_told_who_holds_it(store: Store) -> None:
    assert store.read_lease(SOLE_CONTROLLER) is None
    got = store.acquire_lease(SOLE_CONTROLLER, claim("a"), TTL_MS)
    assert got.holder == claim("a")
    assert got.expires_at_ms == got.renewed_at_ms + TTL_MS == got.acquired_at_ms + TTL_MS
    assert not got.lapsed
    # the database's clock: within a minute of this host's (same machine here)
    assert abs(got.now_ms - time.time() * 1000) < 60_000

    with pytest.raises(LeaseHeld) as held:
        store.acquire_lease(SOLE_CONTROLLER, claim("b", pid=200), TTL_MS)
    assert held.value.lease.holder == claim("a")
    assert held.value.lease.expires_at_ms == got.expires_at_ms
    assert store.read_lease(SOLE_CONTROLLER).holder == claim("a")  # the refused taker changed nothing


def test_renewal_moves_the_end_and_keeps_the_start(store: Store) -> None:
    first = store.acquire_lease(SOLE_CONTROLLER, claim("a"), TTL_MS)
    time.sleep(0.01)
    renewed = store.renew_lease(SOLE_CONTROLLER, "a", TTL_MS)
    assert renewed.acquired_at_ms == first.acquired_at_ms
    assert renewed.expires_at_ms > first.expires_at_ms
    again = store.acquire_lease(SOLE_CONTROLLER, claim("a"), TTL_MS)  # its own lease: still since the first
    assert again.acquired_at_ms == first.acquired_at_ms


def test_a_lapsed_lease_goes_to_the_next_taker_and_its_old_holder_cannot_renew(store: Store) -> None:
    store.acquire_lease(SOLE_CONTROLLER, claim("a"), 50)
    time.sleep(0.2)
    assert store.read_lease(SOLE_CONTROLLER).lapsed
    taken = store.acquire_lease(SOLE_CONTROLLER, claim("b", pid=200), TTL_MS)
    assert taken.holder.holder_id == "b"
    with pytest.raises(LeaseLost) as lost:
        store.renew_lease(SOLE_CONTROLLER, "a", TTL_MS)
    assert lost.value.lease is not None and lost.value.lease.holder == claim("b", pid=200)
    assert not store.release_lease(SOLE_CONTROLLER, "a")  # nor give back what is not its any more
    assert store.read_lease(SOLE_CONTROLLER).holder.holder_id == "b"


def test_a_holder_known_to_be_gone_is_replaced_at_once(store: Store) -> None:
    store.acquire_lease(SOLE_CONTROLLER, claim("a"), TTL_MS)
    with pytest.raises(LeaseHeld):
        store.acquire_lease(SOLE_CONTROLLER, claim("b", pid=200), TTL_MS, replacing="someone-else")
    taken = store.acquire_lease(SOLE_CONTROLLER, claim("b", pid=200), TTL_MS, replacing="a")
    assert taken.holder.holder_id == "b" and not taken.lapsed


def test_release_frees_the_lease_for_the_next_taker(store: Store) -> None:
    store.acquire_lease(SOLE_CONTROLLER, claim("a"), TTL_MS)
    assert store.release_lease(SOLE_CONTROLLER, "a")
    assert store.read_lease(SOLE_CONTROLLER) is None
    with pytest.raises(LeaseLost) as lost:
        store.renew_lease(SOLE_CONTROLLER, "a", TTL_MS)
    assert lost.value.lease is None
    assert store.acquire_lease(SOLE_CONTROLLER, claim("b", pid=200), TTL_MS).holder.holder_id == "b"


def test_leases_of_other_names_are_independent(store: Store) -> None:
    store.acquire_lease(SOLE_CONTROLLER, claim("a"), TTL_MS)
    other = store.acquire_lease("controller:b", claim("b", pid=200), TTL_MS)
    assert other.holder.holder_id == "b"
    assert store.read_lease(SOLE_CONTROLLER).holder.holder_id == "a"


def test_a_bad_ttl_is_refused(store: Store) -> None:
    with pytest.raises(Exception, match="ttl must be positive"):
        store.acquire_lease(SOLE_CONTROLLER, claim("a"), 0)


def test_of_many_concurrent_takers_exactly_one_wins(store_url: str) -> None:
    stores = [Store.open(store_url, fixed_sealer()) for _ in range(6)]
    try:
        stores[0].migrate()

        def take(i: int) -> str:
            try:
                return stores[i].acquire_lease(SOLE_CONTROLLER, claim(f"c{i}", pid=i + 1), TTL_MS).holder.holder_id
            except LeaseHeld as exc:
                return f"held by {exc.lease.holder.holder_id}"
        results = run_threads(6, take)
        winners = [r for r in results if not r.startswith("held by")]
        assert len(winners) == 1, results
        assert set(results) - set(winners) <= {f"held by {winners[0]}"}
        assert stores[0].read_lease(SOLE_CONTROLLER).holder.holder_id == winners[0]
    finally:
        for s in stores:
            s.close()
