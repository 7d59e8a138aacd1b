"""The ``copy`` plugin: a file with the given content (Ansible's ``copy`` with ``content``).

Whether the file must change is decided by size, then by sha256 (the file read in chunks). It is
written atomically: a reader sees the old file or the whole new one. A symlink at ``dest`` is
followed: the file it points to is replaced, the link stays.

Today the content comes inline (``content``, bounded by the document's 64 KB); ``src``, a file from
the controller's content store, is to come beside it, which is why ``content`` is optional in the
schema and its absence an error of the step.
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from typing import ClassVar

from plugins.sdk import (
    API_VERSION,
    Attributes,
    Change,
    Platform,
    PluginError,
    PluginSpec,
    RunContext,
    StepOutcome,
    follow_link,
    os_problem,
    param,
    parent_must_exist,
    report_changes,
    run_blocking,
    shown_path,
    stat_or_none,
    write_file,
)

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class CopyInputs:
    dest: str = param("The absolute path of the file to write; its directory must exist. A symlink is followed: "
                      "the file it points to is replaced. An existing directory is refused.")
    content: str | None = param("The file's whole content, as text (written as UTF-8, exactly as given: add the "
                                "final newline yourself). Required.", default=None)
    mode: str | None = param("Permission bits as an octal string quoted in YAML: `\"0644\"`. Without it a new "
                             "file is 0644 and an existing one keeps its mode.", default=None)
    owner: str | None = param("The user that must own the file: a name, or a numeric uid. Without it an existing "
                              "file keeps its owner.", default=None)
    group: str | None = param("The group that must own the file: a name, or a numeric gid.", default=None)
    backup: bool = param("Before replacing a file whose content differs, copy it to `<dest>.<unix seconds>.bak` "
                         "(mode, owner and times kept).", default=False)
    force: bool = param("Replace an existing file whose content differs. With `false` an existing file's "
                        "content is left alone (its mode, owner and group are still set).", default=True)


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _same_content(path: str, st: os.stat_result, data: bytes, checksum: str) -> bool:
    return st.st_size == len(data) and sha256_file(path) == checksum


def converge(inputs: CopyInputs, check_mode: bool) -> tuple[list[Change], str]:
    """Find what must change and, unless in check mode, change it (in a worker thread)."""
    if inputs.content is None:
        raise PluginError("copy: give content")
    wanted = Attributes.from_inputs("copy", inputs.mode, inputs.owner, inputs.group)
    target = follow_link(inputs.dest, "copy: dest")
    name = shown_path(inputs.dest, target)
    st = stat_or_none(target, "copy: cannot read dest")
    if st is None:
        parent_must_exist(target, "copy: dest")
    elif stat.S_ISDIR(st.st_mode):
        raise PluginError(f"copy: dest {name} is a directory")
    elif not stat.S_ISREG(st.st_mode):
        raise PluginError(f"copy: dest {name} is not a regular file")
    data = inputs.content.encode("utf-8")
    checksum = hashlib.sha256(data).hexdigest()
    try:
        same = st is not None and _same_content(target, st, data, checksum)
    except OSError as exc:
        raise PluginError(f"copy: cannot read dest {name}: {os_problem(exc)}") from None
    write = st is None or (not same and inputs.force)
    changes = []
    if write:
        what = f"{len(data)} bytes to {name} (sha256 {checksum})"
        changes.append(Change(f"write {what}", f"wrote {what}"))
    if attrs := wanted.change(st, name):
        changes.append(attrs)
    if changes and not check_mode:
        try:
            if write:
                if copy := write_file(target, data, existing=st, wanted=wanted, backup=inputs.backup):
                    changes.append(Change("", f"backup {copy}"))
            else:
                wanted.apply(target)
        except OSError as exc:
            raise PluginError(f"copy: cannot write dest {name}: {os_problem(exc)}") from None
    if same:
        ok = f"{name} already has that content"
    else:
        ok = f"{name} exists and force is false: its content is left as it is"
    return changes, ok


class CopyPlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="copy",
        version="1.0.0",
        api=API_VERSION,
        summary="A file with the given content, written atomically (Ansible's copy).",
        inputs=CopyInputs,
        platforms=frozenset({Platform.LINUX, Platform.MACOS}),
        supports_check_mode=True,
        needs_workdir=False,
    )

    async def run(self, ctx: RunContext, inputs: CopyInputs) -> StepOutcome:
        changes, ok = await run_blocking(converge, inputs, ctx.check_mode)
        return await report_changes(ctx, changes, ok)
