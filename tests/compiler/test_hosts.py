"""Tests for Ansible host patterns, the fleet as an inventory, and inventory hosts to nodes
(controller/compiler/hosts.py).

Data-driven: ``inventories/patterns.ini`` holds the groups of Ansible's patterns guide; every
pattern form is a row of ``SELECTED`` (pattern, --limit, the hosts selected in order), every
refusal a row of ``REFUSED`` with its message.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from controller.compiler.errors import HostPatternError, InventoryError
from controller.compiler.hosts import (
    FleetNode,
    MatchedBy,
    MatchedHost,
    fleet_inventory,
    match_nodes,
    select,
    split_pattern,
)
from controller.compiler.inventory import Inventory, host_vars, load_inventory
from plugins.sdk.facts import Platform

HERE = Path(__file__).parent / "inventories"
MAIL, FOO, BAR, WEB3 = "mail.example.com", "foo.example.com", "bar.example.com", "web3.lab"
ONE, TWO, THREE, DB9 = "one.example.com", "two.example.com", "three.example.com", "db9.lab"
EVERY = (MAIL, FOO, BAR, WEB3, ONE, TWO, THREE, DB9)
WEB = (FOO, BAR, WEB3)
DB = (ONE, TWO, THREE)


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(HERE / "patterns.ini")


SELECTED: list[tuple[str | list[str], str | None, tuple[str, ...]]] = [
    ("all", None, EVERY),
    ("*", None, EVERY),
    (FOO, None, (FOO,)),
    (f"{FOO}:{ONE}", None, (FOO, ONE)),
    (f"{ONE},{FOO}", None, (ONE, FOO)),  # union terms in the order written, as Ansible runs them
    (f"{ONE}, {FOO}", None, (ONE, FOO)),
    ("webservers", None, WEB),
    ("ungrouped", None, (MAIL,)),
    ("datacenter", None, WEB + DB),  # a group of groups
    ("dbservers:webservers", None, DB + WEB),
    (["webservers", "dbservers"], None, WEB + DB),  # hosts: as a YAML list
    ("webservers dbservers", None, WEB + DB),
    ("webservers:!phoenix", None, (BAR, WEB3)),
    ("webservers:&staging", None, (BAR,)),
    ("webservers:dbservers:&staging:!phoenix", None, (BAR,)),  # the guide's example
    ("!phoenix:&staging:webservers", None, (BAR,)),  # & and ! apply after every union term
    ("!phoenix", None, (MAIL, BAR, WEB3, ONE, THREE, DB9)),  # only exclusions: from all
    ("&staging", None, (BAR, TWO)),
    ("webservers:&lab", None, (WEB3,)),
    ("*.example.com", None, (MAIL, FOO, BAR, ONE, TWO, THREE)),
    ("*.lab", None, (WEB3, DB9)),
    ("one*.com:dbservers", None, DB),  # the guide: wildcards and groups together
    ("web*", None, WEB),  # the group webservers, and the host web3.lab once
    ("db?.lab", None, (DB9,)),
    ("~(foo|one)\\.example\\.com", None, (FOO, ONE)),
    ("~web\\d+", None, (WEB3,)),  # a regex matches from the start of the name
    ("webservers[0]", None, (FOO,)),
    ("webservers[-1]", None, (WEB3,)),
    ("webservers[0:1]", None, (FOO, BAR)),  # inclusive, as Ansible
    ("webservers[1:]", None, (BAR, WEB3)),
    ("webservers[0:0]", None, (FOO,)),
    ("webservers[5:9]", None, ()),  # a range past the end selects nothing, as Ansible
    ("webservers[5:]", None, ()),
    ("webservers[0]:dbservers[-1]", None, (FOO, THREE)),
    ("nosuchgroup", None, ()),  # Ansible warns and skips the play: the caller says so
    ("nosuch*", None, ()),
    ("all", "datacenter", WEB + DB),
    ("all", "all:!two.example.com", (MAIL, FOO, BAR, WEB3, ONE, THREE, DB9)),
    ("all", "!two.example.com", (MAIL, FOO, BAR, WEB3, ONE, THREE, DB9)),
    ("dbservers:webservers", f"{FOO},{TWO}", (TWO, FOO)),  # the play's order, not the limit's
    ("webservers", "dbservers", ()),
    ("webservers", "*.lab", (WEB3,)),
]


@pytest.mark.parametrize(("pattern", "limit", "expected"), SELECTED, ids=lambda v: repr(v))
def test_select(inventory: Inventory, pattern: str | list[str], limit: str | None,
                expected: tuple[str, ...]) -> None:
    assert select(inventory, pattern, limit) == expected


def test_limit_from_a_file(inventory: Inventory, tmp_path: Path) -> None:
    retry = tmp_path / "site.retry"
    retry.write_text(f"{BAR}\n\n  {WEB3}  \n*.lab\n")
    assert select(inventory, "all", f"@{retry}") == (BAR, WEB3, DB9)
    assert select(inventory, "webservers", f"@{retry}:{FOO}") == WEB


REFUSED: list[tuple[object, str | None, str]] = [
    ("", None, "the hosts pattern '' is empty: name a group, a host or 'all'"),
    ([], None, "the hosts pattern [] is empty: name a group, a host or 'all'"),
    (" , ", None, "the hosts pattern ' , ' is empty: name a group, a host or 'all'"),
    (5, None, "a hosts pattern is a string or a list of strings, not int"),
    ("webservers:&", None, "'&' in a hosts pattern names nothing: write &GROUP"),
    ("webservers:dbservers,mail.example.com", None, "'webservers:dbservers' in 'webservers:dbservers,mail.example.com' "
                                                    "mixes ':' and ',': Ansible splits on the commas only and looks "
                                                    "for one host of that name; use one separator"),
    ("webservers,!", None, "'!' in a hosts pattern names nothing: write !GROUP"),
    ("~web(", None, "'~web(': not a valid regular expression (missing ), unterminated subpattern at position 3)"),
    ("webservers[3]", None, "no hosts matched the subscripted pattern 'webservers[3]': 'webservers' has 3 hosts "
                            "(0 to 2, or -1 for the last)"),
    ("webservers[-4]", None, "no hosts matched the subscripted pattern 'webservers[-4]': 'webservers' has 3 hosts "
                             "(0 to 2, or -1 for the last)"),
    ("webservers[0-1]", None, "'webservers[0-1]': [x-y] subscripts were removed from Ansible: write [0:1]"),
    ("webservers[2:1]", None, "'webservers[2:1]': the subscript starts at 2, after its end 1"),
    ("localhost", None, "'localhost' is not in the inventory: Ansible would run this play on the control machine "
                        "(its implicit localhost); Outpost runs plays on nodes only"),
    ("all", "", "--limit is empty: it would keep every host; give a pattern or leave it out"),
    ("all", "@/no/such/file", "--limit @/no/such/file: no such file"),
    ("all", "~(", "'~(': not a valid regular expression (missing ), unterminated subpattern at position 0)"),
]


@pytest.mark.parametrize(("pattern", "limit", "message"), REFUSED, ids=lambda v: repr(v))
def test_refused(inventory: Inventory, pattern: object, limit: str | None, message: str) -> None:
    with pytest.raises(HostPatternError) as info:
        select(inventory, pattern, limit)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_limit_files_refused(inventory: Inventory, tmp_path: Path) -> None:
    empty = tmp_path / "empty.retry"
    empty.write_text("\n  \n")
    with pytest.raises(HostPatternError) as info:
        select(inventory, "all", f"@{empty}")
    assert str(info.value) == f"--limit @{empty}: the file names no host (an empty limit would keep every host)"
    with pytest.raises(HostPatternError) as info:
        select(inventory, "all", f"@{tmp_path}")
    assert str(info.value) == f"--limit @{tmp_path}: must be a file of host names, not a directory"


@pytest.mark.parametrize(("pattern", "terms"), [
    ("a,b,c", ["a", "b", "c"]),
    ("web[0:2]:db", ["web[0:2]", "db"]),
    ("web[0:2],db:22", ["web[0:2]", "db:22"]),
    ("host:22", ["host:22"]),
    ("fe80::1", ["fe80::1"]),
    ("[2001:db8::5]:22", ["[2001:db8::5]:22"]),
    ("a:&b:!c", ["a", "&b", "!c"]),
    (["a:b", "c"], ["a", "b", "c"]),
])
def test_split_pattern(pattern: str | list[str], terms: list[str]) -> None:
    assert split_pattern(pattern) == terms


# -- the fleet as an inventory ----------------------------------------------------------------

FLEET = (
    FleetNode("mi-0001", "web1.example.com", {"Name": "web1", "Role": "web", "Env": "prod"}, ("frontend",),
              Platform.LINUX, "10.0.0.1"),
    FleetNode("mi-0002", "web2.example.com", {"Name": "dup", "Role": "web"}),
    FleetNode("mi-0003", "db1.example.com", {"Name": "dup", "Role": "db", "Cost Center": "R&D"}, ("backend",)),
    FleetNode("mi-0004", "win1", {"Name": "frontend"}, ("frontend",), Platform.WINDOWS, "10.0.0.4"),
    FleetNode("mi-0005", "", {}, (), Platform.LINUX, "10.0.0.5"),
)


def test_fleet_inventory_names() -> None:
    fleet = fleet_inventory(FLEET)
    # Name tag when unique and not a group's name; the node id otherwise
    assert fleet.host_names == ("web1", "mi-0002", "mi-0003", "mi-0004", "mi-0005")
    assert fleet.group_names == (
        "all", "ungrouped", "frontend", "tag_Name_web1", "tag_Role_web", "tag_Env_prod", "platform_linux",
        "tag_Name_dup", "backend", "tag_Role_db", "tag_Cost_Center_R_D", "tag_Name_frontend", "platform_windows")
    assert fleet.group_hosts("tag_Role_web") == ("web1", "mi-0002")
    assert fleet.group_hosts("tag_Name_dup") == ("mi-0002", "mi-0003")
    assert fleet.group_hosts("frontend") == ("web1", "mi-0004")
    assert fleet.group_hosts("ungrouped") == ()
    assert select(fleet, "tag_Role_web:&platform_linux") == ("web1", "mi-0002")
    assert select(fleet, "frontend:!platform_windows") == ("web1",)
    assert select(fleet, "tag_*") == ("web1", "mi-0002", "mi-0003", "mi-0004")


def test_fleet_inventory_host_vars() -> None:
    fleet = fleet_inventory(FLEET)
    web1 = host_vars(fleet, "web1")
    assert (web1["ansible_host"], web1["outpost_node_id"], web1["outpost_platform"]) == (
        "web1.example.com", "mi-0001", "Linux")
    assert web1["tags"] == {"Name": "web1", "Role": "web", "Env": "prod"}
    assert web1["group_names"] == ["frontend", "platform_linux", "tag_Env_prod", "tag_Name_web1", "tag_Role_web"]
    assert host_vars(fleet, "mi-0005")["ansible_host"] == "10.0.0.5"  # no hostname: its address


def test_fleet_node_named_as_a_group_is_refused() -> None:
    with pytest.raises(InventoryError) as info:
        fleet_inventory([FleetNode("web", "web.example.com", {}, ("web",))])
    assert str(info.value) == "node web has the name of a group; rename the group"


# -- inventory hosts to nodes -----------------------------------------------------------------

NODES = (
    FleetNode("mi-0001", "web1.example.com"),
    FleetNode("mi-0002", "web2.example.com"),
    FleetNode("mi-0003", "web3.example.com", {"Name": "web-by-name"}),
    FleetNode("mi-0004", "db1.internal", {}, (), Platform.LINUX, "10.0.0.3"),
)


def test_match_nodes() -> None:
    inventory = load_inventory(HERE / "match.ini")
    match = match_nodes(select(inventory, "web"), inventory, NODES)
    assert match.matched == (
        MatchedHost("WEB1.example.com", "mi-0001", MatchedBy.HOSTNAME),  # a hostname in any case
        MatchedHost("mi-0002", "mi-0002", MatchedBy.NODE_ID),
        MatchedHost("web-by-name", "mi-0003", MatchedBy.NAME_TAG),
        MatchedHost("db1", "mi-0004", MatchedBy.ANSIBLE_HOST),
    )
    assert match.unreachable == ("offline.example.com",)  # Ansible's UNREACHABLE, not an exception
    assert match.node_ids == ("mi-0001", "mi-0002", "mi-0003", "mi-0004")


@pytest.mark.parametrize(("text", "message"), [
    ("[web]\nshared\n", "two.ini:2: host 'shared' names 2 nodes: mi-0001 (by Name tag) and mi-0002 (by hostname); "
                        "give it an ansible_host or a node id that names one"),
    ("[web]\nweb1 ansible_host=mi-0002\n", "two.ini:2: host 'web1' names 2 nodes: mi-0001 (by Name tag) and "
                                           "mi-0002 (by ansible_host); give it an ansible_host or a node id that "
                                           "names one"),
    ("[web]\nmi-0001\nweb1\n", "two.ini:3: hosts 'mi-0001' and 'web1' are both node mi-0001: a play runs once "
                               "on a node; keep one of them in the play"),
])
def test_match_nodes_refuses_ambiguity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                                       message: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path("two.ini").write_text(text)
    inventory = load_inventory("two.ini")
    nodes = (FleetNode("mi-0001", "a.example.com", {"Name": "shared" if "shared" in text else "web1"}),
             FleetNode("mi-0002", "shared"))
    with pytest.raises(InventoryError) as info:
        match_nodes(inventory.host_names, inventory, nodes)
    assert str(info.value) == message


def test_match_nodes_of_a_host_not_in_the_inventory() -> None:
    inventory = load_inventory(HERE / "match.ini")
    with pytest.raises(InventoryError, match="no host 'nope' in the inventory"):
        match_nodes(["nope"], inventory, NODES)
