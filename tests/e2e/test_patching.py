"""End to end: patching through a real controller and a real agent, with real apt and dpkg working on
a Debian root the test builds (tests/plugins/patch_sandbox.py: version 1.0 of four tiny packages
installed, 2.0 published in a local repository), never the machine's own packages (asserted).

The agent is given nothing but ``APT_CONFIG`` in its environment; the operator stores a baseline
(``outpost baseline create``), sends the built-in Outpost-ApplyPatchBaseline (AWS-RunPatchBaseline)
naming it, and reads each node's compliance back (``outpost compliance list | show``): a Scan reports
the 2.0s Missing, an Install upgrades, a rejected package is held back (BLOCK), and each state shows.
A playbook's ``patch`` task names the baseline the same way."""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins import patch_sandbox as sandbox
from tests.support.cluster import Cluster
from tests.support.docrun import by_node, output, send, start_agent_with_env, wait_terminal, write_file

pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in ("dpkg-deb", "dpkg-scanpackages", "apt-get")),
                                reason="needs dpkg-deb, dpkg-scanpackages and apt-get")

BASELINE = """\
name: demo-all
description: every update, never outpost-demo-rejected
operating_system: debian
approval_rules:
  - compliance_level: HIGH
rejected_packages: [outpost-demo-rejected]
rejected_action: {action}
"""
A, B, KERNEL, REJECTED = "outpost-demo-a", "outpost-demo-b", "outpost-demo-kernel", "outpost-demo-rejected"


@pytest.fixture(autouse=True)
def host_dpkg_untouched() -> Iterator[None]:
    before = sandbox.host_status_digest()
    yield
    assert sandbox.host_status_digest() == before, "the test changed the machine's /var/lib/dpkg/status"


def _states(shown: dict) -> dict[str, tuple[str, str, str]]:
    return {r["name"]: (r["installed_version"], r["available_version"], r["state"]) for r in shown["records"]}


def _patch(cluster: Cluster, node: str, *parameters: str, document: str = "Outpost-ApplyPatchBaseline") -> dict:
    """Outpost-ApplyPatchBaseline on ``node``; its invocation once ended."""
    cid = send(cluster, "--document", document, "--targets", f"Key=InstanceIds,Values={node}",
               "--parameters", ",".join(parameters))
    return {"command_id": cid, **by_node(wait_terminal(cluster, cid, 120))[node]}


def test_baselines_scan_install_and_compliance_through_the_controller(cluster: Cluster, tmp_path: Path) -> None:
    box = sandbox.make_root(tmp_path / "root", sandbox.build_repository(tmp_path / "repo"))
    cluster.start_controller()
    cluster.enroll("n1", cluster.create_activation("Role=patch", limit=1))
    start_agent_with_env(cluster, "n1", {"APT_CONFIG": str(box.apt_config)})
    cluster.wait_online(["n1"])
    node = cluster.node_ids["n1"]

    # ---- baselines on the controller
    block = write_file(tmp_path, "demo-all.yml", BASELINE.format(action="BLOCK"))
    made = cluster.outpost_json("baseline", "create", "demo-all", "--file", str(block))
    assert (made["name"], made["operating_system"], made["content"]) == ("demo-all", "debian", block.read_text())
    again = cluster.outpost("baseline", "create", "demo-all", "--file", str(block), check=False)
    assert again.returncode == 1 and again.stderr.strip() == (
        "error: patch baseline 'demo-all' already exists; `outpost baseline update` replaces its content")
    bad = write_file(tmp_path, "bad.yml", BASELINE.format(action="block"))
    refused = cluster.outpost("baseline", "update", "demo-all", "--file", str(bad), check=False)
    assert refused.returncode == 1 and refused.stderr.strip() == (
        "error: bad.yml: rejected_action: expected one of ALLOW_AS_DEPENDENCY, BLOCK, got 'block'")
    (listed,) = cluster.outpost_json("baseline", "list")
    assert (listed["name"], listed["description"]) == ("demo-all", "every update, never outpost-demo-rejected")
    assert "rejected_action: BLOCK" in cluster.outpost("baseline", "show", "demo-all").stdout

    # ---- a send naming no stored baseline (the default, "default") is refused, naming those there are
    nobody = cluster.outpost("command", "send", "--document", "Outpost-ApplyPatchBaseline", "--parameters",
                             "Operation=Scan", "--targets", f"Key=InstanceIds,Values={node}", check=False)
    assert nobody.returncode == 1 and nobody.stderr.strip() == (
        "error: mainSteps[0].inputs.baseline: step 'PatchBaseline' names patch baseline 'default', which the "
        "controller does not hold (baselines: demo-all); create it with `outpost baseline create default --file "
        "FILE`")
    missing = cluster.outpost("compliance", "show", node, check=False)
    assert missing.returncode == 1 and "no patch step has reported from it" in missing.stderr

    # ---- Scan: the 2.0s Missing, the rejected 1.0 installed (BLOCK: InstalledRejected); nothing changes
    inv = _patch(cluster, node, "Operation=Scan", "BaselineName=demo-all", "SnapshotId=scan-1",
                 document="AWS-RunPatchBaseline")  # SSM's name for it
    assert inv["status_detail"] == "Success", inv
    assert box.installed() == dict.fromkeys((A, B, KERNEL, REJECTED), "1.0")
    shown = cluster.outpost_json("compliance", "show", node)
    assert (shown["compliant"], shown["baseline"], shown["operation"], shown["snapshot_id"], shown["command_id"]) == (
        False, "demo-all", "Scan", "scan-1", inv["command_id"])
    assert _states(shown) == {A: ("1.0", "2.0", "Missing"), B: ("1.0", "2.0", "Missing"),
                              KERNEL: ("1.0", "2.0", "Missing"), REJECTED: ("1.0", "", "InstalledRejected")}
    assert (shown["missing"], shown["installed_rejected"], shown["installed"]) == (3, 1, 0)
    (listed,) = cluster.outpost_json("compliance", "list", "--non-compliant")
    assert (listed["node_id"], listed["compliant"], listed["missing"]) == (node, False, 3) and "records" not in listed
    table = cluster.outpost("compliance", "show", node).stdout
    assert "NO" in table and "Missing" in table and "InstalledRejected" in table and A in table

    # ---- a playbook's patch task names the baseline too
    book = write_file(tmp_path, "patch.yml", "- name: scan\n  targets: {tags: {Role: patch}}\n  tasks:\n"
                                             "    - name: scan\n"
                                             "      patch: {operation: Scan, baseline: demo-all, snapshot_id: pb-1}\n")
    (play,) = json.loads(cluster.outpost("playbook", "apply", str(book), "--output", "json").stdout)["plays"]
    assert play["status"] == "Success", play
    shown = cluster.outpost_json("compliance", "show", node)
    assert (shown["command_id"], shown["snapshot_id"], shown["missing"]) == (play["command_id"], "pb-1", 3)

    # ---- Install, NoReboot: a and the kernel upgrade; b needs the rejected 2.0, which BLOCK keeps out
    inv = _patch(cluster, node, "Operation=Install", "BaselineName=demo-all", "RebootOption=NoReboot")
    assert (inv["status_detail"], inv["exit_code"]) == ("Failed", 1), inv
    assert inv["steps"][0]["error"] == f"1 update(s) failed to install: {B}"
    assert box.installed() == {A: "2.0", B: "1.0", KERNEL: "2.0", REJECTED: "1.0"}
    shown = cluster.outpost_json("compliance", "show", node)
    assert _states(shown) == {A: ("2.0", "", "Installed"), B: ("1.0", "2.0", "Failed"),
                              KERNEL: ("2.0", "", "InstalledPendingReboot"),
                              REJECTED: ("1.0", "", "InstalledRejected")}
    assert (shown["operation"], shown["compliant"], shown["reboot_option"]) == ("Install", False, "NoReboot")
    assert f"{A}" in output(cluster, inv["command_id"], node)[0]["stdout"]

    # ---- the baseline updated (the rejected one may come in as a dependency): the node is compliant
    allow = write_file(tmp_path, "allow.yml", BASELINE.format(action="ALLOW_AS_DEPENDENCY"))
    cluster.outpost("baseline", "update", "demo-all", "--file", str(allow))
    inv = _patch(cluster, node, "Operation=Install", "BaselineName=demo-all", "RebootOption=NoReboot")
    assert inv["status_detail"] == "Success", inv
    assert box.installed() == dict.fromkeys((A, B, KERNEL, REJECTED), "2.0")
    shown = cluster.outpost_json("compliance", "show", node)
    assert shown["compliant"] is True and _states(shown)[REJECTED] == ("2.0", "", "InstalledOther")
    assert cluster.outpost_json("compliance", "list", "--non-compliant") == []
    (listed,) = cluster.outpost_json("compliance", "list", "--page-size", "1")
    assert (listed["compliant"], listed["installed"], listed["installed_pending_reboot"]) == (True, 2, 1)

    # ---- a baseline deleted: commands that name it are refused; the node keeps its compliance
    cluster.outpost("baseline", "delete", "demo-all")
    assert cluster.outpost_json("baseline", "list") == []
    gone = cluster.outpost("baseline", "show", "demo-all", check=False)
    assert gone.returncode == 1 and gone.stderr.strip() == "error: no patch baseline named 'demo-all'"
    assert cluster.outpost_json("compliance", "show", node)["compliant"] is True


def test_the_package_action_from_a_playbook_check_first(cluster: Cluster, tmp_path: Path) -> None:
    """package (and its alias apt) on the real agent, with the sandbox's lists updated: `--check` says
    what would change and changes nothing; the run changes it; a second run finds nothing to do."""
    box = sandbox.make_root(tmp_path / "root", sandbox.build_repository(tmp_path / "repo"))
    sandbox.update_lists(box)
    cluster.start_controller()
    cluster.enroll("n1", cluster.create_activation("Role=pkg", limit=1))
    start_agent_with_env(cluster, "n1", {"APT_CONFIG": str(box.apt_config)})
    cluster.wait_online(["n1"])
    extra = "outpost-demo-extra"  # published, not installed
    book = write_file(tmp_path, "packages.yml", "- name: packages\n  targets: {tags: {Role: pkg}}\n  tasks:\n"
                                                "    - name: newest\n"
                                                f"      package: {{name: [{A}, {extra}], state: latest}}\n"
                                                "    - name: gone\n"
                                                f"      apt: {{name: {B}, state: absent}}\n")
    status = (box.root / "var/lib/dpkg/status").read_bytes()

    def apply(*extra_args: str) -> dict:
        proc = cluster.outpost("playbook", "apply", str(book), *extra_args, "--output", "json", check=False,
                               timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (play,) = json.loads(proc.stdout)["plays"]
        return play

    play = apply("--check")
    assert play["status"] == "Success" and play["not_checked"] == [], play
    results = {r["name"]: (r["changed"], r["stdout"]) for r in play["results"]}
    assert results == {"newest": (True, f"would change: upgrade {A} (1.0 -> 2.0)\n"
                                        f"would change: install {extra} (2.0)\n"),
                       "gone": (True, f"would change: remove {B} (1.0)\n")}
    assert (box.root / "var/lib/dpkg/status").read_bytes() == status, "check mode changes nothing"
    assert box.installed() == dict.fromkeys((A, B, KERNEL, REJECTED), "1.0")

    play = apply()
    assert play["status"] == "Success", play
    (inv,) = play["invocations"]
    assert [(s["name"], s["changed"]) for s in inv["steps"]] == [("newest", True), ("gone", True)]
    assert box.installed() == {A: "2.0", extra: "2.0", KERNEL: "1.0", REJECTED: "1.0"}
    stdout = {o["step"]: o["stdout"] for o in output(cluster, play["command_id"], cluster.node_ids["n1"])}
    assert stdout["newest"].endswith(f"changed: upgraded {A} 1.0 -> 2.0\nchanged: installed {extra} 2.0\n")
    assert stdout["gone"].endswith(f"changed: removed {B} 1.0\n")

    play = apply()  # nothing left to do
    assert [s["changed"] for s in play["invocations"][0]["steps"]] == [False, False]

    # the same action from a stored document through command send, as SSM users send documents
    doc = write_file(tmp_path, "Packages.yaml", 'schemaVersion: "2.2"\nparameters:\n  names: {type: StringList}\n'
                                                "mainSteps:\n  - {action: package, name: pkgs, inputs: "
                                                "{name: '{{ names }}', state: absent}}\n")
    cluster.outpost("document", "create", "Packages", "--file", str(doc))
    node = cluster.node_ids["n1"]
    cid = send(cluster, "--document", "Packages", "--targets", f"Key=InstanceIds,Values={node}",
               "--parameters", f"names={extra}")
    assert by_node(wait_terminal(cluster, cid, 120))[node]["status_detail"] == "Success"
    assert extra not in box.installed()
