"""``outpost baseline create | update | show | list | delete`` (patch baselines stored on the
controller) and ``outpost compliance list | show`` (each node's latest patch compliance):
docs/patching.md."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli import params
from controller.cli.render import OUTPUT, Row, baseline_row, compliance_row, print_json, print_table
from controller.cli.terminal import say
from plugins.sdk.errors import InputError
from plugins.sdk.limits import shown
from plugins.sdk.patching import MAX_BASELINE_CHARS, PatchState, is_baseline_name, parse_baseline

if TYPE_CHECKING:
    from controller.cli.context import Ctx

BASELINE = params.Text(128, lambda v: None if is_baseline_name(v) else
                       f"expected a baseline name (3 to 128 of letters, digits, '_', '-', '.'), got {shown(v)}",
                       metavar="NAME")
_FILE = click.option("--file", "path", required=True, type=params.existing_file(),
                     help="the baseline, YAML (or JSON): docs/patching.md")
_SHOW_KEYS = ("name", "operating_system", "description", "sha256", "created", "updated", "updated_by")
_COUNTS = [s.name.lower() for s in PatchState]
_RECORD_COLUMNS = ["name", "installed_version", "available_version", "state", "classification", "severity",
                   "compliance_level"]


def read_baseline(path: Path, name: str) -> str:
    """The text of baseline ``name`` in ``path``, checked as the controller checks it (so a mistake is
    told here, naming the file and the key); InputError."""
    try:
        data = path.read_bytes()
        if len(data) > MAX_BASELINE_CHARS * 4:
            raise InputError(str(path), f"is {len(data)} bytes; a baseline is at most {MAX_BASELINE_CHARS} "
                                        "characters")
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"is not UTF-8 text (byte {exc.start})") from None
    baseline = parse_baseline(text, path.name)
    if baseline.name != name:
        raise InputError(f"{path.name}: name", f"says {baseline.name!r}, but the baseline is {name!r}: they must "
                                               "agree")
    return text


def _show_baseline(row: Row, output: str) -> None:
    if output == "json":
        print_json(row)
        return
    for key in _SHOW_KEYS:
        say(f"{key.replace('_', ' '):>16}: {row[key]}")
    if "content" in row:
        text = str(row["content"])
        say("")
        say(text, nl=not text.endswith("\n"))


def _put(obj: Ctx, name: str, path: Path, create: bool, output: str) -> None:
    text = read_baseline(path, name)
    with obj.client() as c:
        row = baseline_row(c.put_baseline(name, text, create))
    if output == "json":
        print_json(row)
    else:
        say(f"patch baseline {name} {'created' if create else 'updated'} ({row['operating_system']}, "
            f"sha256 {row['sha256']})")


@click.group("baseline")
def baseline() -> None:
    """Patch baselines (SSM Patch Manager's): which updates nodes may have. A patch step, or the
    built-in document Outpost-ApplyPatchBaseline (AWS-RunPatchBaseline), names one."""


@baseline.command("create")
@click.argument("name", type=BASELINE)
@_FILE
@OUTPUT
@click.pass_obj
def baseline_create(obj: Ctx, name: str, path: Path, output: str) -> None:
    """Create baseline NAME from --file (its `name:` must be NAME)."""
    _put(obj, name, path, True, output)


@baseline.command("update")
@click.argument("name", type=BASELINE)
@_FILE
@OUTPUT
@click.pass_obj
def baseline_update(obj: Ctx, name: str, path: Path, output: str) -> None:
    """Replace baseline NAME with --file; commands sent from now on carry the new one."""
    _put(obj, name, path, False, output)


@baseline.command("show")
@click.argument("name", type=BASELINE)
@OUTPUT
@click.pass_obj
def baseline_show(obj: Ctx, name: str, output: str) -> None:
    """Baseline NAME, and its text as stored."""
    with obj.client() as c:
        _show_baseline(baseline_row(c.get_baseline(name)), output)


@baseline.command("list")
@OUTPUT
@click.pass_obj
def baseline_list(obj: Ctx, output: str) -> None:
    with obj.client() as c:
        rows = [baseline_row(b) for b in c.list_baselines()]
    if output == "json":
        print_json(rows)
    else:
        print_table(rows, ["name", "operating_system", "description", "updated", "updated_by"])


@baseline.command("delete")
@click.argument("name", type=BASELINE)
@click.pass_obj
def baseline_delete(obj: Ctx, name: str) -> None:
    """Delete baseline NAME (commands sent before keep the text they carry)."""
    with obj.client() as c:
        c.delete_baseline(name)
    say(f"patch baseline {name} deleted")


@click.group("compliance")
def compliance() -> None:
    """Each node's latest patch compliance: what its last patch step reported."""


def _yes(row: Row) -> Row:
    return {**row, "compliant": "yes" if row["compliant"] else "NO"}


@compliance.command("list")
@click.option("--non-compliant", "non_compliant", is_flag=True, help="only the nodes that are not compliant")
@click.option("--page-size", "page_size", default=None, type=params.PAGE,
              help="nodes asked for per call (default: the controller's largest page)")
@OUTPUT
@click.pass_obj
def compliance_list(obj: Ctx, non_compliant: bool, page_size: int | None, output: str) -> None:
    """Every node that has reported patch compliance, by node id: the count of each state."""
    with obj.client() as c:
        rows = [compliance_row(n) for n in c.list_compliance(non_compliant, page_size or 0)]
    if output == "json":
        print_json(rows)
    else:
        print_table([_yes(r) for r in rows], ["node_id", "compliant", "baseline", "operation", *_COUNTS, "ended"])


@compliance.command("show")
@click.argument("node_id", type=params.ID)
@OUTPUT
@click.pass_obj
def compliance_show(obj: Ctx, node_id: str, output: str) -> None:
    """NODE_ID's latest patch compliance: the count of each state, and each package's."""
    with obj.client() as c:
        row = compliance_row(c.get_compliance(node_id))
    if output == "json":
        print_json(row)
        return
    records = row.pop("records", [])
    omitted = row.pop("records_omitted", 0)
    for key in ("node_id", "compliant", "baseline", "operation", "snapshot_id", "reboot_option", "command_id",
                "started", "ended"):
        say(f"{key.replace('_', ' '):>14}: {_yes(row)[key] or '-'}")
    print_table([{"state": s.value, "count": row[s.name.lower()]} for s in PatchState], ["state", "count"])
    print_table([{k: v if v != "" else "-" for k, v in r.items()} for r in records],  # type: ignore[attr-defined]
                _RECORD_COLUMNS)
    if omitted:
        say(f"... and {omitted} more package(s), not reported one by one")
