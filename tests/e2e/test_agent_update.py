"""End to end: an agent updates itself to a release published on the controller, runs commands as
the new version, and rolls back from a deliberately broken build.

The builds are real wheels of this source tree (pip wheel), one with its version bumped, one bumped
and broken (its agent exits at start). The agent fetches each over its own stream, the updater
process switches STATE/install/current and starts it; nothing here stands in for anything."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.cluster import Cluster, wait_for
from tests.support.docrun import by_node, send, send_script, wait_terminal

ROOT = Path(__file__).resolve().parents[2]
BROKEN = "raise SystemExit('this build is broken on purpose: the agent exits at start')\n"


def _build(tmp: Path, version: str, broken: bool = False) -> Path:
    """A wheel of this source tree whose version is ``version`` (an agent that exits at start when
    ``broken``)."""
    src = tmp / f"src-{version}"
    for part in ("agent", "controller", "plugins", "proto"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "README.md", src / "README.md")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '\nversion = "' in pyproject
    head, _, rest = pyproject.partition('\nversion = "')
    (src / "pyproject.toml").write_text(f'{head}\nversion = "{version}"{rest[rest.index(chr(34)) + 1:]}')
    if broken:
        cli = src / "agent" / "cli.py"
        text = cli.read_text()
        cli.write_text(text.replace("def main(argv: Sequence[str] | None = None) -> int:\n",
                                    "def main(argv: Sequence[str] | None = None) -> int:\n    " + BROKEN, 1))
    out = tmp / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob(f"outpost-{version}-*.whl")
    return wheel


def _agent_pids(state: Path) -> list[int]:
    """The agent processes running on ``state`` (the updater starts them: the cluster does not know them)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "run" in cmd and str(state) in cmd:
            out.append(p.pid)
    return out


def _updater_pids(state: Path) -> list[int]:
    """The updaters handing over on ``state`` (a rollback under way starts an agent again)."""
    return [p.pid for p in psutil.process_iter(["cmdline"])
            if "plugins.agent_update.updater" in (p.info["cmdline"] or []) and
            any(str(state) in part for part in p.info["cmdline"] or [])]


def _node(cluster: Cluster, node_id: str) -> dict:
    rows = cluster.outpost_json("node", "list")
    assert isinstance(rows, list)
    return next(r for r in rows if r["node_id"] == node_id)


def _apply(cluster: Cluster, tmp: Path, name: str, task: str) -> dict:
    book = tmp / f"{name}.yml"
    book.write_text(f"- name: {name}\n  targets: {{tags: {{Environment: dev}}}}\n  tasks:\n    - name: update\n"
                    f"      agent_update: {task}\n")
    proc = cluster.outpost("playbook", "apply", str(book), "--output", "json", check=False, timeout=240)
    return json.loads(proc.stdout)["plays"][0]


@pytest.fixture
def updating(cluster: Cluster, tmp_path: Path):
    cluster.start_controller()
    cluster.enroll("n1", cluster.create_activation("Environment=dev", limit=1))
    cluster.start_agent("n1")
    cluster.wait_online(["n1"])
    state = cluster.state_dir("n1")
    try:
        yield cluster, cluster.node_ids["n1"], state
    finally:  # the updaters first: one rolling back would start an agent after it was killed
        for pid in (*_updater_pids(state), *_agent_pids(state)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_an_agent_updates_itself_runs_the_new_version_and_rolls_back_from_a_broken_one(
        updating: tuple[Cluster, str, Path], tmp_path: Path) -> None:
    cluster, node, state = updating
    good, bad = _build(tmp_path, "0.1.1"), _build(tmp_path, "0.1.2", broken=True)
    published = cluster.outpost_json("agent-release", "publish", str(good))
    assert published["version"] == "0.1.1" and len(published["sha256"]) == 64
    cluster.outpost_json("agent-release", "publish", str(bad))
    assert [r["version"] for r in cluster.outpost_json("agent-release", "list")] == ["0.1.1", "0.1.2"]
    first = _node(cluster, node)["agent_version"]
    assert first == "0.1.0"

    # the upgrade: the step hands over, the updater starts 0.1.1, which connects and finishes the step
    play = _apply(cluster, tmp_path, "upgrade", "{version: 0.1.1, reconnect_timeout_seconds: 60}")
    assert play["status"] == "Success", play["invocations"][0]["steps"][0]["error"]
    (step,) = play["invocations"][0]["steps"]
    assert "changed: the agent was updated from 0.1.0 to 0.1.1" in step["stdout"], step
    wait_for(lambda: _node(cluster, node)["agent_version"] == "0.1.1", 30, "node list to show 0.1.1")
    assert os.readlink(state / "install" / "current") == "versions/0.1.1"
    old_pid = cluster.agents["n1"].pid
    assert not psutil.pid_exists(old_pid) or cluster.agents["n1"].poll() is not None, "the old agent exited"
    (new_pid,) = _agent_pids(state)
    assert "0.1.1" in open(f"/proc/{new_pid}/environ", "rb").read().decode(errors="replace")
    # the new version runs commands
    cid = send_script(cluster, node, "echo from-the-new-version")
    assert by_node(wait_terminal(cluster, cid, 30))[node]["status_detail"] == "Success"

    # the broken build never connects: the updater rolls back, and the step says so
    began = time.monotonic()
    play = _apply(cluster, tmp_path, "broken", "{version: 0.1.2, reconnect_timeout_seconds: 15}")
    assert play["status"] == "Failed", play
    (step,) = play["invocations"][0]["steps"]
    assert step["status_detail"] == "Failed"
    assert "the new agent 0.1.2 did not come up (it exited with code 1); rolled back to 0.1.1" in step["error"], step
    assert time.monotonic() - began < 120
    assert os.readlink(state / "install" / "current") == "versions/0.1.1"
    wait_for(lambda: _node(cluster, node)["agent_version"] == "0.1.1", 30, "node list to show 0.1.1 again")
    cid = send_script(cluster, node, "echo still-running")
    assert by_node(wait_terminal(cluster, cid, 30))[node]["status_detail"] == "Success"
    assert "this build is broken on purpose" in (state / "install" / "agent.log").read_text()


def test_a_downgrade_is_refused_unless_allowed_and_an_unpublished_version_is_refused_at_send(
        updating: tuple[Cluster, str, Path], tmp_path: Path) -> None:
    cluster, node, _state = updating
    cluster.outpost_json("agent-release", "publish", str(_build(tmp_path, "0.0.9")))
    play = _apply(cluster, tmp_path, "down", "{version: 0.0.9}")
    assert play["status"] == "Failed"
    assert play["invocations"][0]["steps"][0]["error"] == (
        "agent_update: 0.0.9 is older than the running 0.1.0; set allow_downgrade to go back")
    # through command send and SSM's document name, as an AWS user writes it: the downgrade allowed
    cid = send(cluster, "--document", "AWS-UpdateSSMAgent", "--targets", f"Key=InstanceIds,Values={node}",
               "--parameters", "version=0.0.9", "--parameters", "allowDowngrade=true")
    inv = by_node(wait_terminal(cluster, cid, 120))[node]
    assert inv["status_detail"] == "Success", inv
    wait_for(lambda: _node(cluster, node)["agent_version"] == "0.0.9", 30, "node list to show 0.0.9")
    book = tmp_path / "missing.yml"
    book.write_text("- name: m\n  targets: {tags: {Environment: dev}}\n  tasks:\n"
                    "    - name: update\n      agent_update: {version: 9.9.9}\n")
    proc = cluster.outpost("playbook", "apply", str(book), check=False)
    assert proc.returncode != 0
    assert "agent release '9.9.9' is not published (published: 0.0.9)" in proc.stderr
