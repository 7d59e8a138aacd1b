"""End to end: the everyday actions on real agents, from a playbook and from `command send`; check
mode; and what a node that lacks a plugin does (its Hello lists its plugins, `--check` says so
before anything is sent, and its agent refuses the document whole: Undeliverable).

Two agents: web1 has the third-party `ensure_line` plugin (tests/example_plugin) and a stand-in
`systemctl` first on its PATH (systemd cannot run here: the service tasks say so in their names);
web2 has neither. Both run on this machine, so the file tasks target web1 alone."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins.test_service import STAND_IN
from tests.support.cluster import Cluster
from tests.support.docrun import by_node, create_document, send, start_agent_with_env, wait_terminal
from tests.support.example_plugin import install_example_plugin


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("actions")
    site = install_example_plugin(root)
    stand_in = root / "systemd"
    (stand_in / "bin").mkdir(parents=True)
    (stand_in / "state").mkdir()
    (stand_in / "bin" / "systemctl").write_text(STAND_IN)
    (stand_in / "bin" / "systemctl").chmod(0o755)
    (stand_in / "state" / "active").write_text("inactive\n")
    (stand_in / "state" / "enabled").write_text("disabled\n")
    c = Cluster(root / "cluster")
    c.init()
    c.env["PYTHONPATH"] = str(site)  # the controller and the CLI know ensure_line
    try:
        c.start_controller()
        c.enroll("web1", c.create_activation("Role=web1", limit=1))
        c.enroll("web2", c.create_activation("Role=web2", limit=1))
        start_agent_with_env(c, "web1", {"PATH": f"{stand_in / 'bin'}:{c.env.get('PATH', '/usr/bin:/bin')}",
                                         "STANDIN_STATE": str(stand_in / "state")})
        start_agent_with_env(c, "web2", {"PYTHONPATH": ""})  # without the plugin
        c.wait_online(["web1", "web2"])
        c.stand_in = stand_in  # type: ignore[attr-defined]
        yield c
    finally:
        c.close()


@pytest.fixture
def cluster(fleet_cluster: Cluster) -> Cluster:
    return fleet_cluster


def _book(tmp: Path, role: str, tasks: str) -> Path:
    path = tmp / f"{role}.yml"
    path.write_text(f"- name: {role}\n  targets: {{tags: {{Role: {role}}}}}\n  tasks:\n{tasks}")
    return path


def _apply(cluster: Cluster, book: Path, *extra: str) -> tuple[int, dict]:
    proc = cluster.outpost("playbook", "apply", str(book), *extra, "--output", "json", check=False, timeout=120)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_hello_lists_each_nodes_plugins(cluster: Cluster) -> None:
    rows = {r["node_id"]: r for r in cluster.outpost_json("node", "list")}
    web1, web2 = rows[cluster.node_ids["web1"]], rows[cluster.node_ids["web2"]]
    assert web1["plugins"]["ensure_line"] == "1.0.0" and "ensure_line" not in web2["plugins"]
    assert {"shell", "powershell", "file", "copy", "lineinfile", "service", "patch",
            "agent_update"} <= set(web2["plugins"])


def test_check_then_apply_then_apply_again_changes_once(cluster: Cluster, tmp_path: Path) -> None:
    d = tmp_path / "site"
    d.mkdir(mode=0o755)  # (check mode, as Ansible's, cannot copy into a directory an earlier task would make)
    tasks = (f"    - name: dir\n      file: {{path: {d}, state: directory, mode: '0750'}}\n"
             f"    - name: conf\n      copy: {{dest: {d}/app.conf, content: \"port=80\\n\"}}\n"
             f"    - name: line\n      lineinfile: {{path: {d}/other.conf, line: 'debug=false', create: true}}\n"
             f"    - name: marker\n      ensure_line: {{path: {d}/other.conf, line: managed}}\n"
             f"    - name: script\n      shell: touch {d}/script-ran\n")
    book = _book(tmp_path, "web1", tasks)
    code, out = _apply(cluster, book, "--check")
    (play,) = out["plays"]
    assert code == 0, play
    assert play["not_checked"] == ["step 'script': shell cannot run in check mode (not run)"]
    assert play["lacking"] == []
    results = {r["name"]: r for r in play["results"]}
    assert set(results) == {"dir", "conf", "line", "marker"}, "the shell task is never sent in check mode"
    assert all(r["changed"] and "would" in r["stdout"] for r in results.values()), [
        (r["name"], r["changed"], r["stdout"]) for r in results.values()]
    assert not (d / "app.conf").exists() and oct(d.stat().st_mode & 0o777) == "0o755", "check mode changes nothing"

    code, out = _apply(cluster, book)
    assert code == 0, out
    assert (d / "app.conf").read_text() == "port=80\n"
    assert (d / "other.conf").read_text() == "debug=false\nmanaged\n"
    assert oct(d.stat().st_mode & 0o777) == "0o750" and (d / "script-ran").exists()
    steps = out["plays"][0]["invocations"][0]["steps"]
    assert [s["changed"] for s in steps] == [True, True, True, True, True]

    code, out = _apply(cluster, book)  # idempotent: the file tasks find nothing to do
    steps = {s["name"]: s for s in out["plays"][0]["invocations"][0]["steps"]}
    assert [steps[n]["changed"] for n in ("dir", "conf", "line", "marker")] == [False, False, False, False]
    assert steps["script"]["changed"], "a script always counts as a change (Ansible's command)"


def test_a_node_without_a_plugin_is_named_by_check_and_refuses_the_document(cluster: Cluster,
                                                                          tmp_path: Path) -> None:
    target = tmp_path / "never"
    book = _book(tmp_path, "web2", f"    - name: first\n      shell: touch {target}\n"
                                   f"    - name: marker\n      ensure_line: {{path: {tmp_path}/x, line: y}}\n")
    code, out = _apply(cluster, book, "--check")
    (lacking,) = out["plays"][0]["lacking"]
    assert lacking["node_id"] == cluster.node_ids["web2"] and lacking["would_be"] == "Undeliverable"
    assert lacking["problems"] == ["step 'marker': this node has no plugin for action 'ensure_line'"]

    code, out = _apply(cluster, book)
    assert code == 1
    (inv,) = out["plays"][0]["invocations"]
    assert inv["status_detail"] == "Undeliverable"
    (step,) = inv["steps"]
    assert step["name"] == "(not run)" and step["error"].startswith(
        "this node has no plugin for ensure_line; nothing was run (installed: ")
    assert not target.exists(), "nothing ran: the first step came before the missing one"

    # command send --check, on a stored document: the same, before anything is sent
    create_document(cluster, tmp_path, "Marker", 'schemaVersion: "2.2"\nmainSteps:\n'
                    f"  - {{action: ensure_line, name: m, inputs: {{path: {tmp_path}/y, line: z}}}}\n")
    proc = cluster.outpost("command", "send", "--document", "Marker", "--targets", "Key=tag:Role,Values=web1,web2",
                           "--check", "--output", "json", check=False)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["targeted"] == 2 and [r["node_id"] for r in report["lacking"]] == [cluster.node_ids["web2"]]


def test_service_and_copy_from_a_stored_document_with_a_systemctl_stand_in(cluster: Cluster,
                                                                          tmp_path: Path) -> None:
    state = cluster.stand_in / "state"  # type: ignore[attr-defined]
    create_document(cluster, tmp_path, "WebUp", 'schemaVersion: "2.2"\nparameters:\n'
                    '  port: {type: String, default: "80"}\nmainSteps:\n'
                    f"  - {{action: file, name: dir, inputs: {{path: {tmp_path}/www, state: directory}}}}\n"
                    f"  - {{action: copy, name: conf, inputs: {{dest: {tmp_path}/web.conf, content: "
                    '"port={{ port }}\\n"}}\n'
                    f"  - {{action: lineinfile, name: tls, inputs: {{path: {tmp_path}/web.conf, line: tls=on}}}}\n"
                    "  - {action: service, name: nginx, inputs: {name: nginx, state: started, enabled: true}}\n")
    node = cluster.node_ids["web1"]
    cid = send(cluster, "--document", "WebUp", "--targets", f"Key=InstanceIds,Values={node}",
               "--parameters", "port=8080")
    inv = by_node(wait_terminal(cluster, cid, 60))[node]
    assert inv["status_detail"] == "Success", inv
    assert (tmp_path / "web.conf").read_text() == "port=8080\ntls=on\n" and (tmp_path / "www").is_dir()
    assert (state / "active").read_text().strip() == "active" and (state / "enabled").read_text().strip() == "enabled"
    assert "enable nginx" in (state / "calls").read_text() and "start nginx" in (state / "calls").read_text()
    outputs = {o["step"]: o["stdout"] for o in cluster.outpost_json("command", "output", cid, "--node", node)}
    assert outputs["nginx"].strip().endswith("nginx: active, enabled")


def test_copy_sends_a_file_of_the_content_store_over_the_agents_stream(cluster: Cluster, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, four chunks over the stream; not text
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    stored = cluster.outpost_json("content", "put", "bins/payload.bin", "--file", str(source))
    assert stored["size"] == len(payload)
    dest = tmp_path / "copied.bin"
    book = _book(tmp_path, "web1",
                 f"    - name: bin\n      copy: {{src: bins/payload.bin, dest: {dest}, mode: '0600'}}\n")
    code, out = _apply(cluster, book, "--check")
    assert code == 0 and out["plays"][0]["results"][0]["stdout"].startswith("would change:")
    assert not dest.exists()
    code, out = _apply(cluster, book)
    assert code == 0, out
    assert dest.read_bytes() == payload and oct(dest.stat().st_mode & 0o777) == "0o600"
    code, out = _apply(cluster, book)
    assert out["plays"][0]["invocations"][0]["steps"][0]["changed"] is False
    missing = _book(tmp_path, "web1", f"    - name: bin\n      copy: {{src: nothing/here, dest: {dest}}}\n")
    proc = cluster.outpost("playbook", "apply", str(missing), check=False)
    assert proc.returncode == 2 and "no content named 'nothing/here' in the content store" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_service_and_powershell_from_a_playbook_with_systemctl_and_pwsh_stand_ins(cluster: Cluster,
                                                                                 tmp_path: Path) -> None:
    state = cluster.stand_in / "state"  # type: ignore[attr-defined]
    pwsh = cluster.stand_in / "bin" / "pwsh"  # type: ignore[attr-defined]
    if not pwsh.exists():
        pwsh.write_text('#!/bin/sh\n# a stand-in for PowerShell: prints the script it was given\ncat "$6"\n')
        pwsh.chmod(0o755)
    book = _book(tmp_path, "web1", "    - name: web\n      service: {name: nginx, state: restarted}\n"
                                   "    - name: ps\n      powershell: Write-Output 'hello from ps'\n")
    code, out = _apply(cluster, book)
    assert code == 0, out
    steps = {s["name"]: s for s in out["plays"][0]["invocations"][0]["steps"]}
    assert steps["web"]["changed"] and (state / "active").read_text().strip() == "active"
    calls = (state / "calls").read_text().splitlines()
    assert "restart nginx" in calls or "start nginx" in calls  # restarted, or started if it was stopped
    assert "Write-Output 'hello from ps'" in steps["ps"]["stdout"]


def test_command_send_takes_the_aws_clis_forms(cluster: Cluster, tmp_path: Path) -> None:
    """As an SSM script writes it: SSM's document name, JSON targets with a lower-case key, the list
    shorthand, a value with commas, --instance-ids."""
    web1, web2 = cluster.node_ids["web1"], cluster.node_ids["web2"]
    cid = send(cluster, "--document-name", "AWS-RunShellScript",
               "--targets", json.dumps([{"Key": "instanceids", "Values": [web1, web2]}]),
               "--parameters", "commands=[\"echo a,b | awk -F, '{print $2}'\",\"echo done\"]")
    shown = wait_terminal(cluster, cid, 60)
    assert shown["status_detail"] == "Success", shown
    outputs = {o["step"]: o["stdout"] for o in cluster.outpost_json("command", "output", cid, "--node", web1)}
    assert list(outputs.values()) == ["b\ndone\n"]
    cid = send(cluster, "--document", "AWS-RunShellScript", "--instance-ids", f"{web1} {web2}",
               "--parameters", '{"commands": ["echo json"]}')
    assert set(by_node(wait_terminal(cluster, cid, 60))) == {web1, web2}
    proc = cluster.outpost("command", "send", "--document", "AWS-RunShellScript", "--instance-ids", web1,
                           "--targets", "Key=tag:Role,Values=web1", "--parameters", "commands=true", check=False)
    assert proc.returncode != 0 and "give --targets or --instance-ids, not both" in proc.stderr
