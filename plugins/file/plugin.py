"""The ``file`` plugin: a file's or directory's presence, permission bits and ownership (Ansible's
``file``, without recursion, links or symbolic modes).

A symlink at ``path`` is followed: its target's mode and ownership are read and set (as ``chmod``
and ``chown`` do), except with ``state: absent``, which removes the link itself, never its target.
"""
from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

from plugins.sdk import (
    API_VERSION,
    NEW_DIR_MODE,
    NEW_FILE_MODE,
    Attributes,
    Change,
    Platform,
    PluginError,
    PluginSpec,
    RunContext,
    StepOutcome,
    absolute_path,
    follow_link,
    os_problem,
    param,
    parent_must_exist,
    report_changes,
    run_blocking,
    shown_path,
    stat_or_none,
)


@dataclass(frozen=True)
class FileInputs:
    path: str = param("The absolute path to manage. A symlink is followed (its target is managed), except by "
                      "`state: absent`, which removes the link itself.")
    state: str = param("`file`: it must exist already (nothing is made), its mode and ownership are set; "
                       "`directory`: made when missing, parents too; `absent`: removed, a directory with all it "
                       "holds; `touch`: made empty when missing, its times set to now when not (always a change).",
                       default="file", choices=("file", "directory", "absent", "touch"))
    mode: str | None = param("Permission bits as an octal string, quoted in YAML: `\"0644\"`. Symbolic modes "
                             "(`u=rw`) are refused. New files are 0644 and new directories 0755 without it.",
                             default=None)
    owner: str | None = param("The user that must own it: a name, or a numeric uid.", default=None)
    group: str | None = param("The group that must own it: a name, or a numeric gid.", default=None)


@dataclass
class Plan:
    """What a step must do, found without changing anything: what to say, and what to run."""
    ok: str
    changes: list[Change] = field(default_factory=list)
    actions: list[Callable[[], object]] = field(default_factory=list)

    def add(self, change: Change, action: Callable[[], object]) -> None:
        self.changes.append(change)
        self.actions.append(action)


def plan(inputs: FileInputs) -> Plan:
    """Read the filesystem and find what the step must do."""
    if inputs.state == "absent":
        if (inputs.mode, inputs.owner, inputs.group) != (None, None, None):
            raise PluginError("file: mode, owner and group mean nothing with state absent; leave them out")
        return _plan_absent(absolute_path(inputs.path, "file: path"))
    wanted = Attributes.from_inputs("file", inputs.mode, inputs.owner, inputs.group)
    target = follow_link(inputs.path, "file: path")
    name = shown_path(inputs.path, target)
    st = stat_or_none(target, "file: cannot read path")
    is_dir = st is not None and stat.S_ISDIR(st.st_mode)
    kind = "a directory" if inputs.state == "directory" or is_dir else "a file"
    found = Plan(f"{name} is {kind}" + (f" with {wanted}" if wanted != Attributes() else ""))
    if inputs.state == "file":
        if st is None:
            raise PluginError(f"file: path {name} does not exist (state file makes nothing: use state touch, "
                              "or copy)")
        if is_dir:
            raise PluginError(f"file: path {name} is a directory, not a file (state file)")
    elif inputs.state == "directory":
        if st is not None and not is_dir:
            raise PluginError(f"file: path {name} exists and is not a directory (state directory)")
        if st is None:
            mode = NEW_DIR_MODE if wanted.mode is None else wanted.mode
            parents = "" if os.path.isdir(os.path.dirname(target)) else " and its parents"
            found.add(Change(f"create directory {name}{parents} (mode {mode:04o})",
                             f"created directory {name}{parents} (mode {mode:04o})"), partial(_mkdir, target, mode))
    elif st is None:  # touch
        parent_must_exist(target, "file: path")
        mode = NEW_FILE_MODE if wanted.mode is None else wanted.mode
        found.add(Change(f"create empty file {name} (mode {mode:04o})", f"created empty file {name} (mode {mode:04o})"),
                  partial(_create, target, mode))
    else:
        found.add(Change(f"set the times of {name} to now", f"touched {name}"), partial(os.utime, target))
    if attrs := wanted.change(st, name):
        found.changes.append(attrs)
    if wanted != Attributes():  # also on what was just made: its owner and group
        found.actions.append(partial(wanted.apply, target))
    return found


def _plan_absent(path: str) -> Plan:
    found = Plan(f"{path} is absent")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return found
    except OSError as exc:
        raise PluginError(f"file: cannot read path {path}: {os_problem(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        found.add(Change(f"remove directory {path} and all it holds", f"removed directory {path} and all it held"),
                  partial(shutil.rmtree, path))
    else:
        what = "symlink" if stat.S_ISLNK(st.st_mode) else "file"
        found.add(Change(f"remove {what} {path}", f"removed {what} {path}"), partial(os.unlink, path))
    return found


def _mkdir(path: str, mode: int) -> None:
    os.makedirs(os.path.dirname(path), mode=NEW_DIR_MODE, exist_ok=True)
    os.mkdir(path, mode)
    os.chmod(path, mode)  # mkdir's mode was masked by the umask


def _create(path: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


def converge(inputs: FileInputs, check_mode: bool) -> Plan:
    """Plan and, unless in check mode, carry the plan out (in a worker thread)."""
    found = plan(inputs)
    if not check_mode:
        try:
            for action in found.actions:
                action()
        except OSError as exc:
            raise PluginError(f"file: cannot change path {inputs.path}: {os_problem(exc)}") from None
    return found


class FilePlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="file",
        version="1.0.0",
        api=API_VERSION,
        summary="A file's or directory's presence, mode and ownership (Ansible's file).",
        inputs=FileInputs,
        platforms=frozenset({Platform.LINUX, Platform.MACOS}),
        supports_check_mode=True,
        needs_workdir=False,
    )

    async def run(self, ctx: RunContext, inputs: FileInputs) -> StepOutcome:
        found = await run_blocking(converge, inputs, ctx.check_mode)
        return await report_changes(ctx, found.changes, found.ok)
