"""End to end (issue 18, point 5): `outpost controller rotate-signing-key`. A connected agent is told
at once, verifies the rotation with the key it pins, pins the new key (in its identity.json, read
here) and runs what the new key signs; an agent away through two rotations is sent both steps when
it connects and runs commands at once; the call is on the audit trail. (A controller restarted keeps
the rotated key: tests/trust/test_signing_keys.py.)"""
from __future__ import annotations

import json
import re

from controller.trust.signing_keys import ROTATIONS
from tests.support.cluster import Cluster, wait_for
from tests.support.docrun import send_script, wait_terminal


def _pinned(c: Cluster, name: str) -> str:
    return str(json.loads((c.state_dir(name) / "identity.json").read_text())["signing_key_id"])


def _runs(c: Cluster, name: str) -> None:
    cid = send_script(c, c.node_ids[name], f"echo ran-on-{name}")
    shown = wait_terminal(c, cid, timeout=60)
    assert shown["status_detail"] == "Success", shown


def _rotate(c: Cluster) -> tuple[str, str, int]:
    said = c.outpost("controller", "rotate-signing-key").stdout
    m = re.fullmatch(r"signing key (ed25519:[0-9a-f]{16}) replaces (ed25519:[0-9a-f]{16}); "
                     r"(\d+) connected agent\(s\) told\n", said)
    assert m is not None, said
    return m.group(1), m.group(2), int(m.group(3))


def test_agents_pin_a_rotated_signing_key_online_and_after_being_away(cluster: Cluster) -> None:
    c = cluster
    c.start_controller()
    act = c.create_activation(limit=2)
    for name in ("n1", "n2"):
        c.enroll(name, act)
        c.start_agent(name)
    c.wait_online(["n1", "n2"])
    first = _pinned(c, "n1")
    assert _pinned(c, "n2") == first
    c.stop_agent("n2")

    second, previous, told = _rotate(c)
    assert (previous, told) == (first, 1)
    wait_for(lambda: _pinned(c, "n1") == second, 10, "n1 to pin the new key")
    _runs(c, "n1")
    third, previous, _ = _rotate(c)
    assert previous == second
    wait_for(lambda: _pinned(c, "n1") == third, 10, "n1 to pin the newest key")
    assert len(json.loads((c.controller_dir / ROTATIONS).read_text())) == 2

    c.start_agent("n2")  # away through both: sent the two steps before anything else
    c.wait_online(["n2"])
    wait_for(lambda: _pinned(c, "n2") == third, 10, "n2 to pin the newest key")
    _runs(c, "n2")

    assert "signing key rotation refused" not in c.logs()

    records = [json.loads(line) for line in c.outpost("audit", "export", "--action", "controller:RotateSigningKey",
                                                      "--format", "jsonl").stdout.splitlines()]
    assert [r["outcome"] for r in records] == ["Allowed", "Succeeded"] * 2, records
