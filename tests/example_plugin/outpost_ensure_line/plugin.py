"""``ensure_line``: ensure a line is present in a text file, appending it when it is missing.

The example of docs/plugins.md: pure Python (no process), idempotent (``changed`` says whether the
file was written), and honest in check mode (it says what it would do and writes nothing).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from plugins.sdk import (
    API_VERSION,
    Detail,
    OutputStreamKind,
    Platform,
    PluginError,
    PluginSpec,
    RunContext,
    StepOutcome,
    param,
)


@dataclass(frozen=True)
class EnsureLineInputs:
    path: str = param("The file to edit; made (0644) when it does not exist and `create` is true.")
    line: str = param("The line that must be in the file (without its newline).")
    create: bool = param("Make the file when it does not exist.", default=True)
    mode: str = param("What to do: `present` appends the line when missing.", default="present",
                      choices=("present",))


class EnsureLinePlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="ensure_line",
        version="1.0.0",
        api=API_VERSION,
        summary="Ensure a line is present in a text file (appended when missing).",
        inputs=EnsureLineInputs,
        platforms=frozenset({Platform.LINUX, Platform.MACOS}),
        supports_check_mode=True,
        needs_workdir=False,
    )

    async def run(self, ctx: RunContext, inputs: EnsureLineInputs) -> StepOutcome:
        if "\n" in inputs.line:
            raise PluginError("line: must be one line (no newline)")
        try:
            with open(inputs.path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except FileNotFoundError:
            if not inputs.create:
                raise PluginError(f"path: {inputs.path} does not exist and create is false") from None
            lines = None
        except OSError as exc:
            raise PluginError(f"path: cannot read {inputs.path}: {exc.strerror}") from None
        if lines is not None and inputs.line in lines:
            await ctx.output.write(OutputStreamKind.STDOUT, f"ok: {inputs.path} has the line\n".encode())
            return StepOutcome(Detail.SUCCESS, changed=False)
        verb = "would append" if ctx.check_mode else "appended"
        if not ctx.check_mode:
            _append(inputs.path, inputs.line)
        await ctx.output.write(OutputStreamKind.STDOUT, f"changed: {verb} the line to {inputs.path}\n".encode())
        return StepOutcome(Detail.SUCCESS)


def _append(path: str, line: str) -> None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise PluginError(f"path: cannot open {path}: {exc.strerror}") from None
    with os.fdopen(fd, "a+b") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
        fh.write(line.encode() + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
