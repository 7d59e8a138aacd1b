"""The powershell plugin: inputs in, argv and events out. PowerShell cannot run on this machine,
so the run test uses a stand-in `pwsh` script, and says so in its name."""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from plugins.powershell.plugin import SCRIPT_NAME, PowerShellPlugin, build_argv
from plugins.sdk.contract import OutputStreamKind, RunContext
from plugins.sdk.errors import InputError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail

REGISTRY = PluginRegistry([PowerShellPlugin()])


class Sink:
    def __init__(self) -> None:
        self.data: dict[OutputStreamKind, bytes] = {OutputStreamKind.STDOUT: b"", OutputStreamKind.STDERR: b""}

    async def write(self, stream: OutputStreamKind, data: bytes) -> None:
        self.data[stream] += data


@pytest.mark.parametrize(("action", "raw", "script", "chdir", "timeout"), [
    ("powershell", "Get-Date", "Get-Date", None, None),
    ("powershell", {"script": "exit 3", "chdir": "C:\\\\temp", "timeout_seconds": 9}, "exit 3", "C:\\\\temp", 9),
    ("aws:runPowerShellScript", {"runCommand": ["Get-Service", "exit 0"]}, "Get-Service\nexit 0", None, None),
    ("aws:runPowerShellScript", {"runCommand": "Get-Date", "workingDirectory": "", "timeoutSeconds": "60"},
     "Get-Date", None, 60),
])
def test_inputs_and_argv(action: str, raw: object, script: str, chdir: str | None, timeout: int | None) -> None:
    bound = REGISTRY.bind(action, raw, "case")
    assert (bound.inputs.script, bound.inputs.chdir, bound.inputs.timeout_seconds) == (script, chdir, timeout)
    assert build_argv(bound.inputs, "/w/_script.ps1") == (
        "pwsh", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", "/w/_script.ps1")


def test_windows_only_like_ssm() -> None:
    assert PowerShellPlugin.spec.platforms == frozenset({Platform.WINDOWS})


@pytest.mark.parametrize(("raw", "where"), [({"runCommand": {"a": 1}}, "case.runCommand"),
                                            ({"runCommand": ["x"], "bogus": 1}, "case.bogus")])
def test_bad_inputs(raw: object, where: str) -> None:
    with pytest.raises(InputError) as exc:
        REGISTRY.bind("aws:runPowerShellScript", raw, "case")
    assert exc.value.where == where


def test_runs_the_script_file_with_a_pwsh_stand_in(tmp_path: Path) -> None:
    stand_in = tmp_path / "pwsh"
    stand_in.write_text('#!/bin/sh\n# a stand-in for PowerShell: prints its argv and the script, exits 4\n'
                        'echo "$@"; cat "$6"; echo err >&2; exit 4\n')
    stand_in.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    sink = Sink()
    ctx = RunContext(command_id="c", node_id="mi-0", step_name="s", step_index=0, check_mode=False,
                     workdir=str(work), output=sink, logger=logging.LoggerAdapter(logging.getLogger("t"), {}),
                     cancel_grace_seconds=1.0, environment=dict(os.environ))
    bound = REGISTRY.bind("aws:runPowerShellScript", {"runCommand": ["Write-Output hi", "exit 4"]}, "case")
    inputs = bound.inputs.__class__(**{**bound.inputs.__dict__, "executable": str(stand_in)})
    outcome = asyncio.run(PowerShellPlugin().run(ctx, inputs))
    assert (outcome.detail, outcome.exit_code) == (Detail.FAILED, 4)
    script = work / SCRIPT_NAME
    out = sink.data[OutputStreamKind.STDOUT].decode()
    assert out.startswith(f"-NoProfile -NonInteractive -ExecutionPolicy Bypass -File {script}\n")
    assert "Write-Output hi\nexit 4" in out
    assert sink.data[OutputStreamKind.STDERR] == b"err\n"
    assert script.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, as Windows PowerShell wants
