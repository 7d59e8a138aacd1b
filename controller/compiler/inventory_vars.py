"""``group_vars/`` and ``host_vars/`` beside an inventory, read as Ansible's ``host_group_vars``
vars plugin reads them.

For an inventory file the directory is the file's; for an inventory directory, the directory
itself. For each group and host, the first of ``NAME``, ``NAME.yml``, ``NAME.yaml``,
``NAME.json`` that exists is read: a file (YAML; JSON is YAML), or a directory ``NAME/`` whose
files (no extension, ``.yml``, ``.yaml``, ``.json``; not hidden, not ending in ``~``) are read in
name order, its subdirectories too, a later file's variable winning. Each file holds a mapping
or nothing. A file for a group or host the inventory does not have is not read (as Ansible).

Refused where Ansible would pick one silently: ``web.yml`` beside ``web.yaml`` (Ansible reads the
first and ignores the other). Refused by name: an Ansible Vault file (Outpost decrypts no vault:
keep secrets in Outpost's parameter store, ``outpost parameter put``), and
``ansible_group_priority`` in a group_vars file (Ansible ignores it there: it is read from the
inventory itself, before group_vars are loaded). Files with other extensions inside ``NAME/``
are skipped with a warning, as Ansible skips them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.compiler import yamlnodes
from controller.compiler.errors import InventoryError
from controller.compiler.inventory_builder import PRIORITY_VAR
from controller.compiler.inventory_yaml import load_yaml
from controller.compiler.yamlnodes import YMap

VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")
VAULT_HEADER = "$ANSIBLE_VAULT;"


@dataclass(frozen=True)
class DirVars:
    groups: Mapping[str, Mapping[str, object]]
    hosts: Mapping[str, Mapping[str, object]]
    warnings: tuple[str, ...]


def read_text(path: Path, shown: str) -> str:
    """A file's text; a vault file or one that is not UTF-8 is refused here, for every reader."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InventoryError(f"cannot read it: {exc.strerror or exc}", filename=shown) from None
    if data.startswith(VAULT_HEADER.encode()):
        raise InventoryError("an Ansible Vault file: Outpost decrypts no vault; keep secrets in Outpost's "
                             "parameter store (outpost parameter put --type SecureString)", filename=shown, line=1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InventoryError("not UTF-8 text", filename=shown, line=line) from None


def read_dir_vars(basedirs: Iterable[Path], groups: Iterable[str], hosts: Iterable[str]) -> DirVars:
    """Every group's and host's variables from the vars directories, later basedirs winning."""
    warnings: list[str] = []
    group_vars: dict[str, dict[str, object]] = {}
    host_vars: dict[str, dict[str, object]] = {}
    group_names, host_names = tuple(groups), tuple(hosts)
    for base in basedirs:
        for kind, names, into in (("group_vars", group_names, group_vars), ("host_vars", host_names, host_vars)):
            folder = base / kind
            if not folder.is_dir():
                continue
            for name in names:
                for path in _files_for(folder, name, warnings):
                    values = _read_vars_file(path)
                    if kind == "group_vars" and PRIORITY_VAR in values:
                        raise InventoryError(f"{PRIORITY_VAR} is read only from the inventory itself (Ansible "
                                             "ignores it in group_vars/): set it there", filename=str(path))
                    into.setdefault(name, {}).update(values)
    return DirVars(group_vars, host_vars, tuple(warnings))


def _files_for(folder: Path, name: str, warnings: list[str]) -> list[Path]:
    found = [folder / f"{name}{ext}" for ext in VARS_EXTENSIONS if (folder / f"{name}{ext}").exists()]
    if not found:
        return []
    if len(found) > 1:
        others = ", ".join(p.name for p in found[1:])
        raise InventoryError(f"{others} beside it also holds variables for {name!r}; Ansible reads only "
                             f"{found[0].name} and ignores the other: keep one", filename=str(found[0]))
    if found[0].is_dir():
        return _dir_files(found[0], warnings)
    return found


def _dir_files(folder: Path, warnings: list[str]) -> list[Path]:
    out: list[Path] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or path.name.endswith("~"):
            continue
        if path.is_dir() and not path.suffix:
            out.extend(_dir_files(path, warnings))
        elif path.is_file() and path.suffix in VARS_EXTENSIONS:
            out.append(path)
        else:
            warnings.append(f"{path}: not read (Ansible reads only files without an extension or "
                            "ending in .yml, .yaml or .json here)")
    return out


def _read_vars_file(path: Path) -> dict[str, object]:
    root = load_yaml(read_text(path, str(path)), str(path))
    if root is None:
        return {}
    if not isinstance(root, YMap):
        raise InventoryError(f"a vars file holds a mapping of variables, not {yamlnodes.kind(root)}",
                             filename=str(path), line=root.line)
    return {e.key: yamlnodes.to_plain(e.value) for e in root.entries}
