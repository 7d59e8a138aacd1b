"""End to end: a plugin from another distribution (tests/example_plugin), installed with pip and
found by the controller, the agent and the CLI through its ``outpost.plugins`` entry point alone."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.example_plugin import install_example_plugin

EXAMPLE = Path(__file__).resolve().parents[1] / "example_plugin"


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    return install_example_plugin(tmp_path)


def test_a_pip_installed_plugin_is_found_and_runs(cluster: Cluster, installed: Path, tmp_path: Path) -> None:
    cluster.env["PYTHONPATH"] = str(installed)
    shown = cluster.outpost_json("plugin", "show", "ensure_line")
    assert shown["name"] == "ensure_line" and shown["version"] == "1.0.0"
    assert {f["name"] for f in shown["actions"][0]["inputs"]} >= {"path", "line", "create"}

    cluster.start_controller()
    cluster.enroll("web1", cluster.create_activation("Role=web", limit=1))
    cluster.start_agent("web1")
    cluster.wait_online(["web1"])
    node = cluster.node_ids["web1"]

    target = tmp_path / "motd"
    target.write_text("welcome\n")
    book = tmp_path / "site.yml"
    book.write_text("- name: motd\n"
                    "  targets: {tags: {Role: web}}\n"
                    "  tasks:\n"
                    "    - name: line\n"
                    f"      ensure_line: {{path: {target}, line: managed by outpost}}\n")
    result = cluster.outpost_json("playbook", "apply", str(book))
    (play,) = result["plays"]
    assert play["status"] == "Success", play
    assert target.read_text() == "welcome\nmanaged by outpost\n"
    (out,) = cluster.outpost_json("command", "output", play["command_id"], "--node", node)
    assert out["stdout"] == f"changed: appended the line to {target}\n"

    # idempotent: a second run changes nothing
    result = cluster.outpost_json("playbook", "apply", str(book))
    assert result["plays"][0]["status"] == "Success"
    assert target.read_text() == "welcome\nmanaged by outpost\n"

    # bad input is refused before anything is sent, naming the task's field
    book.write_text("- name: motd\n"
                    "  targets: {tags: {Role: web}}\n"
                    "  tasks:\n"
                    "    - name: bad\n"
                    "      ensure_line: {path: /tmp/x, line: y, mode: absent}\n")
    bad = cluster.outpost("playbook", "apply", str(book), check=False)
    assert bad.returncode == 2 and "mode" in bad.stderr and "Traceback" not in bad.stderr
