"""Fuzz: Ansible inventories and host patterns (controller/compiler/inventory*.py, hosts.py).
Whatever the text, reading ends in an inventory whose every host has its variables, or in one
InventoryError line naming the file; whatever the pattern, selecting ends in hosts of the
inventory or in one HostPatternError line."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.compiler.errors import HostPatternError, InventoryError
from controller.compiler.hosts import select
from controller.compiler.inventory import Inventory, host_vars, load_inventory
from tests.fuzz.budget import cases
from tests.fuzz.strategies import dump_yaml, json_values, odd_text, text

HERE = Path(__file__).resolve().parents[1] / "compiler" / "inventories"
NAME = st.one_of(st.sampled_from(["web", "db", "all", "ungrouped", "web1", "a", "b"]), text)
HOST = st.one_of(NAME, st.sampled_from(["web[01:03]", "db-[a:c]", "w[1:3:2].x", "h:22", "[::1]:2", "x[", "y[3:1]",
                                        "z[01:100]", "fe80::1"]))
VALUE = st.one_of(text, st.sampled_from(["5", "True", "true", "'q'", '"a b"', "[1, 2]", "{'k': 1}", "{1, 2}",
                                         "None", "b'x'", "1j", "(1,)", "[" * 50]))
INI_LINE = st.one_of(
    st.builds(lambda g, s: f"[{g}{s}]", NAME, st.sampled_from(["", ":vars", ":children", ":hosts", ":x", " "])),
    st.builds(lambda h, kv: " ".join([h, *(f"{k}={v}" for k, v in kv)]), HOST, st.lists(st.tuples(NAME, VALUE),
                                                                                      max_size=3)),
    st.builds(lambda k, v: f"{k}={v}", NAME, VALUE), NAME, odd_text, st.sampled_from(["#c", ";c", ""]))
INI = st.lists(INI_LINE, max_size=12).map("\n".join)


def _group(depth: int) -> st.SearchStrategy[Any]:
    hosts = st.dictionaries(HOST, st.one_of(st.none(), st.dictionaries(NAME, json_values(4), max_size=2)), max_size=3)
    inner = st.none() if depth <= 0 else st.dictionaries(NAME, _group(depth - 1), max_size=2)
    return st.one_of(st.none(), json_values(4), st.fixed_dictionaries({}, optional={
        "hosts": st.one_of(hosts, HOST, st.lists(HOST, max_size=2)), "children": inner,
        "vars": st.one_of(st.dictionaries(NAME, json_values(4), max_size=2), text)}))


YAML_INVENTORY = st.dictionaries(NAME, _group(2), max_size=3)


def _checked(inventory: Inventory) -> None:
    for host in inventory.hosts:
        merged = host_vars(inventory, host)
        assert merged["inventory_hostname"] == host.name
        assert set(merged["group_names"]) <= set(inventory.group_names)  # type: ignore[arg-type]
    assert select(inventory, "all") == inventory.host_names


def _load(name: str, content: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
        try:
            inventory = load_inventory(path)
        except InventoryError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(path)), str(exc)
            return
        _checked(inventory)


@cases(5_000)
@given(INI, st.sampled_from(["hosts.ini", "hosts"]))
def test_ini_inventories_read_or_say_where(content: str, name: str) -> None:
    _load(name, content)


@cases(3_000)
@given(YAML_INVENTORY, st.booleans())
def test_yaml_inventories_read_or_say_where(value: Any, unicode: bool) -> None:
    _load("hosts.yml", dump_yaml(value, unicode))


PATTERN_TERM = st.one_of(NAME, st.sampled_from(["*", "*.example.com", "web*", "~web\\d", "~(", "webservers[0]",
                                                "webservers[-1]", "webservers[0:1]", "webservers[9]", "datacenter",
                                                "webservers[1-2]", "localhost", "db?.lab", "[", "]"]))
PATTERN = st.one_of(
    st.lists(st.tuples(st.sampled_from(["", "&", "!"]), PATTERN_TERM), max_size=4).flatmap(
        lambda terms: st.sampled_from([":", ",", " "]).map(lambda sep: sep.join(p + t for p, t in terms))),
    st.lists(PATTERN_TERM, max_size=3), odd_text)


@cases(10_000)
@given(PATTERN, st.one_of(st.none(), PATTERN.filter(lambda p: isinstance(p, str))))
def test_patterns_select_or_say_what(pattern: Any, limit: str | None) -> None:
    inventory = load_inventory(HERE / "patterns.ini")
    try:
        hosts = select(inventory, pattern, limit)
    except HostPatternError as exc:
        assert "\n" not in str(exc), str(exc)
        return
    assert len(set(hosts)) == len(hosts) and set(hosts) <= set(inventory.host_names)
