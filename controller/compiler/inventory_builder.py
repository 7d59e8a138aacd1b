"""Assembles an :class:`Inventory` from what the readers find, with Ansible's rules:

- ``all`` and ``ungrouped`` always exist; every group without a parent becomes a child of ``all``;
  a host in no group but ``all`` is put in ``ungrouped``, and a host written at the top of an
  INI file and also in a group is taken out of ``ungrouped`` (Ansible's ``reconcile_inventory``);
- a group is the child of another at most once, and never its own ancestor: Ansible's "creates a
  recursive dependency loop", said here with the loop;
- ``ansible_group_priority`` sets the group's priority instead of being a variable; it must be
  an integer;
- a name that is both a host and a group is refused: Ansible only warns ("Found both group and
  host with same name") and its patterns then take the group, so the host is never addressed.

One builder serves all the files of one inventory (a directory's files share their groups).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.compiler.errors import InventoryError
from controller.compiler.inventory_model import (
    ALL,
    UNGROUPED,
    Inventory,
    InventoryGroup,
    InventoryHost,
    Location,
    frozen_vars,
)

PRIORITY_VAR = "ansible_group_priority"


@dataclass
class _Group:
    name: str
    location: Location | None
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, object] = field(default_factory=dict)
    priority: int = 1


@dataclass
class _Host:
    name: str
    location: Location | None
    groups: list[str] = field(default_factory=list)
    vars: dict[str, object] = field(default_factory=dict)


def fail(where: Location | None, message: str) -> InventoryError:
    if where is None:
        return InventoryError(message)
    return InventoryError(message, filename=where.filename, line=where.line)


class InventoryBuilder:
    def __init__(self) -> None:
        # as Ansible's InventoryData: ungrouped is all's first child
        self._groups: dict[str, _Group] = {ALL: _Group(ALL, None, children=[UNGROUPED]),
                                           UNGROUPED: _Group(UNGROUPED, None, parents=[ALL])}
        self._hosts: dict[str, _Host] = {}

    def has_group(self, name: str) -> bool:
        return name in self._groups

    def group(self, name: str, where: Location | None) -> None:
        """Declare a group (again: nothing changes, the first place written is kept)."""
        if not name:
            raise fail(where, "a group needs a name")
        if name not in self._groups:
            self._groups[name] = _Group(name, where)
        elif self._groups[name].location is None and name not in (ALL, UNGROUPED):
            self._groups[name].location = where

    def group_var(self, group: str, key: str, value: object, where: Location | None) -> None:
        self.group(group, where)
        target = self._groups[group]
        if key == PRIORITY_VAR:
            text = str(value).strip()
            if isinstance(value, bool) or not isinstance(value, (int, str)) or not re.fullmatch(r"-?[0-9]+", text):
                raise fail(where, f"{PRIORITY_VAR} of group {group!r} must be an integer, got {value!r}")
            target.priority = int(text)
            return
        target.vars[key] = value

    def child(self, parent: str, child: str, where: Location | None) -> None:
        self.group(parent, where)
        self.group(child, where)
        if child == ALL:
            raise fail(where, f"'all' cannot be a child of {parent!r}: every group is already in all")
        p, c = self._groups[parent], self._groups[child]
        if child in p.children:
            return
        loop = self._path(child, parent)
        if loop is not None:
            shown = " -> ".join(name if name.isprintable() else repr(name) for name in (parent, *loop))
            raise fail(where, f"making {child!r} a child of {parent!r} creates a loop of groups: {shown}")
        p.children.append(child)
        c.parents.append(parent)

    def _path(self, start: str, goal: str, seen: set[str] | None = None) -> tuple[str, ...] | None:
        """The child path from ``start`` down to ``goal``, if there is one (each group visited once)."""
        if start == goal:
            return (start,)
        seen = set() if seen is None else seen
        seen.add(start)
        for kid in self._groups[start].children:
            if kid in seen:
                continue
            rest = self._path(kid, goal, seen)
            if rest is not None:
                return (start, *rest)
        return None

    def host(self, name: str, group: str | None, variables: Mapping[str, object], where: Location | None) -> None:
        if not name:
            raise fail(where, "a host needs a name")
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = _Host(name, where)
        if group is not None:
            self.group(group, where)
            if group not in host.groups:
                host.groups.append(group)
                self._groups[group].hosts.append(name)
        host.vars.update(variables)

    def names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(group names, host names) so far: what group_vars/ and host_vars/ are looked up for."""
        return tuple(self._groups), tuple(self._hosts)

    def finish(self, *, group_dir_vars: Mapping[str, Mapping[str, object]] | None = None,
               host_dir_vars: Mapping[str, Mapping[str, object]] | None = None,
               sources: tuple[str, ...] = (), warnings: tuple[str, ...] = ()) -> Inventory:
        self._refuse_names_that_are_both()
        for group in self._groups.values():
            if group.name != ALL and not group.parents:
                self._groups[ALL].children.append(group.name)
                group.parents.append(ALL)
        for host in self._hosts.values():
            mine = [g for g in host.groups if g not in (ALL, UNGROUPED)]
            if not mine and UNGROUPED not in host.groups:
                host.groups.append(UNGROUPED)
                self._groups[UNGROUPED].hosts.append(host.name)
            elif mine and UNGROUPED in host.groups:
                host.groups.remove(UNGROUPED)
                self._groups[UNGROUPED].hosts.remove(host.name)
        depth: dict[str, int] = {}
        order = {name: i for i, name in enumerate(self._groups)}
        group_dir_vars = group_dir_vars or {}
        host_dir_vars = host_dir_vars or {}
        groups = tuple(
            InventoryGroup(name=g.name, hosts=tuple(g.hosts), children=tuple(g.children),
                           vars=frozen_vars(g.vars), dir_vars=frozen_vars(group_dir_vars.get(g.name, {})),
                           depth=self._depth(g.name, depth), priority=g.priority, location=g.location)
            for g in self._groups.values())
        hosts = tuple(
            InventoryHost(name=h.name, vars=frozen_vars(h.vars), dir_vars=frozen_vars(host_dir_vars.get(h.name, {})),
                          groups=tuple(sorted(self._ancestors(h.groups), key=order.__getitem__)),
                          location=h.location)
            for h in self._hosts.values())
        return Inventory(hosts=hosts, groups=groups, sources=sources, warnings=warnings)

    def _refuse_names_that_are_both(self) -> None:
        for host in self._hosts.values():
            group = self._groups.get(host.name)
            if group is None:
                continue
            if group.location is None:
                raise fail(host.location, f"a host cannot be named {host.name!r}: that is Ansible's implicit group")
            raise fail(host.location, f"{host.name!r} is both a host and a group (the group at {group.location}); "
                       "Ansible only warns, and its patterns then select the group: rename one of them")

    def _depth(self, name: str, memo: dict[str, int]) -> int:
        if name == ALL:
            return 0
        if name not in memo:
            memo[name] = 1 + max(self._depth(p, memo) for p in self._groups[name].parents)
        return memo[name]

    def _ancestors(self, direct: list[str]) -> set[str]:
        out = {ALL}
        todo = list(direct)
        while todo:
            name = todo.pop()
            if name not in out:
                out.add(name)
                todo.extend(self._groups[name].parents)
        return out
