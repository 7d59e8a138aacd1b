"""Tests for Ansible inventories (controller/compiler/inventory*.py).

Data-driven: every ``inventories/ok/NAME`` (a file, or a directory with group_vars/ and
host_vars/) loads to what ``inventories/ok/NAME.json`` holds (hosts in order, each group's
members and children, every host's variables as :func:`host_vars` computes them, the warnings);
every ``inventories/bad/NAME`` fails with exactly the one line in ``inventories/bad/NAME.err``.
The ``docs_*`` cases are the examples of Ansible's inventory guide, in INI and in YAML as it
writes them; each pair must load to the same inventory. ``OUTPOST_UPDATE_GOLDEN=1`` rewrites the
golden files from the current output: read the diff.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from controller.compiler.errors import InventoryError, PlaybookError
from controller.compiler.inventory import Inventory, host_vars, load_inventory
from plugins.sdk.errors import OutpostError

HERE = Path(__file__).parent / "inventories"
UPDATE = os.environ.get("OUTPOST_UPDATE_GOLDEN") == "1"
OK = sorted(p.name for p in (HERE / "ok").iterdir() if p.suffix != ".json")
BAD = sorted(p.name for p in (HERE / "bad").iterdir() if p.suffix != ".err")
PAIRS = sorted({p.stem for p in (HERE / "ok").glob("docs_*.ini")})


@pytest.fixture(autouse=True)
def in_inventories(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths as a user gives them to -i, relative: messages and inventory_file name them so."""
    monkeypatch.chdir(HERE)


def summary(inventory: Inventory) -> dict[str, Any]:
    out: dict[str, Any] = {
        "hosts": list(inventory.host_names),
        "groups": {g.name: {"members": list(inventory.group_hosts(g.name)), "children": list(g.children),
                            "depth": g.depth, "priority": g.priority} for g in inventory.groups},
        "vars": {},
    }
    for host in inventory.hosts:
        merged = dict(host_vars(inventory, host))
        assert dict(merged.pop("groups")) == {g: inventory.group_hosts(g) for g in inventory.group_names}
        out["vars"][host.name] = merged
    if inventory.warnings:
        out["warnings"] = list(inventory.warnings)
    return out


@pytest.mark.parametrize("name", OK)
def test_ok_case(name: str) -> None:
    got = json.dumps(summary(load_inventory(f"ok/{name}")), indent=2, ensure_ascii=False) + "\n"
    golden = HERE / "ok" / f"{name}.json"
    if UPDATE:
        golden.write_text(got)
    assert got == golden.read_text()


@pytest.mark.parametrize("name", BAD)
def test_bad_case(name: str) -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory(f"bad/{name}")
    got = str(info.value)
    golden = HERE / "bad" / f"{name}.err"
    if UPDATE:
        golden.write_text(got + "\n")
    assert got + "\n" == golden.read_text()
    assert "\n" not in got and got.startswith(f"bad/{name}")


@pytest.mark.parametrize("stem", PAIRS)
def test_docs_examples_read_the_same_in_ini_and_yaml(stem: str) -> None:
    ini, yml = summary(load_inventory(f"ok/{stem}.ini")), summary(load_inventory(f"ok/{stem}.yml"))
    for host_vars_of in (ini["vars"], yml["vars"]):
        for merged in host_vars_of.values():
            merged.pop("inventory_file")
    assert ini == yml


def test_the_guide_groups_of_groups() -> None:
    """Ansible's guide: host2 is in atlanta and raleigh, so in southeast and usa, once each."""
    inventory = load_inventory("ok/docs_groups.ini")
    assert inventory.group_hosts("usa") == ("host1", "host2", "host3")
    assert inventory.group_hosts("northeast") == ()
    host2 = inventory.host("host2")
    assert host2 is not None
    assert host2.groups == ("all", "atlanta", "raleigh", "southeast", "usa")
    assert host_vars(inventory, "host2")["group_names"] == ["atlanta", "raleigh", "southeast", "usa"]
    assert host_vars(inventory, "host1")["halon_system_timeout"] == 30


def test_precedence_as_ansible_computes_it() -> None:
    """One assertion per rung of Ansible's ladder, on the layered directory."""
    inventory = load_inventory("ok/layered")
    web1, web2, db1 = (host_vars(inventory, h) for h in ("web1", "web2", "db1"))
    assert web1["level"] == "web"  # all < app (parent) < web (child)
    assert web1["parent_only"] == "app" and web1["only_all"] == "all"
    assert web2["by_name"] == "zzz"  # one depth: the later name wins
    assert web2["by_priority"] == "pri_high"  # ansible_group_priority 10 beats the name order
    assert "ansible_group_priority" not in web2  # a setting of the group, not a variable
    assert web1["inv_vs_gv"] == "group_vars_all"  # group_vars/all over every inventory group var
    assert web1["gv_level"] == "web" and db1["gv_level"] == "db"  # group_vars/<g> over group_vars/all
    assert web2["gv_level"] == "web"
    assert web1["role"] == "from_host_vars"  # host_vars/ over the host line
    assert db1["role"] == "from_json" and host_vars(inventory, "web3")["role"] == "from_yaml"
    assert "never" not in web1  # group_vars/unused.yml: no such group
    assert inventory.group_hosts("old") == () and inventory.host("hidden1") is None


def test_host_vars_is_a_copy() -> None:
    inventory = load_inventory("ok/layered")
    first = host_vars(inventory, "db1")
    first["nested"]["ports"].append(1)  # type: ignore[index]
    assert host_vars(inventory, "db1")["nested"] == {"ports": [5432, 5433]}


def test_the_inventory_is_frozen() -> None:
    inventory = load_inventory("ok/docs_hosts.ini")
    host = inventory.hosts[0]
    with pytest.raises(AttributeError):
        host.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        host.vars["x"] = 1  # type: ignore[index]


def test_errors_are_of_the_one_tree_and_frozen() -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory("bad/range_reversed.ini")
    error = info.value
    assert isinstance(error, PlaybookError) and isinstance(error, OutpostError)
    assert (error.filename, error.line) == ("bad/range_reversed.ini", 2)
    with pytest.raises(AttributeError):
        error.line = 3
    error.add_note("Python's own attributes stay writable")
    assert error.__notes__ == ["Python's own attributes stay writable"]


@pytest.mark.parametrize(("path", "message"), [
    ("no/such/inventory", "no/such/inventory: no such inventory file or directory"),
    ("web1,web2,", "web1,web2,: no such inventory file or directory: a comma-separated host list (-i web1,web2,) "
                   "is not read; write the hosts in an INI file, or leave -i out to use the fleet's own groups "
                   "and tags"),
])
def test_a_missing_inventory(path: str, message: str) -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert str(info.value) == message


def test_host_vars_of_an_unknown_host() -> None:
    with pytest.raises(InventoryError, match="no host 'nope' in the inventory"):
        host_vars(load_inventory("ok/docs_hosts.ini"), "nope")
