"""The ``service`` plugin (also ``systemd``): a systemd unit started, stopped, restarted or
reloaded, and enabled or not (Ansible's ``service`` / ``systemd``, on systemd nodes only).

It reads systemd's answers (``systemctl is-active NAME``, ``systemctl is-enabled NAME``) to decide
what to do, as Ansible does: ``started`` starts a unit that is not running, ``stopped`` stops one
that is, ``restarted`` always restarts (or starts), ``reloaded`` reloads a running unit and starts
one that is not. ``systemctl`` is the first found on the step's ``PATH``.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import ClassVar

from plugins.sdk import (
    API_VERSION,
    Alias,
    Detail,
    OutputStreamKind,
    Platform,
    PluginError,
    PluginSpec,
    RunContext,
    StepOutcome,
    param,
    run_process,
    run_query,
)

# ActiveState values (systemctl is-active) of a unit that runs, and of one on its way down.
RUNNING = frozenset({"active", "activating", "reloading", "refreshing"})
STOPPING = frozenset({"deactivating"})
# UnitFileState values (systemctl is-enabled) that count as enabled (exit 0), and those that a
# `systemctl disable` cannot change: the unit is started by others, or made at run time.
ENABLED = frozenset({"enabled", "enabled-runtime", "alias", "static", "indirect", "generated", "transient"})
NOT_DISABLEABLE = frozenset({"static", "indirect", "generated", "transient"})
MASKED = frozenset({"masked", "masked-runtime"})
# A unit name: what systemd allows (letters, digits, ":-_.\\@"), never an option ("-...").
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*")


@dataclass(frozen=True)
class ServiceInputs:
    name: str = param("The unit: `nginx` or `nginx.service` (any unit type systemctl takes).")
    state: str | None = param("`started`, `stopped`, `restarted` or `reloaded`; without it the unit is neither "
                              "started nor stopped.", default=None,
                              choices=("started", "stopped", "restarted", "reloaded"))
    enabled: bool | None = param("Whether the unit starts at boot (`systemctl enable` / `disable`); without it "
                                 "that is left as it is.", default=None)
    daemon_reload: bool = param("Run `systemctl daemon-reload` first, so that changed unit files are read (it "
                                "does not count as a change; not run in check mode).", default=False)


def _same(inputs: ServiceInputs) -> ServiceInputs:
    return inputs


def find_systemctl(ctx: RunContext) -> str:
    """The ``systemctl`` of the step's environment's ``PATH``."""
    found = shutil.which("systemctl", path=ctx.environment.get("PATH", os.defpath))
    if found is None:
        raise PluginError("service: systemctl not found on PATH; this node does not run systemd")
    return found


async def query(ctx: RunContext, systemctl: str, verb: str, name: str) -> tuple[int, str]:
    """``systemctl VERB NAME``'s exit status and the first line of its answer."""
    code, out = await run_query(ctx, [systemctl, verb, name], env=ctx.environment, cwd="/", limit=4096)
    lines = out.decode("utf-8", "replace").strip().splitlines()
    return code, lines[0].strip() if lines else ""


async def unit_state(ctx: RunContext, systemctl: str, name: str) -> tuple[str, str]:
    """(ActiveState, UnitFileState) as ``systemctl is-active`` and ``is-enabled`` say them."""
    code, active = await query(ctx, systemctl, "is-active", name)
    if not active:
        raise PluginError(f"service: systemctl is-active {name} answered nothing (exit code {code})")
    code, enabled = await query(ctx, systemctl, "is-enabled", name)
    if enabled == "not-found" or (not enabled and code != 0):
        raise PluginError(f"service: no unit {name} on this node (systemctl is-enabled exit code {code})")
    return active, enabled


def enable_verb(enabled: bool | None, name: str, unit_file_state: str) -> str | None:
    """``enable``, ``disable`` or None (nothing to do) for the wanted ``enabled``."""
    if enabled is None or (unit_file_state in ENABLED) == enabled:
        return None
    if enabled and unit_file_state in MASKED:
        raise PluginError(f"service: enabled: {name} is {unit_file_state}; unmask it first")
    if not enabled and unit_file_state in NOT_DISABLEABLE:
        raise PluginError(f"service: enabled: {name} is {unit_file_state} (it is not enabled itself, so it cannot "
                          "be disabled; mask it to keep it from starting)")
    return "enable" if enabled else "disable"


def state_verb(state: str | None, active_state: str) -> str | None:
    """``start``, ``stop``, ``restart``, ``reload`` or None for the wanted ``state``, as Ansible decides."""
    running = active_state in RUNNING
    if state == "started":
        return None if running else "start"
    if state == "stopped":
        return "stop" if running or active_state in STOPPING else None
    if state in ("restarted", "reloaded"):
        return state[:-2] if running else "start"  # restart / reload
    return None


_PAST = {"enable": "enabled", "disable": "disabled", "start": "started", "stop": "stopped",
         "restart": "restarted", "reload": "reloaded"}


class ServicePlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="service",
        version="1.0.0",
        api=API_VERSION,
        summary="A systemd unit started, stopped, restarted or reloaded, and enabled or not (also systemd).",
        inputs=ServiceInputs,
        platforms=frozenset({Platform.LINUX}),
        aliases=(Alias("systemd", ServiceInputs, _same),),
        supports_check_mode=True,
        needs_workdir=False,
    )

    async def run(self, ctx: RunContext, inputs: ServiceInputs) -> StepOutcome:
        name = inputs.name
        if not _UNIT_NAME.fullmatch(name):
            raise PluginError(f"service: name {name!r} is not a unit name")
        systemctl = find_systemctl(ctx)
        if inputs.daemon_reload:
            if ctx.check_mode:
                await self._say(ctx, "would run: systemctl daemon-reload")
            else:
                await self._systemctl(ctx, systemctl, "daemon-reload")
                await self._say(ctx, "ran: systemctl daemon-reload")
        active, enabled = await unit_state(ctx, systemctl, name)
        verbs = [v for v in (enable_verb(inputs.enabled, name, enabled), state_verb(inputs.state, active)) if v]
        for verb in verbs:
            if ctx.check_mode:
                await self._say(ctx, f"would change: {verb} {name}")
            else:
                await self._systemctl(ctx, systemctl, verb, name)
                await self._say(ctx, f"changed: {_PAST[verb]} {name}")
        if not verbs:
            await self._say(ctx, f"ok: {name} needs no change")
        elif not ctx.check_mode:
            active, enabled = await unit_state(ctx, systemctl, name)
        await self._say(ctx, f"{name}: {active}, {enabled}")
        return StepOutcome(Detail.SUCCESS, changed=bool(verbs))

    async def _systemctl(self, ctx: RunContext, systemctl: str, *args: str) -> None:
        code = await run_process(ctx, [systemctl, *args], cwd="/", env=ctx.environment)
        if code != 0:
            raise PluginError(f"service: systemctl {' '.join(args)} exited with code {code}")

    async def _say(self, ctx: RunContext, line: str) -> None:
        await ctx.output.write(OutputStreamKind.STDOUT, (line + "\n").encode())
