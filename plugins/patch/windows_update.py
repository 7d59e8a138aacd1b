"""The Windows Update backend: PowerShell driving the Windows Update Agent's COM API
(``Microsoft.Update.Session``), which every Windows has; no PSWindowsUpdate module.

Each operation is a script written to the step's working directory and run with ``-File`` (as the
powershell plugin does). The script prints one JSON object a line: an update
(``{"kb", "title", "classification", "severity", "released", "revision", "installed"}``), then
``{"reboot_required": ...}`` (``Microsoft.Update.SystemInfo``'s RebootRequired). An update is named by
its KB id (its UpdateID when it has none); its "version" is its revision number. Classification is
the update's UpdateClassification category without spaces (``Security Updates`` is
``SecurityUpdates``, SSM's names); severity its MSRC severity (``Unspecified`` when it has none); its
release date its LastDeploymentChangeTime.

Install searches again, and downloads and installs the updates whose KB ids it is given, accepting
their EULAs. BLOCK needs nothing more: Windows updates do not pull others in as dependencies.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from plugins.patch.backend import Inventory, Package
from plugins.patch.capture import capture
from plugins.sdk import OsFamily, PluginError

if TYPE_CHECKING:
    from plugins.sdk import Baseline, RunContext

SCAN_SCRIPT = "_patch_scan.ps1"
INSTALL_SCRIPT = "_patch_install.ps1"
SEARCH = "(IsInstalled=0 and IsHidden=0 and Type='Software') or (IsInstalled=1 and Type='Software')"
MAX_LINE = 64 * 1024

_COMMON = r"""$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Get-Name($u) {
    $kb = @($u.KBArticleIDs) | Select-Object -First 1
    if ($kb) { "KB$kb" } else { $u.Identity.UpdateID }
}
function Out-Line($object) { $object | ConvertTo-Json -Compress -Depth 3 | Write-Output }
$session = New-Object -ComObject Microsoft.Update.Session
$session.ClientApplicationID = 'Outpost'
$found = $session.CreateUpdateSearcher().Search("__SEARCH__").Updates
"""

_SCAN = r"""foreach ($u in $found) {
    $classes = @($u.Categories | Where-Object { $_.Type -eq 'UpdateClassification' } | ForEach-Object { $_.Name })
    Out-Line @{ kb = (Get-Name $u); title = [string]$u.Title; revision = [int]$u.Identity.RevisionNumber;
                classification = [string]($classes | Select-Object -First 1); severity = [string]$u.MsrcSeverity;
                released = ([DateTimeOffset]$u.LastDeploymentChangeTime).ToUnixTimeSeconds();
                installed = [bool]$u.IsInstalled }
}
Out-Line @{ reboot_required = [bool](New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired }
"""

_INSTALL = r"""$wanted = ConvertFrom-Json '__WANTED__'
$todo = New-Object -ComObject Microsoft.Update.UpdateColl
foreach ($u in $found) {
    if (-not $u.IsInstalled -and $wanted -contains (Get-Name $u)) {
        if (-not $u.EulaAccepted) { $u.AcceptEula() }
        [void]$todo.Add($u)
    }
}
if ($todo.Count -gt 0) {
    $downloader = $session.CreateUpdateDownloader(); $downloader.Updates = $todo; [void]$downloader.Download()
    $installer = $session.CreateUpdateInstaller(); $installer.Updates = $todo
    $result = $installer.Install()
    for ($i = 0; $i -lt $todo.Count; $i++) {
        Out-Line @{ kb = (Get-Name $todo.Item($i)); result = [int]$result.GetUpdateResult($i).ResultCode }
    }
}
"""
SUCCEEDED = (2, 3)  # OperationResultCode: orcSucceeded, orcSucceededWithErrors


def build_script(wanted: tuple[str, ...] | None = None) -> str:
    """The scan script, or (``wanted``: KB ids) the install script."""
    body = _SCAN if wanted is None else _INSTALL.replace("__WANTED__", json.dumps(list(wanted)).replace("'", "''"))
    return _COMMON.replace("__SEARCH__", SEARCH) + body


def build_argv(executable: str, script_path: str) -> tuple[str, ...]:
    return (executable, "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", script_path)


def classification(category: str) -> str:
    return category.replace(" ", "")


def parse_scan(text: str) -> Inventory:
    packages: dict[str, Package] = {}
    reboot = False
    for line in text.splitlines():
        if not line.strip().startswith("{") or len(line) > MAX_LINE:
            continue
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if not isinstance(item, dict):
            continue
        if "reboot_required" in item:
            reboot = item["reboot_required"] is True
            continue
        name, revision = str(item.get("kb", "")), str(item.get("revision", ""))
        if not name:
            continue
        installed = item.get("installed") is True
        released = item.get("released")
        packages[name] = Package(
            name=name, installed_version=revision if installed else "", available_version="" if installed else revision,
            classification=classification(str(item.get("classification") or "")),
            severity=str(item.get("severity") or "Unspecified"),
            released_at=float(released) if isinstance(released, (int, float)) and not installed else None)
    return Inventory(tuple(packages[n] for n in sorted(packages)), reboot)


class WindowsUpdateBackend:
    name = "windows_update"
    os_family = OsFamily.WINDOWS

    def __init__(self, executable: str = "powershell.exe") -> None:
        self.executable = executable

    async def _script(self, ctx: RunContext, name: str, script: str, *, echo: bool) -> str:
        path = os.path.join(ctx.workdir, name)
        with open(path, "w", encoding="utf-8-sig") as fh:  # PowerShell 5 reads a BOM as UTF-8
            fh.write(script)
        done = await capture(ctx, build_argv(self.executable, path), env=ctx.process_environment({}), echo=echo)
        if done.exit_code != 0:
            raise PluginError(f"Windows Update ({name}) failed (exit {done.exit_code}): {done.tail()}")
        return done.stdout

    async def inventory(self, ctx: RunContext, baseline: Baseline, *, refresh: bool) -> Inventory:
        return parse_scan(await self._script(ctx, SCAN_SCRIPT, build_script(), echo=False))

    async def install(self, ctx: RunContext, baseline: Baseline, targets: tuple[Package, ...]) -> frozenset[str]:
        """The KB ids the installer says it installed (an update that waits for a reboot may not
        show as installed until then)."""
        out = await self._script(ctx, INSTALL_SCRIPT, build_script(tuple(p.name for p in targets)), echo=True)
        return parse_results(out)


def parse_results(text: str) -> frozenset[str]:
    done = set()
    for line in text.splitlines():
        try:
            item = json.loads(line) if line.strip().startswith("{") and len(line) <= MAX_LINE else None
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("result") in SUCCEEDED and isinstance(item.get("kb"), str):
            done.add(item["kb"])
    return frozenset(done)
