"""End to end: operators and policies through the real CLI, controller and agents (issue 18).

The administrator made by `controller init` creates a policy pasted from IAM (SSM's least-privilege
example: send only the shell document, only to nodes tagged Environment=prod), creates an operator
holding it, and that operator uses its own bundle: what the policy allows runs, what it does not is
refused whole, in one line naming what was denied, and nothing runs. Then the operator is revoked.
"""
from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.docrun import AgentSpec, start_fleet

POLICIES = Path(__file__).resolve().parents[1] / "trust" / "policies"
PROD, DEV = "Key=tag:Environment,Values=prod", "Key=tag:Environment,Values=dev"
SHELL = ("--document", "Outpost-RunShellScript")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("access"))
    c.init()
    try:
        start_fleet(c, [AgentSpec("prod-1", "Environment=prod"), AgentSpec("dev-1", "Environment=dev")])
        yield c
    finally:
        c.close()


def _operator(fleet: Cluster, name: str, *policies: str) -> Path:
    out = fleet.root / f"bundle-{name}"
    args = ["operator", "create", name, "--out", str(out)]
    for p in policies:
        args += ["--policy", p]
    fleet.outpost(*args)
    return out / "config.yaml"


def _as(fleet: Cluster, config: Path, *args: str, check: bool = False) -> tuple[int, str, str]:
    proc = fleet.outpost("--config", str(config), *args, check=check)
    return proc.returncode, proc.stdout, proc.stderr


def _marker(fleet: Cluster, name: str) -> Path:
    return fleet.root / f"ran-{name}"


def _commands(fleet: Cluster) -> int:
    rows = fleet.outpost_json("command", "list", "--limit", "1000")
    assert isinstance(rows, list)
    return len(rows)


def test_a_least_privilege_operator_from_a_pasted_iam_policy(fleet: Cluster) -> None:
    fleet.outpost("policy", "create", "prod-shell", "--file", str(POLICIES / "ssm-least-privilege.json"))
    config = _operator(fleet, "alice", "prod-shell")

    # `send --wait` streams back what it sent: without command:Get it is refused before anything is sent
    marker = _marker(fleet, "unwatched")
    rc, _, err = _as(fleet, config, "command", "send", *SHELL, "--targets", PROD,
                     "--parameters", f"commands=touch {marker}", "--wait")
    assert rc == 1 and "operator alice may not command:Get" in err
    assert not marker.exists() and _commands(fleet) == 0
    reader = fleet.root / "read-commands.yaml"
    reader.write_text("Statement:\n  - Effect: Allow\n    Action: [command:Get, command:List]\n    Resource: '*'\n")
    fleet.outpost("policy", "create", "read-commands", "--file", str(reader))
    fleet.outpost("policy", "attach", "read-commands", "--operator", "alice")

    # the bundle: a directory of its own, every file 0600
    bundle = config.parent
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
    assert sorted(p.name for p in bundle.iterdir()) == ["alice.crt", "alice.key", "ca.crt", "config.yaml"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in bundle.iterdir()} == {0o600}

    # allowed: the shell document to prod
    marker = _marker(fleet, "prod")
    rc, out, err = _as(fleet, config, "command", "send", *SHELL, "--targets", PROD,
                       "--parameters", f"commands=touch {marker}", "--wait")
    assert rc == 0, err
    assert marker.exists()

    # refused whole: dev alone, and prod with dev; nothing stored, nothing run
    before = _commands(fleet)
    dev_node = fleet.node_ids["dev-1"]
    for targets in (DEV, "Key=tag:Environment,Values=prod,dev"):
        marker = _marker(fleet, "refused")
        rc, out, err = _as(fleet, config, "command", "send", *SHELL, "--targets", targets,
                           "--parameters", f"commands=touch {marker}")
        assert rc == 1
        assert err.count("\n") == 1 and err.startswith("error: ")
        assert f"operator alice may not command:Send on node/{dev_node}" in err
        assert fleet.node_ids["prod-1"] not in err.split("(")[0]  # only the denied nodes are named as denied
        assert not marker.exists()
    assert _commands(fleet) == before

    # another document, and calls the policy does not cover
    rc, _, err = _as(fleet, config, "command", "send", "--document", "Outpost-RunPowerShellScript",
                     "--targets", PROD, "--parameters", "commands=echo x")
    assert rc == 1 and "may not command:Send on document/Outpost-RunPowerShellScript" in err
    rc, _, err = _as(fleet, config, "operator", "list")
    assert rc == 1 and "operator alice may not operator:List" in err
    rc, _, err = _as(fleet, config, "policy", "create", "mine", "--file", str(POLICIES / "deny-ssm.json"))
    assert rc == 1 and "may not policy:Create on policy/mine" in err

    # the simulator names the deciding statement, and exits 1 on a denial
    proc = fleet.outpost("policy", "simulate", "--operator", "alice", "--action", "command:Send", *SHELL,
                         "--targets", PROD, check=False)
    assert proc.returncode == 0 and "allowed by prod-shell:Statement[0]" in proc.stdout
    proc = fleet.outpost("policy", "simulate", "--operator", "alice", "--action", "command:Send", *SHELL,
                         "--targets", DEV, "--output", "json", check=False)
    assert proc.returncode == 1
    decided = json.loads(proc.stdout)
    assert decided["decision"] == "implicit deny"
    assert {"resource": f"node/{dev_node}", "decision": "implicit deny", "statement": ""} in decided["resources"]

    # renewing its own certificate needs no policy; then revoked, it can do nothing, at once
    rc, out, err = _as(fleet, config, "operator", "renew")
    assert rc == 0, err
    fleet.outpost("operator", "revoke", "alice")
    rc, _, err = _as(fleet, config, "command", "send", *SHELL, "--targets", PROD, "--parameters", "commands=true")
    assert rc == 1 and "revoked" in err
    shown = fleet.outpost_json("operator", "show", "alice")
    assert isinstance(shown, dict) and shown["revoked"]
    assert len(shown["certificates"]) == 2 and all(c["revoked"] for c in shown["certificates"])


def test_an_operator_without_policies_may_do_nothing_and_a_deny_wins(fleet: Cluster) -> None:
    bare = _operator(fleet, "nobody")
    rc, _, err = _as(fleet, bare, "node", "list")
    assert rc == 1 and "operator nobody may not node:List" in err

    fleet.outpost("policy", "create", "deny-ssm", "--file", str(POLICIES / "deny-ssm.json"))
    config = _operator(fleet, "carol", "AdministratorAccess", "deny-ssm")
    rc, _, err = _as(fleet, config, "command", "send", *SHELL, "--targets", PROD, "--parameters", "commands=true")
    assert rc == 1 and "explicit: denied by deny-ssm" in err
    rc, _, err = _as(fleet, config, "operator", "list")
    assert rc == 0, err  # AdministratorAccess, and the deny covers ssm's actions only

    # a policy that is attached cannot be deleted; the built-in one never
    proc = fleet.outpost("policy", "delete", "deny-ssm", check=False)
    assert proc.returncode == 1 and "attached to carol" in proc.stderr
    proc = fleet.outpost("policy", "delete", "AdministratorAccess", check=False)
    assert proc.returncode == 1 and "built in" in proc.stderr


def test_a_bad_policy_is_refused_in_one_line_and_not_stored(fleet: Cluster) -> None:
    bad = fleet.root / "bad.yaml"
    bad.write_text("Statement:\n  - Effect: Allow\n    Action: comand:Send\n    Resource: '*'\n")
    proc = fleet.outpost("policy", "create", "bad", "--file", str(bad), check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Statement[0].Action" in proc.stderr and "comand:Send" in proc.stderr
    names = [p["name"] for p in fleet.outpost_json("policy", "list")]  # type: ignore[union-attr]
    assert "bad" not in names
