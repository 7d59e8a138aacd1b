"""What an Ansible inventory holds once read: hosts, groups, and where each was written.

Immutable: the readers build one through :class:`controller.compiler.inventory_builder.InventoryBuilder`,
and the fleet's own inventory is built the same way. Orders are the inventory's: hosts as first
written (across the files of a directory, in file name order), groups as first written after the
implicit ``all`` and ``ungrouped``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

ALL = "all"
UNGROUPED = "ungrouped"


@dataclass(frozen=True)
class Location:
    """Where something is written: a file as the user named it and a 1-based line."""
    filename: str
    line: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}"


def frozen_vars(values: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class InventoryHost:
    name: str
    vars: Mapping[str, object]  # written in the inventory (host line, hosts: entry; ansible_port from name:port)
    dir_vars: Mapping[str, object]  # from host_vars/NAME beside the inventory
    groups: tuple[str, ...]  # every group it is in, directly or through children, in group order ('all' first)
    location: Location | None  # where it is first written; None for a fleet node


@dataclass(frozen=True)
class InventoryGroup:
    name: str
    hosts: tuple[str, ...]  # its own members, in inventory order (a child group's hosts are not listed)
    children: tuple[str, ...]
    vars: Mapping[str, object]  # written in the inventory ([g:vars], vars:); without ansible_group_priority
    dir_vars: Mapping[str, object]  # from group_vars/NAME beside the inventory
    depth: int  # 0 for all, 1 for a group under all only, one more than its deepest parent otherwise
    priority: int  # ansible_group_priority (1 unless the inventory sets it)
    location: Location | None  # where it is first written; None for the implicit groups and the fleet's


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[InventoryHost, ...]
    groups: tuple[InventoryGroup, ...]
    sources: tuple[str, ...] = ()  # the files read, in the order read
    warnings: tuple[str, ...] = ()  # what Ansible also skips with a warning (a .ini file in a directory...)
    _hosts: Mapping[str, InventoryHost] = field(init=False, repr=False, compare=False)
    _groups: Mapping[str, InventoryGroup] = field(init=False, repr=False, compare=False)
    _members: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        members: dict[str, list[str]] = {g.name: [] for g in self.groups}
        for host in self.hosts:
            for group in host.groups:
                members[group].append(host.name)
        object.__setattr__(self, "_hosts", MappingProxyType({h.name: h for h in self.hosts}))
        object.__setattr__(self, "_groups", MappingProxyType({g.name: g for g in self.groups}))
        object.__setattr__(self, "_members", MappingProxyType({k: tuple(v) for k, v in members.items()}))

    def host(self, name: str) -> InventoryHost | None:
        return self._hosts.get(name)

    def group(self, name: str) -> InventoryGroup | None:
        return self._groups.get(name)

    def group_hosts(self, name: str) -> tuple[str, ...]:
        """Every host of a group, its children's included, in inventory order; () for no such group."""
        return self._members.get(name, ())

    @property
    def members(self) -> Mapping[str, tuple[str, ...]]:
        """Every group to all its hosts (Ansible's ``groups`` variable), read-only, shared."""
        return self._members

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(self._hosts)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(self._groups)
