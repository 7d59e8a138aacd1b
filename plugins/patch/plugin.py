"""The ``patch`` plugin: scan a node against a patch baseline, or install the updates it approves
(what SSM's AWS-RunPatchBaseline does through Patch Manager). docs/patching.md.

The step reports its finding as a :class:`PatchCompliance` on its outcome. A Scan, and an Install
that installed what it had to, is Success, compliant or not (as SSM); an Install of which an update
failed is Failed. An Install after which the node waits for a reboot asks the agent to reboot and
run the step again (exit 194, 3010 on Windows) when ``reboot_option`` is RebootIfNeeded.
"""
from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from plugins.patch.apt import AptBackend
from plugins.patch.backend import Backend
from plugins.patch.dnf import DnfBackend
from plugins.patch.evaluate import after_install, evaluate
from plugins.patch.windows_update import WindowsUpdateBackend
from plugins.sdk import (
    API_VERSION,
    Detail,
    InputError,
    OutputStreamKind,
    PatchCompliance,
    PatchOperation,
    PatchState,
    Platform,
    PluginError,
    PluginSpec,
    RebootOption,
    RunContext,
    StepOutcome,
    is_baseline_name,
    param,
    parse_baseline,
    reboot_exit_code,
)

MAX_ROWS = 500  # packages listed in the step's output; the compliance counts them all
_SNAPSHOT = re.compile(r"[A-Za-z0-9-]{1,64}")


@dataclass(frozen=True)
class PatchInputs:
    operation: str = param("`Scan` reports the node's compliance with the baseline; `Install` also installs the "
                           "updates it approves.", choices=("Scan", "Install"))
    baseline: str = param("The patch baseline: the name of one stored on the controller (`outpost baseline "
                          "list`), which the controller replaces with its canonical text when it sends the "
                          "document; or a baseline's text itself (docs/patching.md).")
    reboot_option: str = param("`RebootIfNeeded`: when the node needs a reboot after an Install, the step asks "
                               "the agent to reboot it and run the step again. `NoReboot`: never; the updates "
                               "that wait for it are InstalledPendingReboot.", default="RebootIfNeeded",
                               choices=("RebootIfNeeded", "NoReboot"))
    snapshot_id: str | None = param("An id (letters, digits, '-') recorded with the compliance, as SSM's "
                                    "SnapshotId: the same one for every node of a rollout. Empty: none.",
                                    default=None)


def choose_backend(env: Mapping[str, str], platform: str = sys.platform) -> Backend:
    """The node's package manager: Windows Update on Windows, else apt when ``apt-get`` is on PATH,
    else dnf, else yum."""
    path = env.get("PATH", "")
    if platform == "win32":
        return WindowsUpdateBackend(shutil.which("powershell.exe", path=path) or "powershell.exe")
    if shutil.which("apt-get", path=path):
        return AptBackend()
    for tool in ("dnf", "yum"):
        if shutil.which(tool, path=path):
            return DnfBackend(tool)
    raise PluginError("no supported package manager on this node: looked for apt-get, dnf and yum on PATH")


def _now_ms() -> int:
    return int(time.time() * 1000)


def render(backend: Backend, compliance: PatchCompliance) -> str:
    """The step's table: every package but the InstalledOther ones (counted), worst first."""
    shown = [r for r in compliance.records if r.state is not PatchState.INSTALLED_OTHER]
    rows = [("PACKAGE", "INSTALLED", "AVAILABLE", "STATE")] + [
        (r.name, r.installed_version or "-", r.available_version or "-", r.state.value) for r in shown[:MAX_ROWS]]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
             for row in rows]
    if len(shown) > MAX_ROWS:
        lines.append(f"... and {len(shown) - MAX_ROWS} more")
    counts = compliance.counts
    lines.append(f"{counts.installed_other} other installed package(s) not approved by the baseline (InstalledOther)")
    summary = ", ".join(f"{s.value} {counts.of(s)}" for s in PatchState)
    lines.append(f"summary ({backend.name}, baseline {compliance.baseline_id}, {compliance.operation.value}): "
                 f"{summary}: {'compliant' if compliance.compliant else 'NON-COMPLIANT'}")
    return "\n".join(lines) + "\n"


class PatchPlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="patch",
        version="1.0.0",
        api=API_VERSION,
        summary="Scan or patch a node against a patch baseline (apt, dnf/yum, Windows Update): SSM Patch Manager.",
        inputs=PatchInputs,
        platforms=frozenset({Platform.LINUX, Platform.WINDOWS}),
        supports_check_mode=True,
        cancel_grace_seconds=30.0,  # dpkg and rpm should finish what they have started
    )

    def __init__(self, backend: Backend | None = None) -> None:
        self._backend = backend  # a fixed backend instead of the node's own package manager

    async def run(self, ctx: RunContext, inputs: PatchInputs) -> StepOutcome:
        started = _now_ms()
        if is_baseline_name(inputs.baseline):
            raise PluginError(f"baseline: {inputs.baseline!r} names a baseline stored on the controller, which "
                              "puts its text here when it sends the document; this step came without it")
        try:
            baseline = parse_baseline(inputs.baseline, "baseline")
        except InputError as exc:
            raise PluginError(str(exc)) from None
        if inputs.snapshot_id and not _SNAPSHOT.fullmatch(inputs.snapshot_id):
            raise PluginError(f"snapshot_id: expected 1 to 64 letters, digits or '-', got {inputs.snapshot_id!r}")
        backend = self._backend or choose_backend(ctx.environment)
        if backend.os_family is not baseline.operating_system:
            raise PluginError(f"baseline {baseline.name} is for {baseline.operating_system.value} nodes; this node "
                              f"patches with {backend.name} ({backend.os_family.value})")
        operation = PatchOperation(inputs.operation)
        install = operation is PatchOperation.INSTALL and not ctx.check_mode
        now = time.time()
        inventory = await backend.inventory(ctx, baseline, refresh=True)
        verdicts = evaluate(baseline, inventory, now)
        targets = tuple(v.package for v in verdicts if v.target)
        say = lambda text: ctx.output.write(OutputStreamKind.STDOUT, text.encode())  # noqa: E731
        if operation is PatchOperation.INSTALL and ctx.check_mode:
            would = ", ".join(f"{p.name} {p.installed_version or '-'} -> {p.available_version}" for p in targets)
            await say(f"check mode: Install would install {len(targets)} update(s){': ' + would if would else ''}\n")
        elif install and targets:
            await say(f"patch: installing {len(targets)} update(s) with {backend.name}\n")
            reported = await backend.install(ctx, baseline, targets)
            inventory = await backend.inventory(ctx, baseline, refresh=False)
            verdicts = after_install(baseline, verdicts, inventory, now, reported)
        reboot = RebootOption(inputs.reboot_option)
        compliance = PatchCompliance.summarize(
            [v.record() for v in verdicts], baseline_id=baseline.name, snapshot_id=inputs.snapshot_id or "",
            operation=operation if install else PatchOperation.SCAN, reboot_option=reboot,
            started_at_ms=started, ended_at_ms=max(started, _now_ms()))
        await say(render(backend, compliance))
        names = {p.name for p in targets}
        changed = install and any(v.package.name in names and v.state in (
            PatchState.INSTALLED, PatchState.INSTALLED_PENDING_REBOOT) for v in verdicts)
        failed = [r.name for r in compliance.records if r.state is PatchState.FAILED]
        if failed:
            return StepOutcome(Detail.FAILED, 1, f"{compliance.counts.failed} update(s) failed to install: "
                               f"{', '.join(failed[:20])}", changed, compliance)
        pending = inventory.reboot_required or compliance.counts.installed_pending_reboot > 0
        if install and pending and reboot is RebootOption.REBOOT_IF_NEEDED:
            code = reboot_exit_code(backend.os_family)
            await say(f"patch: the node must reboot to finish; asking the agent to reboot and run this step "
                      f"again (exit {code})\n")
            return StepOutcome(Detail.FAILED, code, f"exited with code {code} (reboot requested)", changed, compliance)
        return StepOutcome(Detail.SUCCESS, 0, "", changed, compliance)
