"""End to end: a controller started with a low open-file limit (RLIMIT_NOFILE, soft and hard) states
at start how many agent streams it has room for, and holds no more: a swarm of more agents than that
gets the rest refused with RESOURCE_EXHAUSTED and a reason naming the limit and LimitNOFILE. The
controller never runs out of open files (no "File descriptor limit reached" in its log), answers
its operator, and says so under ``node list``; when the agents go, the room comes back."""
from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

from controller.dev.cluster import OUTPOST, ROOT
from tests.support.cluster import Cluster, wait_for

OPEN_FILES = 230  # room for a few dozen streams (controller/runtime/openfiles.py shares it out)
AGENTS = OPEN_FILES + 40  # more than the controller could hold connections for, had it no caps


def _node_list(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """``outpost node list``: while refused agents knock, an operator's connection may be turned
    away for a while (the listener's connections are capped below the limit, and a refused agent's
    connection stays until it has been idle for 10 s); it answers once they back off."""
    out: list[subprocess.CompletedProcess[str]] = []

    def answered() -> bool:
        out[:] = [subprocess.run([*OUTPOST, "node", "list", *args], env=cluster.env, cwd=ROOT, capture_output=True,
                                 text=True, timeout=60)]
        return out[0].returncode == 0
    wait_for(answered, 120, "node list to answer", interval=0.5)
    return out[0]


def test_streams_beyond_the_open_file_limit_are_refused_with_the_reason(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_controller(open_files=OPEN_FILES)
    assert cluster.controller is not None
    log = cluster.root / "controller.log"
    said = re.search(rf"open-file limit {OPEN_FILES}: room for about (\d+) agent streams "
                     r"\(raise LimitNOFILE to hold more\)", log.read_text())
    assert said, log.read_text()
    room = int(said.group(1))
    assert 0 < room < AGENTS
    agents = AGENTS

    act = cluster.create_activation(limit=agents)
    swarm = cluster.spawn("swarm", ["swarm", "--controller", cluster.address, "--agents", str(agents),
                                    "--state-dir", str(tmp_path / "swarm"), "--activation-id", act.activation_id,
                                    f"--activation-code={act.code}", "--ca-fingerprint", act.ca_fingerprint,
                                    "--heartbeat-seconds", "1", "--connect-rate", "100", "--status-seconds", "1",
                                    "--backoff-base-seconds", "5"])
    cluster.agents["swarm"] = swarm
    swarm_log = cluster.root / "swarm.log"

    def refused() -> bool:
        assert swarm.poll() is None, cluster.logs()
        return swarm_log.read_text().count("RESOURCE_EXHAUSTED") >= agents - room
    wait_for(refused, 120, f"{agents - room} streams to be refused")
    reasons = {line.split("RESOURCE_EXHAUSTED ", 1)[1] for line in swarm_log.read_text().splitlines()
               if "RESOURCE_EXHAUSTED" in line}
    assert reasons == {f"controller at capacity: {room} agent streams open, as many as its limit of {OPEN_FILES} "
                       f"open files leaves room for; retry later (its operator can raise LimitNOFILE for the "
                       f"controller to hold more)"}

    # the operator is answered, and told: exactly the room's worth of nodes Online, and why
    def full() -> bool:
        rows = json.loads(_node_list(cluster, "--output", "json").stdout)
        return sum(r["ping_status"] == "Online" for r in rows) == room
    wait_for(full, 60, f"{room} nodes Online", interval=0.5)
    shown = _node_list(cluster, "--output", "json")
    assert len(json.loads(shown.stdout)) == agents  # every agent enrolled; the others are not Online
    assert re.fullmatch(rf"warning: at capacity: {room} of {room} agent streams open, \d+ refused since \S+Z "
                        rf"\(the last at \S+Z\); the controller's open-file limit is {OPEN_FILES}: raise LimitNOFILE "
                        r"to hold more\n", shown.stderr), shown.stderr
    table = _node_list(cluster).stdout
    assert table.rstrip().splitlines()[-1].startswith(f"at capacity: {room} of {room} agent streams open, ")

    text = log.read_text()
    assert "agent streams at capacity" in text and "LimitNOFILE" in text
    assert "File descriptor limit reached" not in text
    assert "Too many open files" not in text
    assert cluster.controller.poll() is None

    # the agents go: their streams no longer count
    cluster.agents.pop("swarm")
    swarm.send_signal(signal.SIGTERM)
    assert swarm.wait(timeout=60) == 0, cluster.logs()

    def emptied() -> bool:
        return _node_list(cluster).stdout.rstrip().splitlines()[-1].startswith(f"agent streams: 0 of about {room} open")
    wait_for(emptied, 60, "the streams to be released", interval=0.5)
