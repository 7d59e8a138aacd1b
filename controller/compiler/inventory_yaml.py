"""Ansible's YAML inventory format (also JSON), read as ansible-core's ``yaml`` inventory plugin reads it.

Followed: every top-level key is a group (usually just ``all``); a group is empty or a mapping of
``hosts``, ``children`` and ``vars``; each of those is a mapping, or a single name as a string;
a host key may hold ranges and a ``:port`` (kept as ``ansible_port``) and its value is its
variables or empty; a child group is a group again, at any depth, and may be written under
several parents. Values keep their YAML types.

Refused, where Ansible only warns and skips: a key other than hosts/children/vars in a group,
a group or a host's variables written as something other than a mapping. Refused where Ansible
fails too: a list under ``hosts:`` or ``children:``, an empty file, a top level that is not a
mapping, invalid YAML, and a file with ``plugin:`` at the top (an inventory plugin's
configuration: Outpost runs no inventory plugin, see :func:`refuse_plugin`).
"""
from __future__ import annotations

from collections.abc import Callable

from controller.compiler import yamlnodes
from controller.compiler.errors import InventoryError, PlaybookError
from controller.compiler.hostrange import RangeProblem, expand, split_port
from controller.compiler.inventory_builder import InventoryBuilder
from controller.compiler.inventory_model import Location
from controller.compiler.yamlnodes import YMap, YNode, YScalar, YSeq

FLEET_INSTEAD = ("without -i, the fleet's own groups and tags serve as the inventory "
                 "(Outpost groups by name, tag_KEY_VALUE, platform_linux...)")
_SECTIONS = ("hosts", "children", "vars")


def load_yaml(text: str, filename: str) -> YNode | None:
    """The text as located YAML, its errors as :class:`InventoryError`."""
    try:
        return yamlnodes.load(text, filename)
    except PlaybookError as exc:
        where = exc.where if exc.where.isprintable() else repr(exc.where)  # a key may hold a line break
        raise InventoryError(exc.message, filename=exc.filename, line=exc.line, where=where) from None


def refuse_plugin(name: object, where: Location) -> InventoryError:
    return InventoryError(f"this is the configuration of the inventory plugin {name!r}, not an inventory: "
                          f"Outpost runs no inventory plugin; {FLEET_INSTEAD}",
                          filename=where.filename, line=where.line)


def read_yaml(root: YNode | None, filename: str, builder: InventoryBuilder) -> None:
    if root is None:
        raise InventoryError("the file holds no inventory (it is empty)", filename=filename, line=1)
    if not isinstance(root, YMap):
        raise InventoryError(f"a YAML inventory is a mapping of groups (all: with hosts:, children:, vars:), "
                             f"not {yamlnodes.kind(root)}", filename=filename, line=root.line)
    plugin = root.get("plugin")
    if plugin is not None:
        raise refuse_plugin(yamlnodes.to_plain(plugin.value), Location(filename, plugin.key_line))
    reader = _Reader(filename, builder)
    for entry in root.entries:
        reader.group(entry.key, entry.value, Location(filename, entry.key_line))


class _Reader:
    def __init__(self, filename: str, builder: InventoryBuilder) -> None:
        self.filename = filename
        self.builder = builder

    def fail(self, line: int, message: str) -> InventoryError:
        return InventoryError(message, filename=self.filename, line=line)

    def group(self, name: str, node: YNode, where: Location) -> None:
        self.builder.group(name, where)
        if isinstance(node, YScalar) and node.value is None:
            return
        if not isinstance(node, YMap):
            raise self.fail(where.line, f"group {name!r} must be a mapping of hosts:, children: and vars: "
                            f"(or empty), not {yamlnodes.kind(node)}")
        readers: dict[str, Callable[[str, YMap], None]] = {
            "vars": self.group_vars, "children": self.children, "hosts": self.hosts}
        for entry in node.entries:
            if entry.key not in readers:
                raise self.fail(entry.key_line, f"group {name!r} has an unexpected key {entry.key!r}: a group "
                                "takes hosts:, children: and vars: (a child group goes under children:)")
            section = self.section(name, entry.key, entry.value)
            if section is not None:
                readers[entry.key](name, section)

    def section(self, group: str, key: str, node: YNode) -> YMap | None:
        """hosts:/children:/vars: as a mapping; a lone string is one name; empty is nothing."""
        if isinstance(node, YMap):
            return node
        if isinstance(node, YScalar) and node.value is None:
            return None
        if isinstance(node, YScalar) and isinstance(node.value, str) and key != "vars":
            return YMap((yamlnodes.YEntry(node.value, node.line, YScalar(None, node.line)),), node.line)
        hint = " (write each name as a key ending with ':', not as a '- ' list item)" if isinstance(node, YSeq) else ""
        raise self.fail(node.line, f"{key}: of group {group!r} must be a mapping, not {yamlnodes.kind(node)}{hint}")

    def group_vars(self, group: str, node: YMap) -> None:
        for entry in node.entries:
            self.builder.group_var(group, entry.key, yamlnodes.to_plain(entry.value),
                                   Location(self.filename, entry.key_line))

    def children(self, group: str, node: YMap) -> None:
        for entry in node.entries:
            where = Location(self.filename, entry.key_line)
            self.group(entry.key, entry.value, where)
            self.builder.child(group, entry.key, where)

    def hosts(self, group: str, node: YMap) -> None:
        for entry in node.entries:
            where = Location(self.filename, entry.key_line)
            try:
                pattern, port = split_port(entry.key)
                names = expand(pattern)
            except RangeProblem as exc:
                raise self.fail(entry.key_line, str(exc)) from None
            value = entry.value
            if isinstance(value, YScalar) and value.value is None:
                variables: dict[str, object] = {}
            elif isinstance(value, YMap):
                variables = yamlnodes.to_plain(value)
            else:
                raise self.fail(entry.key_line, f"host {entry.key!r}: its variables must be a mapping "
                                f"(or nothing after the ':'), not {yamlnodes.kind(value)}")
            if port is not None:
                variables = {"ansible_port": port, **variables}
            for name in names:
                self.builder.host(name, group, variables, where)
