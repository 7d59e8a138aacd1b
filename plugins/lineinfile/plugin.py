"""The ``lineinfile`` plugin: make sure a line is in a text file, or is not (Ansible's
``lineinfile``, without backrefs, search_string or firstmatch).

The file is read whole (at most :data:`MAX_FILE_BYTES`) as UTF-8, bytes that are not UTF-8 kept as
they are, and written back atomically, its mode and ownership kept. A symlink at ``path`` is
followed: the file it points to is edited, the link stays.
"""
from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from typing import ClassVar

from plugins.sdk import (
    API_VERSION,
    NEW_FILE_MODE,
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

MAX_FILE_BYTES = 16 * 1024 * 1024  # a larger file is refused: it is read whole into memory
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class LineInFileInputs:
    path: str = param("The absolute path of the file to edit. A symlink is followed: the file it points to is "
                      "edited.")
    line: str | None = param("The line (without its newline) that must be in the file; required with "
                             "`state: present`. With `state: absent` and no `regexp`, the lines equal to it are "
                             "removed.", default=None)
    regexp: str | None = param("A Python regular expression, searched in each line. `present`: the last line it "
                               "matches is replaced by `line` (when none matches, `line` is added unless the file "
                               "has it already); `absent`: every line it matches is removed.", default=None)
    state: str = param("`present` or `absent`.", default="present", choices=("present", "absent"))
    insertafter: str | None = param("Where a missing `line` goes: `EOF` (the end, the default), `BOF` (the start), "
                                    "or a regular expression: after the last line it matches (the end when it "
                                    "matches none).", default=None)
    insertbefore: str | None = param("Where a missing `line` goes: `BOF` (the start), `EOF` (the end), or a "
                                     "regular expression: before the last line it matches (the end when it matches "
                                     "none). Not with `insertafter`.", default=None)
    create: bool = param("Make the file (mode 0644, or `mode`) when it does not exist and `state` is `present`; "
                         "its directory must exist. Without it a missing file fails the step.", default=False)
    backup: bool = param("Before changing the file's text, copy it to `<path>.<unix seconds>.bak` (mode, owner "
                         "and times kept).", default=False)
    mode: str | None = param("Permission bits the file must have, as an octal string quoted in YAML: `\"0644\"`. "
                             "Without it an existing file keeps its mode.", default=None)


def _compile(pattern: str, name: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise PluginError(f"lineinfile: {name} {pattern!r} is not a valid regular expression: {exc}") from None


@dataclass(frozen=True)
class Edit:
    """The inputs, checked, with their regular expressions compiled."""
    line: str | None
    regexp: re.Pattern[str] | None
    at_start: bool  # a missing line goes at the start
    anchor: re.Pattern[str] | None  # a missing line goes next to the last line this matches
    before: bool  # ...before it (insertbefore), not after it

    @classmethod
    def of(cls, inputs: LineInFileInputs) -> Edit:
        if inputs.line is not None and ("\n" in inputs.line or "\r" in inputs.line):
            raise PluginError("lineinfile: line must be one line (no line break)")
        if inputs.state == "present" and inputs.line is None:
            raise PluginError("lineinfile: line is required with state present")
        if inputs.state == "absent" and inputs.line is None and inputs.regexp is None:
            raise PluginError("lineinfile: give line or regexp with state absent")
        if inputs.insertafter is not None and inputs.insertbefore is not None:
            raise PluginError("lineinfile: give insertafter or insertbefore, not both")
        before = inputs.insertbefore is not None
        where = inputs.insertbefore if before else inputs.insertafter
        anchor = None
        if where not in (None, "BOF", "EOF"):
            anchor = _compile(where, "insertbefore" if before else "insertafter")
        regexp = None if inputs.regexp is None else _compile(inputs.regexp, "regexp")
        return cls(inputs.line, regexp, where == "BOF", anchor, before)


def split_lines(text: str) -> list[str]:
    """The lines of ``text``, each with its ``\\n`` (the last one may have none). Only ``\\n`` ends a
    line (``str.splitlines`` would split on form feeds and Unicode separators too)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _bare(line: str) -> str:
    return line.rstrip("\r\n")


def _insert(lines: list[str], at: int, line: str) -> None:
    if at == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.insert(at, line + "\n")


def edit_present(lines: list[str], edit: Edit) -> tuple[str, str] | None:
    """Edit ``lines`` in place so they hold the line; (doing, done) or None when they do already."""
    line = edit.line
    assert line is not None
    if edit.regexp is not None:
        matched = [i for i, cur in enumerate(lines) if edit.regexp.search(_bare(cur))]
        if matched:
            at = matched[-1]
            if _bare(lines[at]) == line:
                return None
            lines[at] = line + "\n"
            return f"replace line {at + 1}", f"replaced line {at + 1}"
    if line in (_bare(cur) for cur in lines):
        return None
    at = len(lines)
    if edit.at_start:
        at = 0
    elif edit.anchor is not None:
        hits = [i for i, cur in enumerate(lines) if edit.anchor.search(_bare(cur))]
        if hits:
            at = hits[-1] if edit.before else hits[-1] + 1
    _insert(lines, at, line)
    return f"add the line at line {at + 1}", f"added the line at line {at + 1}"


def edit_absent(lines: list[str], edit: Edit) -> tuple[str, str] | None:
    """Remove the lines that match; (doing, done) or None when none does."""
    regexp = edit.regexp
    keep = [cur for cur in lines if not (regexp.search(_bare(cur)) if regexp is not None else _bare(cur) == edit.line)]
    removed = len(lines) - len(keep)
    if not removed:
        return None
    lines[:] = keep
    plural = "s" if removed > 1 else ""
    return f"remove {removed} line{plural}", f"removed {removed} line{plural}"


def _read(path: str, name: str) -> bytes:
    chunks, size = [], 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise PluginError(f"lineinfile: path {name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, "
                                  "more than lineinfile edits")
            chunks.append(chunk)
    return b"".join(chunks)


def converge(inputs: LineInFileInputs, check_mode: bool) -> tuple[list[Change], str]:
    """Find what must change and, unless in check mode, change it (in a worker thread)."""
    wanted_edit = Edit.of(inputs)
    wanted = Attributes.from_inputs("lineinfile", inputs.mode)
    target = follow_link(inputs.path, "lineinfile: path")
    name = shown_path(inputs.path, target)
    st = stat_or_none(target, "lineinfile: cannot read path")
    if st is None:
        if inputs.state == "absent":
            return [], f"{name} does not exist"
        if not inputs.create:
            raise PluginError(f"lineinfile: path {name} does not exist and create is false")
        parent_must_exist(target, "lineinfile: path")
    elif not stat.S_ISREG(st.st_mode):
        raise PluginError(f"lineinfile: path {name} is not a regular file")
    try:
        data = _read(target, name) if st is not None else b""
    except OSError as exc:
        raise PluginError(f"lineinfile: cannot read path {name}: {os_problem(exc)}") from None
    lines = split_lines(data.decode("utf-8", "surrogateescape"))
    edit = (edit_present if inputs.state == "present" else edit_absent)(lines, wanted_edit)
    changes = []
    if st is None:
        mode = NEW_FILE_MODE if wanted.mode is None else wanted.mode
        changes.append(Change(f"create {name} (mode {mode:04o}) with the line", f"created {name} (mode {mode:04o}) "
                              "with the line"))
    elif edit is not None:
        changes.append(Change(f"{edit[0]} of {name}", f"{edit[1]} of {name}"))
    if attrs := wanted.change(st, name):
        changes.append(attrs)
    rewrite = edit is not None or st is None
    if changes and not check_mode:
        try:
            if rewrite:
                data = "".join(lines).encode("utf-8", "surrogateescape")
                if copy := write_file(target, data, existing=st, wanted=wanted, backup=inputs.backup):
                    changes.append(Change("", f"backup {copy}"))
            else:  # only the mode differs
                wanted.apply(target)
        except OSError as exc:
            raise PluginError(f"lineinfile: cannot write path {name}: {os_problem(exc)}") from None
    has = "has the line" if inputs.state == "present" else "has no such line"
    return changes, f"{name} {has}" + (f" and {wanted}" if wanted != Attributes() else "")


class LineInFilePlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="lineinfile",
        version="1.0.0",
        api=API_VERSION,
        summary="Make sure a line is in a text file, or is not (Ansible's lineinfile).",
        inputs=LineInFileInputs,
        platforms=frozenset({Platform.LINUX, Platform.MACOS}),
        supports_check_mode=True,
        needs_workdir=False,
    )

    async def run(self, ctx: RunContext, inputs: LineInFileInputs) -> StepOutcome:
        changes, ok = await run_blocking(converge, inputs, ctx.check_mode)
        return await report_changes(ctx, changes, ok)
