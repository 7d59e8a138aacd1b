"""End to end: playbooks and an inventory written as Ansible's documentation writes them, run by
``outpost playbook apply`` on a real controller and three real agents.

The agents share this machine's disk, so every file a play writes is under ``root`` (-e) and the
host's name. Hosts are matched to nodes by their Name tags (set here), as an EC2 user's are.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, started

HERE = Path(__file__).parent / "ansible"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with started(tmp_path_factory.mktemp("ansible")) as c:
        web = c.create_activation("Role=web", limit=2)
        db = c.create_activation("Role=db", limit=1)
        for name, act in (("web1", web), ("web2", web), ("db1", db)):
            c.enroll(name, act)
            c.start_agent(name)
        c.wait_online(["web1", "web2", "db1"])
        for name in ("web1", "web2", "db1"):
            c.outpost("node", "tag", c.node_ids[name], f"Name={name}")
        yield c


@pytest.fixture
def cluster(fleet_cluster: Cluster) -> Cluster:
    return fleet_cluster


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """The playbook directory copied, so a test can add files beside it."""
    shutil.copytree(HERE, tmp_path / "book")
    return tmp_path / "book"


def _apply(cluster: Cluster, *args: str, check: bool = True) -> dict:
    proc = cluster.outpost("playbook", "apply", *args, "--output", "json", check=check, timeout=120)
    return json.loads(proc.stdout)


def _results(run: dict, play: int, task: str) -> dict[str, dict]:
    (found,) = [t for t in run["plays"][play]["tasks"] if t["task"] == task]
    return found["hosts"]


def test_site_playbook_with_an_ini_inventory(cluster: Cluster, book: Path, tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    run = _apply(cluster, str(book / "site.yml"), "-i", str(book / "inventory.ini"), "-e", f"root={root}")
    stats = run["stats"]
    assert set(stats) == {"web1", "web2", "db1"}
    for host in ("web1", "web2"):
        assert stats[host]["failed"] == 0 and stats[host]["unreachable"] == 0 and stats[host]["ignored"] == 1
    # host variables over group variables, as Ansible orders them
    assert (root / "web1" / "motd").read_text() == "Welcome to web1 (port 8080)\n"
    assert (root / "web2" / "motd").read_text() == "Welcome to web2 (port 80)\n"
    conf = (root / "web2" / "app.conf").read_text().splitlines()
    assert conf == ["# managed by Outpost", "name=shop", "listen=80", "ntp=ntp.example.com", "peer=web1", "peer=web2",
                    "debug=false"]
    assert (root / "web1" / "family").read_text() == "Debian\n"
    assert not (root / "web1" / "windows").exists()
    assert (root / "web1" / "alice").exists() and (root / "web2" / "bob").exists()
    assert (root / "web1" / "handler.log").read_text() == "changed\n"
    assert (root / "db1.port").read_text() == "5432\n"
    skipped = _results(run, 0, "Never on Windows")
    assert {h: r["status"] for h, r in skipped.items()} == {"web1": "skipping", "web2": "skipping"}
    shown = _results(run, 0, "Show it")["web1"]["result"]["debug"]["app_conf.stdout_lines"]
    assert shown[:3] == ["# managed by Outpost", "name=shop", "listen=8080"]
    assert _results(run, 0, "Run as another user")["web2"]["status"] == "ok"

    # a second run changes nothing the first did not already: the handler is not notified again
    again = _apply(cluster, str(book / "site.yml"), "-i", str(book / "inventory.ini"), "-e", f"root={root}")
    assert _results(again, 0, "Write the motd")["web1"]["status"] == "ok"
    assert (root / "web1" / "handler.log").read_text() == "changed\n"


def test_hosts_from_the_fleet_serial_and_max_fail_percentage(cluster: Cluster, book: Path, tmp_path: Path) -> None:
    """Without -i the fleet is the inventory: tag groups as aws_ec2 names them, hosts by Name tag."""
    (book / "rolling.yml").write_text(
        "- hosts: tag_Role_web\n"
        "  serial: 1\n"
        "  max_fail_percentage: 0\n"
        "  tasks:\n"
        "    - name: fail on the first host\n"
        "      ansible.builtin.command: /bin/false\n"
        "      when: inventory_hostname == ansible_play_hosts[0]\n"
        "    - name: mark\n"
        "      ansible.builtin.shell: touch {{ root }}/{{ inventory_hostname }}.marked\n")
    proc = cluster.outpost("playbook", "apply", str(book / "rolling.yml"), "-e", f"root={tmp_path}",
                           "--output", "json", check=False, timeout=120)
    assert proc.returncode == 1, proc.stderr
    run = json.loads(proc.stdout)
    assert set(run["stats"]) == {"web1", "web2"}  # tag_Role_web
    failed = [h for h, s in run["stats"].items() if s["failed"]]
    assert len(failed) == 1  # the first host of the first batch of one
    assert not list(tmp_path.glob("*.marked"))  # it failed before marking, and the play ended before the next
    (first,) = run["plays"][0]["tasks"][0]["hosts"]
    assert first == failed[0]


def test_check_mode_tags_and_skip_tags(cluster: Cluster, book: Path, tmp_path: Path) -> None:
    (book / "tagged.yml").write_text(
        "- hosts: web1\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: write\n"
        "      ansible.builtin.copy: {content: \"x\\n\", dest: \"{{ root }}/written\"}\n"
        "      tags: [files]\n"
        "    - name: run\n"
        "      ansible.builtin.shell: touch {{ root }}/ran\n"
        "      tags: commands\n"
        "    - name: always\n"
        "      ansible.builtin.debug: {msg: always}\n"
        "      tags: [always]\n")
    run = _apply(cluster, str(book / "tagged.yml"), "-e", f"root={tmp_path}", "--check")
    assert _results(run, 0, "write")["web1"]["status"] == "changed"  # would change
    assert _results(run, 0, "run")["web1"]["status"] == "skipping"  # shell cannot run in check mode
    assert not (tmp_path / "written").exists() and not (tmp_path / "ran").exists()

    run = _apply(cluster, str(book / "tagged.yml"), "-e", f"root={tmp_path}", "--tags", "commands")
    assert [t["task"] for t in run["plays"][0]["tasks"]] == ["run", "always"]
    assert (tmp_path / "ran").exists() and not (tmp_path / "written").exists()

    run = _apply(cluster, str(book / "tagged.yml"), "-e", f"root={tmp_path}", "--skip-tags", "commands,always")
    assert [t["task"] for t in run["plays"][0]["tasks"]] == ["write"]
    assert (tmp_path / "written").read_text() == "x\n"


@pytest.mark.parametrize(("text", "message"), [
    ("- hosts: all\n  roles: [common]\n", "site.yml:2: roles: roles are not supported yet"),
    ("- hosts: all\n  tasks:\n    - block:\n        - debug: {msg: hi}\n",
     "site.yml:3: tasks[0].block: blocks (block/rescue/always) are not supported yet"),
    ("- hosts: all\n  tasks:\n    - ansible.builtin.uri: {url: 'http://x'}\n",
     "site.yml:3: tasks[0].ansible.builtin.uri: module 'uri' is not supported"),
    ("- hosts: all\n  tasks:\n    - copy: {dest: /tmp/x, content: a, bogus: 1}\n",
     "site.yml:3: tasks[0].copy.bogus: copy takes no argument 'bogus'"),
    ("- hosts: all\n  tasks:\n    - shell: echo\n      delegate_to: localhost\n",
     "site.yml:4: tasks[0].delegate_to: delegate_to is not supported"),
])
def test_what_ansible_has_and_outpost_does_not_is_refused_by_name(cluster: Cluster, book: Path, text: str,
                                                                   message: str) -> None:
    before = cluster.outpost_json("command", "list", "--limit", "1000")
    path = book / "site.yml"
    path.write_text(text)
    proc = cluster.outpost("playbook", "apply", str(path), check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {book}/{message}"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert cluster.outpost_json("command", "list", "--limit", "1000") == before  # nothing was sent


def test_an_undefined_variable_fails_the_host_naming_it(cluster: Cluster, book: Path, tmp_path: Path) -> None:
    (book / "undefined.yml").write_text(
        "- hosts: web1\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: uses a typo\n"
        "      ansible.builtin.shell: echo {{ rot }}\n")
    proc = cluster.outpost("playbook", "apply", str(book / "undefined.yml"), "--output", "json", check=False)
    assert proc.returncode == 1
    result = _results(json.loads(proc.stdout), 0, "uses a typo")["web1"]
    assert result["status"] == "failed"
    assert "undefined.yml:4" in result["result"]["msg"] and "'rot' is undefined" in result["result"]["msg"]
