"""End to end: `outpost controller recover-operator` (break glass) on the controller's host. While
the controller runs it is refused and issues nothing; with it stopped it makes a new operator
holding AdministratorAccess, whose bundle (0600 files) calls the controller once it is back; a
revoked operator's name is refused; the issue is on the audit trail by the host's user, and the
trail still verifies."""
from __future__ import annotations

import getpass
import json
import socket
from pathlib import Path

from tests.support.cluster import Cluster


def test_break_glass_needs_the_controller_stopped_and_is_audited(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    c.start_controller()
    d = str(c.controller_dir)
    running = c.outpost("controller", "recover-operator", "--dir", d, "rescue", "--out", str(tmp_path / "no"),
                        check=False)
    assert running.returncode == 1 and running.stderr.startswith("error: ") and "\n" == running.stderr[-1], running
    assert "controller" in running.stderr and not (tmp_path / "no" / "config.yaml").exists()
    assert "rescue" not in c.outpost("operator", "list").stdout

    c.stop_controller()
    out = c.outpost("controller", "recover-operator", "--dir", d, "rescue", "--out", str(tmp_path / "rescue")).stdout
    assert out.startswith("operator rescue created (") and "holds: AdministratorAccess" in out, out
    bundle = tmp_path / "rescue"
    assert {p.name: p.stat().st_mode & 0o777 for p in bundle.iterdir()} == {
        "rescue.key": 0o600, "rescue.crt": 0o600, "ca.crt": 0o600, "config.yaml": 0o600}

    c.start_controller()
    rescued = c.outpost("--config", str(bundle / "config.yaml"), "operator", "list", "--output", "json").stdout
    assert {"rescue", "admin"} <= {row["name"] for row in json.loads(rescued)}
    records = [json.loads(line) for line in c.outpost("audit", "export", "--action", "operator:RecoverAccess",
                                                      "--format", "jsonl").stdout.splitlines()]
    assert [(r["actor"], r["resource"], r["outcome"]) for r in records] == [
        (f"host/{getpass.getuser()}@{socket.gethostname()}", "operator/rescue", "Succeeded")]
    assert c.outpost("audit", "verify").returncode == 0
    c.outpost("--config", str(bundle / "config.yaml"), "operator", "revoke", "rescue")
    c.stop_controller()
    again = c.outpost("controller", "recover-operator", "--dir", d, "rescue", "--out", str(tmp_path / "again"),
                      check=False)
    assert again.returncode == 1 and again.stderr == "error: operator rescue is revoked; recover access under " \
                                                      "a new name\n", again.stderr
