"""The powershell plugin: inputs in, argv, script file, environment and exit code out.

PowerShell is not installed where these tests usually run, so most of them put a stand-in ``pwsh``
(a small Python script, named ``stand_in`` in each test's name) first on the PATH of the step's
environment: it records its argv, its working directory, the script file's raw bytes and mode and
its environment, and exits with the code the test chose. One test runs real scripts with a real
``pwsh`` and is reported skipped, by name, where there is none."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from plugins.powershell import plugin as ps
from plugins.powershell.plugin import BOM, TRAILER, PowerShellInputs, PowerShellPlugin, build_argv
from plugins.sdk.contract import OutputStreamKind, RunContext, StepOutcome
from plugins.sdk.errors import InputError, PluginError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail

REGISTRY = PluginRegistry([PowerShellPlugin()])
ARGS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File")

# The stand-in: records what it was given into record.json beside it, prints a line, exits with
# the code in exit_code beside it (0 when there is none).
STAND_IN = """#!{python}
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
script = sys.argv[-1]
with open(script, "rb") as f:
    data = f.read()
record = {{"argv": sys.argv, "cwd": os.getcwd(), "script_hex": data.hex(),
          "script_mode": os.stat(script).st_mode & 0o777, "env": dict(os.environ)}}
with open(os.path.join(here, "record.json"), "w") as f:
    json.dump(record, f)
print("stand-in ran")
code = os.path.join(here, "exit_code")
sys.exit(int(open(code).read()) if os.path.exists(code) else 0)
"""


class Sink:
    def __init__(self) -> None:
        self.data: dict[OutputStreamKind, bytes] = {OutputStreamKind.STDOUT: b"", OutputStreamKind.STDERR: b""}

    async def write(self, stream: OutputStreamKind, data: bytes) -> None:
        self.data[stream] += data


def make_stand_in(directory: Path, name: str = "pwsh", exit_code: int | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(STAND_IN.format(python=sys.executable))
    path.chmod(0o755)
    if exit_code is not None:
        (directory / "exit_code").write_text(str(exit_code))
    return path


def recorded(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "record.json").read_text())


def make_ctx(tmp_path: Path, sink: Sink, environment: dict[str, str]) -> RunContext:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return RunContext(command_id="c", node_id="mi-0", step_name="s", step_index=0, check_mode=False,
                      workdir=str(work), output=sink, logger=logging.LoggerAdapter(logging.getLogger("t"), {}),
                      cancel_grace_seconds=1.0, environment=environment)


def run_step(ctx: RunContext, action: str, raw: object, **override: Any) -> StepOutcome:
    inputs = REGISTRY.bind(action, raw, "case").inputs
    return asyncio.run(PowerShellPlugin().run(ctx, replace(inputs, **override)))


# ---------------------------------------------------------------------------------------- the schema

@pytest.mark.parametrize(("action", "raw", "script", "chdir", "timeout"), [
    ("powershell", "Get-Date", "Get-Date", None, None),
    ("powershell", {"script": "exit 3", "chdir": "C:\\\\temp", "timeout_seconds": 9}, "exit 3", "C:\\\\temp", 9),
    ("aws:runPowerShellScript", {"runCommand": ["Get-Service", "exit 0"]}, "Get-Service\nexit 0", None, None),
    ("aws:runPowerShellScript", {"runCommand": "Get-Date", "workingDirectory": "", "timeoutSeconds": "60"},
     "Get-Date", None, 60),
    ("aws:runPowerShellScript", {"runCommand": [], "workingDirectory": "/srv"}, "", "/srv", None),
])
def test_inputs_and_alias_conversion(action: str, raw: object, script: str, chdir: str | None,
                                     timeout: int | None) -> None:
    bound = REGISTRY.bind(action, raw, "case")
    assert bound.inputs == PowerShellInputs(script=script, chdir=chdir, timeout_seconds=timeout)
    assert bound.inputs.executable is None  # looked up on the step's PATH when it runs


def test_argv() -> None:
    assert build_argv("/usr/bin/pwsh", "/w/_script-x.ps1") == ("/usr/bin/pwsh", *ARGS, "/w/_script-x.ps1")


def test_runs_on_linux_macos_and_windows_like_ssm() -> None:
    assert PowerShellPlugin.spec.platforms == frozenset({Platform.LINUX, Platform.MACOS, Platform.WINDOWS})


@pytest.mark.parametrize(("raw", "where"), [({"runCommand": {"a": 1}}, "case.runCommand"),
                                            ({"runCommand": ["x"], "bogus": 1}, "case.bogus"),
                                            ({"runCommand": ["x"], "executable": "pwsh"}, "case.executable")])
def test_bad_inputs(raw: object, where: str) -> None:
    with pytest.raises(InputError) as exc:
        REGISTRY.bind("aws:runPowerShellScript", raw, "case")
    assert exc.value.where == where


# ---------------------------------------------------------------------------------------- finding PowerShell

@pytest.mark.parametrize("path", ["", "/nonexistent-outpost-dir"])
def test_no_powershell_on_path_is_one_line_naming_what_was_looked_for(tmp_path: Path, path: str) -> None:
    ctx = make_ctx(tmp_path, Sink(), {"PATH": path})
    with pytest.raises(PluginError) as exc:
        run_step(ctx, "powershell", "Write-Output hi")
    assert str(exc.value) == ("powershell: no PowerShell found (looked for pwsh on PATH); "
                              "install PowerShell 7 or set executable")
    assert list((tmp_path / "work").iterdir()) == []  # no script file was written


def test_windows_looks_for_powershell_exe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ps, "EXECUTABLE_NAME", "powershell.exe")
    with pytest.raises(PluginError, match=r"^powershell: no PowerShell found \(looked for powershell.exe on PATH\)"):
        run_step(make_ctx(tmp_path, Sink(), {"PATH": ""}), "powershell", "Write-Output hi")


def test_stand_in_is_found_on_the_steps_path_not_the_processes(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    make_stand_in(bindir)
    monkeypatch.setenv("PATH", "")  # this process's PATH finds nothing
    outcome = run_step(make_ctx(tmp_path, Sink(), {"PATH": f"/nonexistent-outpost-dir{os.pathsep}{bindir}"}),
                       "powershell", "Write-Output hi")
    assert outcome.detail is Detail.SUCCESS
    assert recorded(bindir)["argv"][0] == str(bindir / "pwsh")


def test_stand_in_an_explicit_executable_wins_over_pwsh_on_path(tmp_path: Path) -> None:
    on_path, explicit = tmp_path / "on-path", tmp_path / "explicit"
    make_stand_in(on_path)
    chosen = make_stand_in(explicit, name="my-powershell", exit_code=5)
    ctx = make_ctx(tmp_path, Sink(), {"PATH": str(on_path)})
    outcome = run_step(ctx, "powershell", {"script": "Write-Output hi", "executable": str(chosen)})
    assert (outcome.detail, outcome.exit_code) == (Detail.FAILED, 5)
    assert recorded(explicit)["argv"][0] == str(chosen)
    assert not (on_path / "record.json").exists()


def test_an_explicit_executable_that_does_not_exist_fails_and_leaves_no_script(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, Sink(), {"PATH": ""})
    with pytest.raises(PluginError, match="not found"):
        run_step(ctx, "powershell", {"script": "Write-Output hi", "executable": str(tmp_path / "nope")})
    assert list((tmp_path / "work").iterdir()) == []


# ---------------------------------------------------------------------------------------- running it

def test_stand_in_argv_and_working_directory_are_exact(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    make_stand_in(bindir)
    sink = Sink()
    ctx = make_ctx(tmp_path, sink, {"PATH": str(bindir)})
    assert run_step(ctx, "aws:runPowerShellScript", {"runCommand": ["Get-Date"]}).detail is Detail.SUCCESS
    argv = recorded(bindir)["argv"]
    script = Path(argv[-1])
    assert argv == [str(bindir / "pwsh"), *ARGS, str(script)]
    assert script.parent == tmp_path / "work" and script.suffix == ".ps1" and script.name.startswith("_script-")
    assert recorded(bindir)["cwd"] == str(tmp_path / "work")
    assert sink.data[OutputStreamKind.STDOUT] == b"stand-in ran\n"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_step(ctx, "aws:runPowerShellScript", {"runCommand": ["Get-Date"], "workingDirectory": str(elsewhere)})
    assert recorded(bindir)["cwd"] == str(elsewhere)
    assert Path(recorded(bindir)["argv"][-1]).parent == tmp_path / "work"  # the script stays in the workdir


def test_stand_in_script_file_is_bom_script_trailer_and_private(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    make_stand_in(bindir)
    ctx = make_ctx(tmp_path, Sink(), {"PATH": str(bindir)})
    run_step(ctx, "aws:runPowerShellScript", {"runCommand": ["Write-Output 'héllo ✓'", "git status `"]})
    data = bytes.fromhex(recorded(bindir)["script_hex"])
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, as Windows PowerShell 5.1 needs
    assert data == BOM + "Write-Output 'héllo ✓'\ngit status `\n".encode() + TRAILER.encode()
    # a blank line, then the trailer: a last line continued with a backtick cannot swallow it
    assert data.endswith(b"`\n\nif ((Test-Path variable:\\LASTEXITCODE) -and ($LASTEXITCODE -ne 0)) "
                         b"{ exit $LASTEXITCODE }\n")
    assert recorded(bindir)["script_mode"] == 0o600


def test_stand_in_gets_the_steps_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENV_VAR document parameters arrive in ctx.environment (the runner puts them there); the task's
    `env` goes over it; this process's own environment is not the step's."""
    bindir = tmp_path / "bin"
    make_stand_in(bindir)
    monkeypatch.setenv("OUTPOST_ONLY_IN_THE_TEST_PROCESS", "leaked")
    ctx = make_ctx(tmp_path, Sink(), {"PATH": str(bindir), "OUTPOST_NAME": "a value; $(rm -rf /)",
                                      "OUTPOST_X": "from the document", "OUTPOST_KEEP": "kept"})
    run_step(ctx, "powershell", {"script": "Write-Output $env:OUTPOST_NAME", "env": {"OUTPOST_X": "from the task"}})
    env = recorded(bindir)["env"]
    assert (env["OUTPOST_NAME"], env["OUTPOST_X"], env["OUTPOST_KEEP"]) == (
        "a value; $(rm -rf /)", "from the task", "kept")
    assert "OUTPOST_ONLY_IN_THE_TEST_PROCESS" not in env


@pytest.mark.parametrize(("code", "detail", "error"), [
    (0, Detail.SUCCESS, ""),
    (4, Detail.FAILED, "exited with code 4"),
    (1, Detail.FAILED, "exited with code 1"),
    (194, Detail.FAILED, "exited with code 194"),  # a reboot request: the runner's to act on, not the plugin's
    (168, Detail.SUCCESS, ""),
])
def test_stand_in_exit_code_is_the_steps(tmp_path: Path, code: int, detail: Detail, error: str) -> None:
    bindir = tmp_path / "bin"
    make_stand_in(bindir, exit_code=code)
    outcome = run_step(make_ctx(tmp_path, Sink(), {"PATH": str(bindir)}), "powershell", f"exit {code}")
    assert outcome == StepOutcome(detail, code, error)


@pytest.mark.parametrize("code", [0, 3])
def test_stand_in_script_is_removed_after_the_run(tmp_path: Path, code: int) -> None:
    bindir = tmp_path / "bin"
    make_stand_in(bindir, exit_code=code)
    run_step(make_ctx(tmp_path, Sink(), {"PATH": str(bindir)}), "powershell", "Write-Output hi")
    assert Path(recorded(bindir)["argv"][-1]).name.endswith(".ps1")  # it existed while the stand-in ran
    assert list((tmp_path / "work").iterdir()) == []


def test_stand_in_script_is_removed_when_the_step_is_cancelled(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    started = tmp_path / "started"
    slow = bindir / "pwsh"
    slow.write_text(f'#!/bin/sh\n: > "{started}"\nexec {shutil.which("sleep")} 30\n')  # the step's PATH has no sleep
    slow.chmod(0o755)
    ctx = make_ctx(tmp_path, Sink(), {"PATH": str(bindir)})
    inputs = REGISTRY.bind("powershell", "Start-Sleep 30", "case").inputs

    async def main() -> None:
        task = asyncio.ensure_future(PowerShellPlugin().run(ctx, inputs))
        for _ in range(500):
            if started.exists():
                break
            await asyncio.sleep(0.01)
        assert [p.suffix for p in (tmp_path / "work").iterdir()] == [".ps1"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert list((tmp_path / "work").iterdir()) == []


# ---------------------------------------------------------------------------------------- real PowerShell

@pytest.mark.skipif(shutil.which("pwsh") is None,
                    reason="pwsh is not on PATH: the real-PowerShell test runs only where PowerShell is installed")
def test_real_pwsh_exit_codes_output_and_environment(tmp_path: Path) -> None:
    native_7 = f"& '{sys.executable}' -c 'import sys; sys.exit(7)'"
    cases = [
        ("exit 3", 3, ""),
        (f"{native_7}\nWrite-Output after", 7, "after\n"),  # the last native program's $LASTEXITCODE
        (f"{native_7}\n$LASTEXITCODE = 0", 0, ""),  # ... unless the script clears it
        ('throw "x"', 1, None),
        ("$ErrorActionPreference = 'Stop'\nGet-Item /nonexistent-outpost-path\nexit 0", 1, None),
        ("Write-Error nope\nWrite-Output still", 0, "still\n"),  # a non-terminating error does not fail it
        ("Set-StrictMode -Version Latest\nWrite-Output strict", 0, "strict\n"),  # the trailer reads no unset variable
        ("Write-Output hi", 0, "hi\n"),
        ("Write-Output $env:OUTPOST_X", 0, "from the step\n"),
        ("Write-Output 'continued' `", 0, "continued\n"),
    ]
    environment = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")}
    environment["OUTPOST_X"] = "from the step"
    for i, (script, code, stdout) in enumerate(cases):
        sink = Sink()
        case_dir = tmp_path / str(i)
        case_dir.mkdir()
        outcome = run_step(make_ctx(case_dir, sink, environment), "powershell", script)
        got = sink.data[OutputStreamKind.STDOUT].decode().replace("\r\n", "\n")
        assert outcome.exit_code == code, (script, outcome, got, sink.data[OutputStreamKind.STDERR])
        if stdout is not None:
            assert got == stdout, (script, got)
        assert list((case_dir / "work").iterdir()) == []
