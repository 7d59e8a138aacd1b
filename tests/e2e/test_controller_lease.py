"""End to end: one controller per database. A second controller started on the database another
serves (SQLite, and a PostgreSQL schema when OUTPOST_TEST_POSTGRES_DSN is set) exits non-zero with
one line naming the first, and touches nothing: the first keeps serving and its node stays Online.
A controller killed with SIGKILL is restarted at once: its lease, left behind, names a process that
is gone, and the new controller takes it over without waiting for it to lapse. A controller that
finds its lease taken stops serving, exits non-zero and writes nothing more on its way out."""
from __future__ import annotations

import dataclasses
import signal

from controller.dev.cluster import free_port_pair
from controller.runtime.config import ControllerDir
from controller.store import Store
from controller.store.lease import SOLE_CONTROLLER
from tests.support.cluster import Cluster
from tests.support.keys import controller_sealer


def test_a_second_controller_on_the_same_database_refuses_to_start(cluster_on: Cluster) -> None:
    cluster = cluster_on
    cluster.start_controller()
    assert cluster.controller is not None
    first = cluster.controller.pid
    act = cluster.create_activation(limit=1)
    cluster.enroll("n1", act)
    cluster.start_agent("n1")
    cluster.wait_online(["n1"])

    port = free_port_pair()
    second = cluster.spawn("controller-2", ["controller", "serve", "--dir", str(cluster.controller_dir),
                                            "--listen", f"127.0.0.1:{port}"])
    assert second.wait(timeout=60) != 0
    log = (cluster.root / "controller-2.log").read_text()
    errors = [line for line in log.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, log
    assert f"another controller serves this database: pid {first} on host " in errors[0]
    assert f"(listening on {cluster.address})" in errors[0]
    assert "multi-controller operation is not supported yet" in errors[0]
    assert "Traceback" not in log

    # the first goes on serving, and the second wrote nothing: the node is still Online
    assert cluster.controller.poll() is None
    assert [r["ping_status"] for r in cluster.nodes()] == ["Online"]
    sent = cluster.outpost_json("command", "send", "--document", "Outpost-RunShellScript",
                                "--parameters", "commands=echo still-here", "--all")
    assert isinstance(sent, dict)
    done = cluster.outpost_json("command", "wait", str(sent["command_id"]))
    assert isinstance(done, dict) and done["status_detail"] == "Success", done


def test_a_controller_killed_outright_is_restarted_at_once(cluster_on: Cluster) -> None:
    cluster = cluster_on
    cluster.start_controller()
    assert cluster.controller is not None
    killed = cluster.controller.pid
    cluster.stop_controller(signal.SIGKILL)  # its lease stays behind, running for another 30 s
    cluster.start_controller()  # fails if the controller exits
    log = (cluster.root / "controller.log").read_text()
    assert f"took over the controller lease of pid {killed} on this host" in log
    assert "another controller serves this database" not in log
    act = cluster.create_activation(limit=1)  # and it serves
    cluster.enroll("n1", act)
    cluster.start_agent("n1")
    cluster.wait_online(["n1"])


def test_a_controller_whose_lease_is_taken_stops_serving(cluster_on: Cluster) -> None:
    cluster = cluster_on
    cluster.start_controller()
    assert cluster.controller is not None
    act = cluster.create_activation(limit=1)
    cluster.enroll("n1", act)
    cluster.start_agent("n1")
    cluster.wait_online(["n1"])
    url = ControllerDir(cluster.controller_dir).load_settings().database_url
    with Store.open(url, controller_sealer(cluster.controller_dir)) as store:
        held = store.read_lease(SOLE_CONTROLLER)
        assert held is not None and held.holder.pid == cluster.controller.pid
        thief = dataclasses.replace(held.holder, holder_id="thief", host="elsewhere", pid=1)
        store.acquire_lease(SOLE_CONTROLLER, thief, 60_000, replacing=held.holder.holder_id)
        # its next renewal (every 10 s) finds the lease taken: it stops, and says why
        assert cluster.controller.wait(timeout=60) != 0
        log = (cluster.root / "controller.log").read_text()
        assert "error: lost the controller lease (lease sole-controller is now held by pid 1 on elsewhere); " \
               "stopped serving" in log, log
        assert "Traceback" not in log
        # and it neither gave the lease back nor wrote its nodes off as gone on its way out
        after = store.read_lease(SOLE_CONTROLLER)
        assert after is not None and after.holder == thief
        assert [n.ping_status.value for n in store.list_nodes()] == ["Online"]
