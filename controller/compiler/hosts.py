"""Ansible host patterns (``hosts:`` and ``--limit``) over an inventory, and the inventory's hosts
to the fleet's nodes.

``select(inventory, "webservers:&staging:!phoenix", limit="@retry.txt")`` follows ansible-core's
``InventoryManager.get_hosts``:

- splitting: a list is each of its items; a string with a comma splits on commas; otherwise on
  ``:``, except inside ``[...]`` and in a single address (``host:22``, IPv6); spaces separate
  terms too. ``a,b:c`` is refused: Ansible takes ``b:c`` as one name there, matching nothing;
- ordering: union terms as written, then every ``&`` term, then every ``!`` term; only ``&`` and
  ``!`` terms means ``all`` first (``!web`` is ``all:!web``);
- a term that is a host's name is that host; otherwise it is matched (``fnmatch``; ``~`` makes
  it a regular expression, matched from the start) against the group names, each matching
  group giving its hosts, and against the host names when no group matched or the term has a
  ``.``, ``?``, ``*``, ``[`` or starts with ``~``;
- subscripts: ``web[0]``, ``web[-1]``, ``web[0:2]`` (inclusive, as Ansible), ``web[1:]``;
- ``--limit`` takes the same grammar and ``@FILE`` (one pattern a line), and keeps of the
  selected hosts those it selects.

The result has no duplicates. Its order is Ansible's for ``order: inventory``: the union terms'
hosts in the order the terms are written, each term's hosts in inventory order (for a nested
group Ansible's own order at depth two and below is a set's, not stable; Outpost's is the
inventory's).

A pattern that matches nothing is not an error (Ansible warns and skips the play): the caller
gets ``()`` and says so. Refused (:class:`HostPatternError`): an empty pattern or ``--limit``
(Ansible runs on every host for an empty ``--limit``), ``&`` or ``!`` naming nothing, a bad
regular expression, a single subscript past the end (Ansible: "No hosts matched the subscripted
pattern"), ``[x-y]`` (removed from Ansible), ``[3:1]``, a ``--limit @FILE`` that is missing or
empty, and ``localhost`` when the inventory has no such host (Ansible would run the play on the
control machine; Outpost runs plays only on nodes).
"""
from __future__ import annotations

import enum
import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from controller.compiler.errors import HostPatternError, InventoryError
from controller.compiler.inventory import host_vars
from controller.compiler.inventory_builder import InventoryBuilder
from controller.compiler.inventory_model import ALL, UNGROUPED, Inventory, Location
from plugins.sdk.facts import Platform

_TERM = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
_ADDRESS = re.compile(r"^[A-Za-z0-9_.-]+:[0-9]+$")
_BRACKETED_V6 = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::[0-9]+)?$")
_V6_CHARS = re.compile(r"^[0-9A-Fa-f:.]+$")
_GLOB_OR_REGEX = (".", "?", "*", "[")
LOCALHOST = ("localhost", "127.0.0.1", "::1")
_UNSAFE_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_]")


def split_pattern(pattern: str | Sequence[str]) -> list[str]:
    """The terms of a pattern, as Ansible's ``split_host_pattern``."""
    if isinstance(pattern, (list, tuple)):
        return [term for item in pattern for term in split_pattern(item)]
    if not isinstance(pattern, str):
        raise HostPatternError(f"a hosts pattern is a string or a list of strings, not {type(pattern).__name__}")
    if "," in pattern:
        parts = pattern.split(",")
        for part in parts:
            if len(_TERM.findall(part)) > 1 and ":" in part and not _is_single_address(part.strip()):
                raise HostPatternError(f"{part.strip()!r} in {pattern!r} mixes ':' and ',': Ansible splits on the "
                                       "commas only and looks for one host of that name; use one separator")
    elif _is_single_address(pattern.strip()):
        parts = [pattern]
    else:
        parts = _TERM.findall(pattern)
    return [p.strip() for p in parts if p.strip()]


def _is_single_address(text: str) -> bool:
    """What Ansible's ``parse_address`` takes whole: ``name:22``, an IPv6 address, ``[v6]:22``."""
    if _ADDRESS.match(text):
        return True
    bracketed = _BRACKETED_V6.match(text)
    body = bracketed[1] if bracketed else text
    if not _V6_CHARS.match(body):
        return False
    return "::" in body or body.count(":") == 7


def order_terms(terms: Sequence[str]) -> list[str]:
    union = [t for t in terms if t[0] not in "&!"]
    return (union or [ALL]) + [t for t in terms if t[0] == "&"] + [t for t in terms if t[0] == "!"]


def select(inventory: Inventory, pattern: str | Sequence[str], limit: str | None = None) -> tuple[str, ...]:
    """The inventory's hosts that ``pattern`` (a play's ``hosts:``) and ``limit`` select."""
    terms = split_pattern(pattern)
    if not terms:
        raise HostPatternError(f"the hosts pattern {pattern!r} is empty: name a group, a host or 'all'")
    hosts = _evaluate(inventory, terms)
    if limit is not None:
        allowed = set(_evaluate(inventory, _limit_terms(limit)))
        hosts = [h for h in hosts if h in allowed]
    return tuple(hosts)


def _limit_terms(limit: str) -> list[str]:
    terms = split_pattern(limit)
    if not terms:
        raise HostPatternError("--limit is empty: it would keep every host; give a pattern or leave it out")
    out: list[str] = []
    for term in terms:
        if not term.startswith("@"):
            out.append(term)
            continue
        path = Path(term[1:])
        if not path.exists():
            raise HostPatternError(f"--limit {term}: no such file")
        if not path.is_file():
            raise HostPatternError(f"--limit {term}: must be a file of host names, not a directory")
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").split("\n")]
        if not any(lines):
            raise HostPatternError(f"--limit {term}: the file names no host (an empty limit would keep every host)")
        out.extend(line for line in lines if line)
    return out


def _evaluate(inventory: Inventory, terms: Sequence[str]) -> list[str]:
    hosts: list[str] = []
    for term in order_terms(terms):
        if inventory.host(term) is not None:
            matched = [term]
        else:
            matched = _match_one(inventory, term)
        if term[0] == "!":
            gone = set(matched)
            hosts = [h for h in hosts if h not in gone]
        elif term[0] == "&":
            kept = set(matched)
            hosts = [h for h in hosts if h in kept]
        else:
            seen = set(hosts)
            hosts.extend(h for h in dict.fromkeys(matched) if h not in seen)
    return hosts


def _match_one(inventory: Inventory, term: str) -> list[str]:
    expr = term[1:] if term[0] in "&!" else term
    if not expr:
        raise HostPatternError(f"{term!r} in a hosts pattern names nothing: write {term}GROUP")
    subscript: tuple[int, int | None] | None = None
    if expr[0] != "~":
        m = _SUBSCRIPT.match(expr)
        if m:
            expr, index, start, sep, end = m.groups()
            if sep == "-":
                raise HostPatternError(f"{term!r}: [x-y] subscripts were removed from Ansible: write [{start}:{end}]")
            subscript = (int(index), None) if index is not None else (int(start), int(end) if end else -1)
    hosts = _enumerate(inventory, expr, term)
    if not hosts or subscript is None:
        return hosts
    first, last = subscript
    if last == 0 and first == 0:  # Ansible reads an end of 0 as no end: [0:0] is [0]
        last = None
    if last is None:
        try:
            return [hosts[first]]
        except IndexError:
            raise HostPatternError(f"no hosts matched the subscripted pattern {term!r}: {expr!r} has "
                                   f"{len(hosts)} host{'s' if len(hosts) != 1 else ''} "
                                   f"(0 to {len(hosts) - 1}, or -1 for the last)") from None
    if last == -1:  # [1:], to the end
        return hosts[first:]
    if first > last:
        raise HostPatternError(f"{term!r}: the subscript starts at {first}, after its end {last}")
    return hosts[first:last + 1]


def _enumerate(inventory: Inventory, expr: str, term: str) -> list[str]:
    matches = _matcher(expr, term)
    groups = [g for g in inventory.group_names if matches(g)]
    found: dict[str, None] = {}
    for group in groups:
        found.update(dict.fromkeys(inventory.group_hosts(group)))
    if not groups or expr[0] == "~" or any(c in expr for c in _GLOB_OR_REGEX):
        found.update(dict.fromkeys(h for h in inventory.host_names if matches(h)))
    if not found and not groups and expr in LOCALHOST:
        raise HostPatternError(f"{expr!r} is not in the inventory: Ansible would run this play on the control "
                               "machine (its implicit localhost); Outpost runs plays on nodes only")
    return list(found)


def _matcher(expr: str, term: str) -> Callable[[str], bool]:
    try:
        compiled = re.compile(expr[1:] if expr[0] == "~" else fnmatch.translate(expr))
    except re.error as exc:
        raise HostPatternError(f"{term!r}: not a valid regular expression ({exc})") from None
    return lambda name: compiled.match(name) is not None


# -- the fleet as an inventory (no -i) --------------------------------------------------------

@dataclass(frozen=True)
class FleetNode:
    """A node as the play executor knows it, for :func:`fleet_inventory` and :func:`match_nodes`."""
    node_id: str
    hostname: str
    tags: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()  # Outpost group names
    platform: Platform = Platform.LINUX
    ip: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))
        object.__setattr__(self, "groups", tuple(self.groups))

    @property
    def name_tag(self) -> str | None:
        return self.tags.get("Name") or None


def tag_group(key: str, value: str) -> str:
    """``tag_Role_web``: the group aws_ec2's ``keyed_groups: [{key: tags, prefix: tag}]`` puts a node in."""
    return _UNSAFE_GROUP_CHARS.sub("_", f"tag_{key}_{value}")


def platform_group(platform: Platform) -> str:
    return f"platform_{platform.value.lower()}"


def fleet_inventory(nodes: Sequence[FleetNode]) -> Inventory:
    """The fleet as Ansible's aws_ec2 inventory would show it, for plays run without ``-i``.

    Each node is a host named by its ``Name`` tag when that is unique in the fleet and is no
    other node's id and no group's name, else by its node id. Groups, each node in them: every
    Outpost group it is in, by its name; ``tag_KEY_VALUE`` for each tag (characters outside
    ``[A-Za-z0-9_]`` become ``_``, as aws_ec2 writes them); ``platform_linux``,
    ``platform_windows`` or ``platform_macos``. A host's vars: ``ansible_host`` (its hostname, or
    its address when it has no hostname), ``outpost_node_id``, ``outpost_platform`` and ``tags``
    (as aws_ec2's ``tags`` host var).
    """
    memberships = [(node, (*node.groups, *(tag_group(k, v) for k, v in node.tags.items()),
                           platform_group(node.platform))) for node in nodes]
    group_names = {ALL, UNGROUPED} | {g for _, groups in memberships for g in groups}
    ids = {node.node_id for node in nodes}
    for node in nodes:
        if node.node_id in group_names:
            raise InventoryError(f"node {node.node_id} has the name of a group; rename the group")
    tagged: dict[str, int] = {}
    for node in nodes:
        if node.name_tag:
            tagged[node.name_tag] = tagged.get(node.name_tag, 0) + 1
    builder = InventoryBuilder()
    for node, groups in memberships:
        name = node.name_tag
        if not name or tagged[name] > 1 or name in ids or name in group_names:
            name = node.node_id
        builder.host(name, None, {"ansible_host": node.hostname or node.ip or node.node_id,
                                  "outpost_node_id": node.node_id, "outpost_platform": node.platform.value,
                                  "tags": dict(node.tags)}, None)
        for group in groups:
            builder.host(name, group, {}, None)
    return builder.finish(sources=("the fleet",))


# -- inventory hosts to nodes (with -i) -------------------------------------------------------

class MatchedBy(enum.Enum):
    NODE_ID = "node id"
    NAME_TAG = "Name tag"
    HOSTNAME = "hostname"
    ADDRESS = "address"
    ANSIBLE_HOST = "ansible_host"


@dataclass(frozen=True)
class MatchedHost:
    host: str  # the inventory's name
    node_id: str
    by: MatchedBy


@dataclass(frozen=True)
class HostMatch:
    matched: tuple[MatchedHost, ...]  # in the order of the hostnames given
    unreachable: tuple[str, ...]  # hosts no node answers to: Ansible's UNREACHABLE, not an error

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(m.node_id for m in self.matched)


def match_nodes(hostnames: Sequence[str], inventory: Inventory, nodes: Sequence[FleetNode]) -> HostMatch:
    """Each inventory host to the one node it names: by node id, ``Name`` tag, hostname (any
    case) or address, as its own name or as its ``ansible_host``. Two nodes for one host, or
    one node for two hosts, is an :class:`InventoryError` naming both."""
    index = _NodeIndex(nodes)
    matched: list[MatchedHost] = []
    unreachable: list[str] = []
    taken: dict[str, str] = {}
    for name in dict.fromkeys(hostnames):  # a host given twice is matched once
        host = inventory.host(name)
        if host is None:
            raise InventoryError(f"no host {name!r} in the inventory")
        found = index.lookup(name, {})
        address = host_vars(inventory, host).get("ansible_host")
        if address is not None:
            index.lookup(str(address), found, MatchedBy.ANSIBLE_HOST)
        if len(found) > 1:
            shown = " and ".join(f"{node_id} (by {by.value})" for node_id, by in found.items())
            raise _at(host.location, f"host {name!r} names {len(found)} nodes: {shown}; give it an "
                      "ansible_host or a node id that names one")
        if not found:
            unreachable.append(name)
            continue
        node_id, by = next(iter(found.items()))
        if node_id in taken:
            raise _at(host.location, f"hosts {taken[node_id]!r} and {name!r} are both node {node_id}: a play "
                      "runs once on a node; keep one of them in the play")
        taken[node_id] = name
        matched.append(MatchedHost(name, node_id, by))
    return HostMatch(tuple(matched), tuple(unreachable))


def _at(where: Location | None, message: str) -> InventoryError:
    if where is None:
        return InventoryError(message)
    return InventoryError(message, filename=where.filename, line=where.line)


class _NodeIndex:
    """The fleet's nodes by each key a host may name them by."""

    def __init__(self, nodes: Sequence[FleetNode]) -> None:
        kinds = (MatchedBy.NODE_ID, MatchedBy.NAME_TAG, MatchedBy.HOSTNAME, MatchedBy.ADDRESS)
        self.by: list[tuple[MatchedBy, dict[str, list[str]]]] = [(k, {}) for k in kinds]
        for node in nodes:
            keys = (node.node_id, node.name_tag, node.hostname.casefold() if node.hostname else None, node.ip)
            for (_, table), key in zip(self.by, keys, strict=True):
                if key:
                    table.setdefault(key, []).append(node.node_id)

    def lookup(self, text: str, found: dict[str, MatchedBy], as_: MatchedBy | None = None) -> dict[str, MatchedBy]:
        for kind, table in self.by:
            key = text.casefold() if kind == MatchedBy.HOSTNAME else text
            for node_id in table.get(key, ()):
                found.setdefault(node_id, as_ or kind)
        return found
