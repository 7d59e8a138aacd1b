"""The ``shell`` plugin: run a script with ``/bin/sh -c`` (or another shell).

It also answers to SSM's ``aws:runShellScript`` (``runCommand`` lines, ``workingDirectory``,
``timeoutSeconds``), converted to the same inputs.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from plugins.sdk import (
    API_VERSION,
    MAX_TIMEOUT_SECONDS,
    Alias,
    Platform,
    PluginSpec,
    RunContext,
    StepOutcome,
    param,
    run_process,
)

# SSM's documented ceiling for aws:runShellScript's timeoutSeconds (48 hours).
SSM_MAX_TIMEOUT_SECONDS = 172800


@dataclass(frozen=True)
class ShellInputs:
    cmd: str = param("The script to run, passed to the shell with -c. A bare string fills it: "
                     "`shell: echo hi`.", free_form=True)
    chdir: str | None = param("Directory to run in; defaults to the step's working directory.",
                              default=None)
    env: Mapping[str, str] = param("Environment variables set for the script, over the agent's "
                                   "base environment.", default={})
    executable: str = param("The shell that runs the script (called as `<executable> -c <cmd>`).",
                            default="/bin/sh")
    timeout_seconds: int | None = param("Execution timeout of the step, in seconds, when the task "
                                        "sets none.", default=None, minimum=1, maximum=MAX_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class RunShellScriptInputs:
    """SSM's aws:runShellScript parameters."""
    runCommand: tuple[str, ...] = param("The script's lines (a single string is one line).")
    workingDirectory: str | None = param("Directory to run in; defaults to the step's working "
                                         "directory.", default=None)
    timeoutSeconds: int | None = param("Execution timeout of the step, in seconds.", default=None,
                                       minimum=1, maximum=SSM_MAX_TIMEOUT_SECONDS)


def convert_run_shell_script(inputs: RunShellScriptInputs) -> ShellInputs:
    """aws:runShellScript's inputs as the shell plugin's: the lines joined into one script."""
    return ShellInputs(cmd="\n".join(inputs.runCommand), chdir=inputs.workingDirectory or None,
                       timeout_seconds=inputs.timeoutSeconds)


def build_argv(inputs: ShellInputs) -> tuple[str, ...]:
    return (inputs.executable, "-c", inputs.cmd)


class ShellPlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="shell",
        version="1.0.0",
        api=API_VERSION,
        summary="Run a shell script (also aws:runShellScript).",
        inputs=ShellInputs,
        platforms=frozenset({Platform.LINUX, Platform.MACOS}),
        aliases=(Alias("aws:runShellScript", RunShellScriptInputs, convert_run_shell_script),),
        cancel_grace_seconds=1.5,
    )

    async def run(self, ctx: RunContext, inputs: ShellInputs) -> StepOutcome:
        exit_code = await run_process(ctx, build_argv(inputs), cwd=inputs.chdir or ctx.workdir,
                                      env=ctx.process_environment(inputs.env))
        return StepOutcome.from_exit_code(exit_code)
