"""The ``powershell`` plugin: run a PowerShell script (also SSM's ``aws:runPowerShellScript``), on
Linux, macOS and Windows nodes, wherever a PowerShell is installed (amazon-ssm-agent runs this
action on all three too).

**Which PowerShell.** The ``executable`` input when it is set (a path, or a name the step's PATH
resolves); otherwise ``powershell.exe`` (Windows PowerShell 5.1) on Windows and ``pwsh``
(PowerShell 7) on Linux and macOS, looked up on the PATH of the step's environment (the agent's,
with the task's ``env`` over it), never on the PATH of whatever process imports this module. None
found: the step fails with one line saying so. An agent started by launchd (macOS) or systemd has a
short PATH: put PowerShell's directory on the agent's PATH, or set ``executable``.

**How it runs.** The script is written to a fresh ``_script-*.ps1`` in the step's working
directory (0600, UTF-8 with a byte order mark: Windows PowerShell 5.1 reads a file without one in
the system's ANSI code page), and run as ``<powershell> -NoProfile -NonInteractive
-ExecutionPolicy Bypass -File <script>`` in ``chdir`` (default: the working directory), with the
step's environment (so an ENV_VAR document parameter is ``$env:OUTPOST_<NAME>``). The file is
removed when the step ends, however it ends.

**The exit code.** A step's exit code is the PowerShell process's, and is read as the rule:

1. ``exit N`` ends the script with N (on Linux and macOS the system keeps 8 bits: ``exit 3010``
   arrives as 194, ``exit -1`` as 255).
2. A terminating error that nothing catches (``throw``, an error under
   ``$ErrorActionPreference = 'Stop'``, a parse error) ends it with 1.
3. A script that runs to its end ends with the exit code of the last native program it ran
   (``$LASTEXITCODE``) when that is not 0; else 0. Non-terminating errors (``Write-Error``, a
   failed cmdlet without ``Stop``) do not count, as in SSM. ``$LASTEXITCODE = 0`` (or ``exit 0``)
   after a native failure the script means to ignore makes it succeed.

1 and 2 are what PowerShell's ``-File`` does by itself (about_Pwsh / about_PowerShell_exe: "When
the script file terminates with an exit command, the process exit code is set to the numeric
argument used with the exit command. With normal termination, the exit code is always 0 ...
when a script-terminating error occurs, the exit code is set to 1"), and all that amazon-ssm-agent
gives: it writes the ``runCommand`` lines (joined with newlines, with a BOM) to ``_script.ps1``
and reports the process's exit code as it is (agent/plugins/runscript/runscript.go,
agent/appconfig/constants_{windows,unix}.go at aws/amazon-ssm-agent@1c217c8). SSM's own guide
therefore says "PowerShell requires that you call exit explicitly in your scripts for Run Command
to successfully capture the exit code" (run-command-handle-exit-status).

3 is Outpost's, on purpose: with ``-File`` alone, a script whose last line is a failing native
program (``robocopy``, ``msiexec``, ``git``...) would report Success, unlike the same script under
the shell plugin and unlike SSM's general rule that "the exit code of the last command run in a
script is reported as the exit code for the entire script". The agent itself once meant to
(``ExitCodeTrap = " ; exit $LASTEXITCODE"`` on Windows, removed in 2019 by df7f882b), but passed it
after the script's path, where ``-File`` makes it an argument of the script, not code. Here it is a
trailer appended to the script file, after a blank line (which ends a last line continued with a
backtick)::

    if ((Test-Path variable:\\LASTEXITCODE) -and ($LASTEXITCODE -ne 0)) { exit $LASTEXITCODE }

``Test-Path`` first, so that ``Set-StrictMode`` does not make reading an unset ``$LASTEXITCODE``
an error. A script that ends with ``exit`` or a terminating error never reaches it, so rules 1
and 2 are unchanged, and a script written for SSM (ending with an explicit ``exit``) behaves the
same. A top-level ``return`` ends the script before the trailer (then the exit code is 0).

The runner, not this plugin, reads 3010 (Windows) and 194 as "reboot requested", 168 and 169 as
"stop here".
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from plugins.sdk import (
    API_VERSION,
    MAX_TIMEOUT_SECONDS,
    Alias,
    Platform,
    PluginError,
    PluginSpec,
    RunContext,
    StepOutcome,
    param,
    run_process,
)

# SSM's documented ceiling for aws:runPowerShellScript's timeoutSeconds (48 hours).
SSM_MAX_TIMEOUT_SECONDS = 172800
# The PowerShell looked for on the step's PATH when the task names none.
EXECUTABLE_NAME = "powershell.exe" if os.name == "nt" else "pwsh"
POWERSHELL_ARGS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File")
SCRIPT_PREFIX, SCRIPT_SUFFIX = "_script-", ".ps1"
BOM = b"\xef\xbb\xbf"
# Appended to every script (see the module's docstring): a script that runs to its end without
# `exit` ends with its last native program's non-zero exit code.
TRAILER = "\nif ((Test-Path variable:\\LASTEXITCODE) -and ($LASTEXITCODE -ne 0)) { exit $LASTEXITCODE }\n"


@dataclass(frozen=True)
class PowerShellInputs:
    script: str = param("The PowerShell script to run. A bare string fills it: `powershell: Get-Date`.",
                        free_form=True)
    chdir: str | None = param("Directory to run in; defaults to the step's working directory.", default=None)
    env: Mapping[str, str] = param("Environment variables set for the script, over the agent's base "
                                   "environment.", default={})
    executable: str | None = param("The PowerShell that runs the script: a path, or a name looked up on the "
                                   "step's PATH. Default: `pwsh` (Linux, macOS) or `powershell.exe` (Windows), "
                                   "from the step's PATH.", default=None)
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
    """aws:runPowerShellScript's inputs as the powershell plugin's: the lines joined into one script."""
    return PowerShellInputs(script="\n".join(inputs.runCommand), chdir=inputs.workingDirectory or None,
                            timeout_seconds=inputs.timeoutSeconds)


def build_argv(executable: str, script_path: str) -> tuple[str, ...]:
    return (executable, *POWERSHELL_ARGS, script_path)


def script_bytes(script: str) -> bytes:
    """What the script file holds: a BOM, the script, a newline, the trailer."""
    try:
        return BOM + (script + "\n" + TRAILER).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PluginError(f"powershell: the script is not valid Unicode text ({exc.reason} at character "
                          f"{exc.start})") from None


def find_executable(inputs: PowerShellInputs, env: Mapping[str, str]) -> str:
    """The PowerShell to run: ``executable`` when set, else the default's path on ``env``'s PATH
    (``os.defpath`` when it has none, as exec would use; an empty PATH finds nothing)."""
    if inputs.executable:
        return inputs.executable
    found = shutil.which(EXECUTABLE_NAME, path=env.get("PATH", os.defpath))
    if found is None:
        raise PluginError(f"powershell: no PowerShell found (looked for {EXECUTABLE_NAME} on PATH); "
                          "install PowerShell 7 or set executable")
    return found


class PowerShellPlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="powershell",
        version="1.1.0",
        api=API_VERSION,
        summary="Run a PowerShell script (also aws:runPowerShellScript): pwsh on Linux and macOS, "
                "powershell.exe on Windows.",
        inputs=PowerShellInputs,
        platforms=frozenset({Platform.LINUX, Platform.MACOS, Platform.WINDOWS}),
        aliases=(Alias("aws:runPowerShellScript", RunPowerShellScriptInputs, convert_run_powershell_script),),
        cancel_grace_seconds=1.5,
    )

    async def run(self, ctx: RunContext, inputs: PowerShellInputs) -> StepOutcome:
        env = ctx.process_environment(inputs.env)
        executable = find_executable(inputs, env)
        content = script_bytes(inputs.script)
        fd, path = tempfile.mkstemp(prefix=SCRIPT_PREFIX, suffix=SCRIPT_SUFFIX, dir=ctx.workdir)  # 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            exit_code = await run_process(ctx, build_argv(executable, path), cwd=inputs.chdir or ctx.workdir,
                                          env=env)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return StepOutcome.from_exit_code(exit_code)
