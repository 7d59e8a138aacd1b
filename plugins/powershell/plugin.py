"""The ``powershell`` plugin: run a PowerShell script (also SSM's ``aws:runPowerShellScript``).

Like amazon-ssm-agent, the script is written to a ``.ps1`` file in the step's working directory
and run with ``-File``, so ``exit N`` sets the step's exit code. It declares Windows only, as SSM's
action does: on Linux and macOS nodes its steps are skipped (the invocation is InvalidPlatform
when nothing else applies).
"""
from __future__ import annotations

import os
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

# SSM's documented ceiling for aws:runPowerShellScript's timeoutSeconds (48 hours).
SSM_MAX_TIMEOUT_SECONDS = 172800
SCRIPT_NAME = "_script.ps1"
DEFAULT_EXECUTABLE = "powershell.exe" if os.name == "nt" else "pwsh"


@dataclass(frozen=True)
class PowerShellInputs:
    script: str = param("The PowerShell script to run. A bare string fills it: `powershell: Get-Date`.",
                        free_form=True)
    chdir: str | None = param("Directory to run in; defaults to the step's working directory.", default=None)
    env: Mapping[str, str] = param("Environment variables set for the script, over the agent's base "
                                   "environment.", default={})
    executable: str = param("The PowerShell that runs the script.", default=DEFAULT_EXECUTABLE)
    timeout_seconds: int | None = param("Execution timeout of the step, in seconds, when the task sets none.",
                                        default=None, minimum=1, maximum=MAX_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class RunPowerShellScriptInputs:
    """SSM's aws:runPowerShellScript parameters."""
    runCommand: tuple[str, ...] = param("The script's lines (a single string is one line).")
    workingDirectory: str | None = param("Directory to run in; defaults to the step's working directory.",
                                         default=None)
    timeoutSeconds: int | None = param("Execution timeout of the step, in seconds.", default=None, minimum=1,
                                       maximum=SSM_MAX_TIMEOUT_SECONDS)


def convert_run_powershell_script(inputs: RunPowerShellScriptInputs) -> PowerShellInputs:
    return PowerShellInputs(script="\n".join(inputs.runCommand), chdir=inputs.workingDirectory or None,
                            timeout_seconds=inputs.timeoutSeconds)


def build_argv(inputs: PowerShellInputs, script_path: str) -> tuple[str, ...]:
    return (inputs.executable, "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", script_path)


class PowerShellPlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="powershell",
        version="1.0.0",
        api=API_VERSION,
        summary="Run a PowerShell script (also aws:runPowerShellScript); Windows nodes.",
        inputs=PowerShellInputs,
        platforms=frozenset({Platform.WINDOWS}),
        aliases=(Alias("aws:runPowerShellScript", RunPowerShellScriptInputs, convert_run_powershell_script),),
        cancel_grace_seconds=1.5,
    )

    async def run(self, ctx: RunContext, inputs: PowerShellInputs) -> StepOutcome:
        path = os.path.join(ctx.workdir, SCRIPT_NAME)
        with open(path, "w", encoding="utf-8-sig") as fh:  # PowerShell 5 reads a BOM as UTF-8
            fh.write(inputs.script)
        exit_code = await run_process(ctx, build_argv(inputs, path), cwd=inputs.chdir or ctx.workdir,
                                      env=ctx.process_environment(inputs.env))
        return StepOutcome.from_exit_code(exit_code)
