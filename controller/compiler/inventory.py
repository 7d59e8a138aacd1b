"""Ansible inventories, read as ansible-core reads them: ``load_inventory`` and ``host_vars``.

    inventory = load_inventory("inventory/")          # a file (INI or YAML) or a directory of them
    inventory.group_hosts("webservers")               # ('foo.example.com', 'bar.example.com')
    host_vars(inventory, "foo.example.com")["http_port"]

Sources, as Ansible's ``-i``: an INI file (:mod:`inventory_ini`), a YAML or JSON file
(:mod:`inventory_yaml`; a file without an extension is YAML when it reads as a YAML mapping, INI
otherwise, as Ansible tries its yaml plugin before its ini plugin), or a directory: its files in
name order, subdirectories too, sharing one set of groups; skipped as Ansible skips them: hidden
names, ``group_vars``, ``host_vars``, ``vars_plugins`` and the extensions of Ansible's
``INVENTORY_IGNORE_EXTS`` (``.ini`` among them: a ``hosts.ini`` in a directory is not read by
Ansible either, and :attr:`Inventory.warnings` says so). Then ``group_vars/`` and ``host_vars/``
beside the inventory (:mod:`inventory_vars`).

Refused by name, saying what Outpost does instead (without ``-i`` the fleet's own groups and tags
serve as the inventory, see :func:`controller.compiler.hosts.fleet_inventory`): an executable
file (Ansible would run it as a dynamic inventory script), a YAML file with ``plugin:`` (an
inventory plugin such as ``aws_ec2``), a ``.toml`` inventory, a comma-separated host list
(``-i web1,web2,``), an Ansible Vault file.

Variable precedence, as Ansible's ``VariableManager`` (default ``VARIABLE_PRECEDENCE``), lowest
first, a later source replacing a whole top-level variable (``hash_behaviour = replace``):
the inventory's ``all`` vars; its other groups' vars, in the order (depth, ``ansible_group_priority``,
name), so a child group beats its parent and ``b`` beats ``a`` at one depth; ``group_vars/all``;
``group_vars/<group>`` in that same order; the host's own inventory vars; ``host_vars/<host>``;
then the magic variables ``inventory_hostname``, ``inventory_hostname_short``, ``group_names``,
``groups``, ``inventory_file`` and ``inventory_dir``. ``group_names`` is Ansible's: sorted, without
``all``, and with ``ungrouped`` for a host in no other group (ansible-core lists it).
"""
from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from controller.compiler.errors import InventoryError
from controller.compiler.inventory_builder import InventoryBuilder
from controller.compiler.inventory_ini import read_ini
from controller.compiler.inventory_model import (
    ALL,
    UNGROUPED,
    Inventory,
    InventoryGroup,
    InventoryHost,
    Location,
)
from controller.compiler.inventory_vars import read_dir_vars, read_text
from controller.compiler.inventory_yaml import FLEET_INSTEAD, load_yaml, read_yaml
from controller.compiler.yamlnodes import YMap

__all__ = ["ALL", "UNGROUPED", "Inventory", "InventoryError", "InventoryGroup", "InventoryHost", "Location",
           "host_vars", "load_inventory"]

log = logging.getLogger(__name__)

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
# Ansible's INVENTORY_IGNORE_EXTS (REJECT_EXTS + .orig, .ini, .cfg, .retry) and its always-ignored names
IGNORED_ENDINGS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".ini", ".cfg",
                   ".retry")
IGNORED_NAMES = ("group_vars", "host_vars", "vars_plugins")


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    given = os.fspath(path)
    root = Path(given)
    if not root.exists():
        hint = ""
        if "," in given:
            hint = (": a comma-separated host list (-i web1,web2,) is not read; write the hosts in an "
                    "INI file, or leave -i out to use the fleet's own groups and tags")
        raise InventoryError(f"no such inventory file or directory{hint}", filename=given)
    builder = InventoryBuilder()
    warnings: list[str] = []
    if root.is_dir():
        files = _directory_files(root, warnings)
        if not files:
            raise InventoryError("the directory holds no inventory file (skipped: "
                                 f"{'; '.join(warnings) or 'nothing'})", filename=given)
        basedir = root
    else:
        files, basedir = [root], root.parent
    for file in files:
        shown = given if file == root else str(file)
        _read_source(file, shown, builder)
    groups, hosts = builder.names()
    found = read_dir_vars([basedir], groups, hosts)
    inventory = builder.finish(group_dir_vars=found.groups, host_dir_vars=found.hosts,
                               sources=tuple(given if f == root else str(f) for f in files),
                               warnings=(*warnings, *found.warnings))
    log.debug("inventory %s: %d hosts, %d groups", given, len(inventory.hosts), len(inventory.groups))
    return inventory


def _directory_files(folder: Path, warnings: list[str]) -> list[Path]:
    out: list[Path] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        name = path.name
        if name.startswith(".") or name in IGNORED_NAMES:
            continue
        if name.endswith(IGNORED_ENDINGS):
            warnings.append(f"{path}: skipped, as Ansible skips files ending in "
                            f"{next(e for e in IGNORED_ENDINGS if name.endswith(e))} in an inventory directory")
        elif path.is_dir():
            out.extend(_directory_files(path, warnings))
        elif path.is_file():
            out.append(path)
    return out


def _read_source(path: Path, shown: str, builder: InventoryBuilder) -> None:
    if path.is_file() and os.access(path, os.X_OK):
        raise InventoryError("an executable file: Ansible would run it as a dynamic inventory script; Outpost "
                             f"runs none: {FLEET_INSTEAD}. If it is a plain INI or YAML inventory, chmod -x it",
                             filename=shown)
    suffix = path.suffix.lower()
    if suffix == ".toml":
        raise InventoryError("a TOML inventory is not read: write it as INI or YAML", filename=shown)
    text = read_text(path, shown)
    if suffix in YAML_EXTENSIONS:
        read_yaml(load_yaml(text, shown), shown, builder)
        return
    if suffix:
        read_ini(text, shown, builder)
        return
    try:  # no extension: Ansible's yaml plugin first, then its ini plugin
        root = load_yaml(text, shown)
    except InventoryError as exc:
        try:
            read_ini(text, shown, builder)
        except InventoryError as ini:
            raise InventoryError(f"{ini.message} (read as INI; as YAML it fails at line {exc.line}: "
                                 f"{exc.message})", filename=ini.filename, line=ini.line) from None
        return
    if isinstance(root, YMap):
        read_yaml(root, shown, builder)
    else:
        read_ini(text, shown, builder)


def host_vars(inventory: Inventory, host: str | InventoryHost) -> Mapping[str, object]:
    """Every variable of ``host`` as Ansible computes it from the inventory, magic ones included.

    A new mapping each call, its values copies; changing it changes nothing in ``inventory``.
    ``groups`` is the exception: the inventory's own read-only mapping of tuples, shared.
    """
    name = host.name if isinstance(host, InventoryHost) else host
    found = inventory.host(name)
    if found is None:
        raise InventoryError(f"no host {name!r} in the inventory")
    everywhere = inventory.group(ALL)
    assert everywhere is not None  # every inventory has it
    groups = sorted((g for g in map(inventory.group, found.groups) if g is not None and g.name != ALL),
                    key=lambda g: (g.depth, g.priority, g.name))
    source: dict[str, object] = {}  # Ansible sets these as the host's own, from the file it is first in
    if found.location is not None:
        source = {"inventory_file": found.location.filename,
                  "inventory_dir": os.path.dirname(found.location.filename) or "."}
    merged: dict[str, object] = {}
    layers = [everywhere.vars, *(g.vars for g in groups), everywhere.dir_vars, *(g.dir_vars for g in groups),
              source, found.vars, found.dir_vars]
    for layer in layers:
        merged.update(layer)
    merged = copy.deepcopy(merged)
    merged.update({
        "inventory_hostname": found.name,
        "inventory_hostname_short": found.name.split(".", 1)[0],
        "group_names": sorted(g for g in found.groups if g != ALL),
        "groups": inventory.members,  # read-only and shared: one copy for every host of a big fleet
    })
    return merged
