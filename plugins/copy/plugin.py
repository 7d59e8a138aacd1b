"""The ``copy`` plugin: a file with the given content (Ansible's ``copy`` with ``content``).

Whether the file must change is decided by size, then by sha256 (the file read in chunks). It is
written atomically: a reader sees the old file or the whole new one. A symlink at ``dest`` is
followed: the file it points to is replaced, the link stays.

The content comes inline (``content``, bounded by the document's 64 KB) or from the controller's
content store (``src``: a file stored with ``outpost content put``). For ``src`` the controller puts
the file's sha256 into the signed document when the command is sent (``src_sha256``); the agent
compares the file at ``dest`` with that sha256 and fetches the bytes over its own stream, by that
sha256, only when they must be written (never in check mode), checking them against it.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
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
                                "final newline yourself). Give this or `src`.", default=None)
    src: str | None = param("A file of the controller's content store (`outpost content put NAME --file F`), by "
                            "its name: its bytes, as stored, are the file's content. Give this or `content`.",
                            default=None)
    src_sha256: str | None = param("The sha256 of `src`'s content: filled in by the controller when the command "
                                   "is sent (a playbook or document leaves it out).", default=None)
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


MAX_SRC_BYTES = 64 * 1024 * 1024  # the content store's bound


def _source(inputs: CopyInputs) -> None:
    if (inputs.content is None) == (inputs.src is None):
        raise PluginError("copy: give content or src (one of them)")
    if inputs.src is not None and not inputs.src_sha256:
        raise PluginError("copy: src has no sha256: send the command through the controller, which fills it in")


def converge(inputs: CopyInputs, check_mode: bool, fetched: bytes | None = None) -> tuple[list[Change], str]:
    """Find what must change and, unless in check mode, change it (in a worker thread). ``fetched``:
    ``src``'s bytes, when they were fetched (they are only when the file must be written)."""
    _source(inputs)
    wanted = Attributes.from_inputs("copy", inputs.mode, inputs.owner, inputs.group)
    target = follow_link(inputs.dest, "copy: dest")
    name = shown_path(inputs.dest, target)
    st = stat_or_none(target, "copy: cannot read dest")
    missing_dir = ""
    if st is None:
        if check_mode and not os.path.isdir(os.path.dirname(target)):  # an earlier task may make it
            missing_dir = f" (its directory {os.path.dirname(target)} does not exist yet: a task before must make it)"
        else:
            parent_must_exist(target, "copy: dest")
    elif stat.S_ISDIR(st.st_mode):
        raise PluginError(f"copy: dest {name} is a directory")
    elif not stat.S_ISREG(st.st_mode):
        raise PluginError(f"copy: dest {name} is not a regular file")
    data = inputs.content.encode("utf-8") if inputs.content is not None else fetched
    checksum = hashlib.sha256(data).hexdigest() if inputs.content is not None else str(inputs.src_sha256).lower()
    try:
        if data is not None:
            same = st is not None and _same_content(target, st, data, checksum)
        else:  # src not fetched: told by its signed sha256
            same = st is not None and sha256_file(target) == checksum
    except OSError as exc:
        raise PluginError(f"copy: cannot read dest {name}: {os_problem(exc)}") from None
    write = st is None or (not same and inputs.force)
    changes = []
    if write:
        what = (f"{len(data)} bytes to {name} (sha256 {checksum})" if data is not None
                else f"{inputs.src} to {name} (sha256 {checksum})")
        changes.append(Change(f"write {what}{missing_dir}", f"wrote {what}"))
    if attrs := wanted.change(st, name):
        changes.append(attrs)
    if changes and not check_mode:
        if write and data is None:
            raise NeedsFetch
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
        try:
            changes, ok = await run_blocking(converge, inputs, ctx.check_mode)
        except NeedsFetch:
            fetched = await _fetch(ctx, inputs)
            changes, ok = await run_blocking(converge, inputs, ctx.check_mode, fetched)
        return await report_changes(ctx, changes, ok)


class NeedsFetch(Exception):  # noqa: N818 - not an error: src's bytes must be fetched before writing
    """converge found that ``src`` must be written: its bytes are fetched, then it runs again."""


async def _fetch(ctx: RunContext, inputs: CopyInputs) -> bytes:
    """``src``'s bytes from the controller, over the agent's stream, checked against their sha256."""
    if ctx.content is None:
        raise PluginError("copy: src needs an agent connected to its controller")
    fd, tmp = tempfile.mkstemp(prefix=".outpost-copy-", dir=os.path.dirname(follow_link(inputs.dest, "copy: dest")))
    os.close(fd)
    try:
        await ctx.content.fetch("file", str(inputs.src_sha256), str(inputs.src_sha256), tmp, MAX_SRC_BYTES)
        return await run_blocking(Path(tmp).read_bytes)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
