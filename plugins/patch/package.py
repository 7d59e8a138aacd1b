"""The ``package`` plugin (also ``apt``, ``yum`` and ``dnf``): named packages installed, upgraded to
the latest version or removed, through the patch plugin's backends (Ansible's ``package``, with the
inputs its ``apt``, ``yum`` and ``dnf`` modules have in common). docs/plugins.md, docs/patching.md.

The package manager is the node's, chosen as the patch plugin chooses it (apt, else dnf, else yum),
whatever name the step used. What each package needs is decided from what the package manager says
of it before; what changed, from what it says after: a step's ``changed`` is whether a named
package's installed version did (or, in check mode, would).
"""
from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from plugins.patch.apt import AptBackend
from plugins.patch.backend import PackageManager, PackageState
from plugins.patch.dnf import DnfBackend
from plugins.patch.plugin import choose_backend
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
)

if TYPE_CHECKING:
    from plugins.patch.capture import Captured

STATES = ("present", "absent", "latest")
# a package name (Debian's and RPM's characters, an optional :architecture), never an option or a glob
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*(?::[A-Za-z0-9_-]+)?")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:_-]*")
MAX_PACKAGES = 200


@dataclass(frozen=True)
class PackageInputs:
    name: tuple[str, ...] = param("The packages, by name (a single string is one). With apt a name may pin a "
                                  "version, `name=version`: `present` then means installed at that version.")
    state: str = param("`present`: installed (the candidate version when it is not); `absent`: removed; "
                       "`latest`: installed at the newest version the package manager offers.",
                       default="present", choices=STATES)
    update_cache: bool = param("Refresh the package lists first (`apt-get update`, `dnf makecache`); not in "
                               "check mode, and never a change by itself.", default=False)


def _same(inputs: PackageInputs) -> PackageInputs:
    return inputs


@dataclass(frozen=True)
class Wanted:
    """One entry of ``name``: the package, and the version it pins ("": none)."""
    where: str
    name: str
    version: str


@dataclass(frozen=True)
class Plan:
    """What one package needs: ``verb`` install, upgrade or remove, to ``version``; "" nothing."""
    wanted: Wanted
    before: PackageState
    verb: str = ""
    version: str = ""


def parse_names(names: tuple[str, ...], state: str) -> list[Wanted]:
    if not names:
        raise PluginError("package: name: no package named (give at least one)")
    if len(names) > MAX_PACKAGES:
        raise PluginError(f"package: name: {len(names)} packages; at most {MAX_PACKAGES} a step")
    out: list[Wanted] = []
    seen: set[str] = set()
    for i, item in enumerate(names):
        where = f"name[{i}]"
        name, sep, version = item.partition("=")
        if not _NAME.fullmatch(name) or (sep and not _VERSION.fullmatch(version)):
            raise PluginError(f"package: {where}: {item!r} is not a package name (a name, or name=version)")
        if sep and state == "latest":
            raise PluginError(f"package: {where}: {item!r} pins a version, which state latest cannot have")
        if name in seen:
            raise PluginError(f"package: {where}: {name} is named twice")
        seen.add(name)
        out.append(Wanted(where, name, version))
    return out


def choose_manager(env: Mapping[str, str], platform: str = sys.platform) -> PackageManager:
    """The node's package manager, as the patch plugin chooses it; Windows Update is none."""
    if platform == "win32":
        raise PluginError("package: not on Windows; use patch with Windows Update")
    try:
        backend = choose_backend(env, platform)
    except PluginError as exc:
        raise PluginError(f"package: {exc}") from None
    if not isinstance(backend, (AptBackend, DnfBackend)):
        raise PluginError("package: not on Windows; use patch with Windows Update")
    return backend


def plan(state: str, wanted: Wanted, before: PackageState) -> Plan:
    """What ``state`` asks of the package, from what its package manager says of it."""
    installed, candidate, version = before.installed, before.candidate, wanted.version
    if state == "absent":
        if installed and (not version or installed == version):
            return Plan(wanted, before, "remove", installed)
        return Plan(wanted, before)
    if state == "latest":
        if installed and candidate and candidate != installed:
            return Plan(wanted, before, "upgrade", candidate)
        if installed:
            return Plan(wanted, before)
        return Plan(wanted, before, "install", candidate)
    if version:
        return Plan(wanted, before) if installed == version else Plan(wanted, before, "install", version)
    return Plan(wanted, before) if installed else Plan(wanted, before, "install", candidate)


def refuse_unknown(manager: PackageManager, plans: list[Plan]) -> None:
    """Nothing is installed that the package manager does not offer: one line naming them all."""
    unknown = [p.wanted.name for p in plans if p.verb == "install" and not p.before.known]
    if len(unknown) == 1:
        raise PluginError(f"package: no package named {unknown[0]} is known to {manager.name}")
    if unknown:
        raise PluginError(f"package: no packages named {', '.join(unknown)} are known to {manager.name}")
    for p in plans:
        if p.verb == "install" and not p.version:  # known, installable in no version (a virtual package)
            raise PluginError(f"package: {p.wanted.name} has no version {manager.name} can install")
        if p.verb == "install" and p.wanted.version and p.wanted.version not in p.before.versions:
            offered = ", ".join(p.before.versions) or "none"
            raise PluginError(f"package: {p.wanted.where}: no version {p.wanted.version} of {p.wanted.name} is "
                              f"offered by {manager.name} (offered: {offered})")


def doing(p: Plan) -> str:
    """What a plan would do, as check mode says it."""
    name, was = p.wanted.name, p.before.installed
    if p.verb == "remove":
        return f"remove {name} ({was})"
    if p.verb == "upgrade":
        return f"upgrade {name} ({was} -> {p.version})"
    return f"install {name} ({p.version}{f', now {was}' if was else ''})"


def done(p: Plan, after: PackageState) -> str:
    """What a plan did, from the package's state after."""
    name, was, now = p.wanted.name, p.before.installed, after.installed
    if p.verb == "remove":
        return f"removed {name} {was}"
    if p.verb == "upgrade":
        return f"upgraded {name} {was} -> {now}"
    return f"installed {name} {now}{f' (was {was})' if was else ''}"


def reached(state: str, p: Plan, after: PackageState) -> bool:
    """Whether the package is as ``state`` asks, after the package manager ran."""
    if state == "absent":
        return not after.installed
    return after.installed == p.version if state == "latest" or p.wanted.version else bool(after.installed)


def fine(state: str, p: Plan) -> str:
    """Why a package needs nothing."""
    name, installed = p.wanted.name, p.before.installed
    if state == "absent":
        return f"{name} is not installed" + (f" at {p.wanted.version} ({installed} is)" if installed else "")
    return f"{name} {installed} is installed{', the latest' if state == 'latest' else ''}"


def not_reached(state: str, p: Plan, after: PackageState) -> str:
    name, now = p.wanted.name, after.installed
    if state == "absent":
        return f"{name} {now} is still installed"
    return f"{name} is {f'at {now}' if now else 'not installed'}, not {p.version}"


class PackagePlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="package",
        version="1.0.0",
        api=API_VERSION,
        summary="Packages installed, upgraded to the latest or removed, with apt or dnf/yum (also apt, yum, dnf).",
        inputs=PackageInputs,
        platforms=frozenset({Platform.LINUX}),
        aliases=(Alias("apt", PackageInputs, _same), Alias("yum", PackageInputs, _same),
                 Alias("dnf", PackageInputs, _same)),
        supports_check_mode=True,
        cancel_grace_seconds=30.0,  # dpkg and rpm should finish what they have started
        needs_workdir=False,        # no file of the step's own: the patch plugin's is for a baseline's pins
    )

    async def run(self, ctx: RunContext, inputs: PackageInputs) -> StepOutcome:
        wanted = parse_names(inputs.name, inputs.state)
        manager = choose_manager(ctx.environment)
        if not manager.takes_versions:
            for w in wanted:
                if w.version:
                    raise PluginError(f"package: {w.where}: {w.name}={w.version}: {manager.name} takes names "
                                      "only (a version is for apt)")
        names = tuple(w.name for w in wanted)
        refresh = inputs.update_cache and not ctx.check_mode
        if inputs.update_cache and ctx.check_mode:
            await _say(ctx, f"would run: {'apt-get update' if manager.name == 'apt' else manager.name + ' makecache'}")
        before = await manager.package_states(ctx, names, refresh=refresh)
        plans = [plan(inputs.state, w, before[w.name]) for w in wanted]
        refuse_unknown(manager, plans)
        todo = [p for p in plans if p.verb]
        if ctx.check_mode or not todo:
            for p in plans:
                await _say(ctx, f"would change: {doing(p)}" if p.verb else f"ok: {fine(inputs.state, p)}")
            return StepOutcome(Detail.SUCCESS, changed=bool(todo))
        failure = await self._change(ctx, manager, todo)
        after = await manager.package_states(ctx, names, refresh=False)
        missed = []
        for p in plans:
            now = after[p.wanted.name]
            if not p.verb:
                await _say(ctx, f"ok: {fine(inputs.state, p)}")
            elif reached(inputs.state, p, now):
                await _say(ctx, f"changed: {done(p, now)}")
            else:
                missed.append(p.wanted.name)
                await _say(ctx, f"failed: {not_reached(inputs.state, p, now)}")
        changed = any(after[n].installed != before[n].installed for n in names)
        if failure or missed:
            error = failure or f"package: not {inputs.state} after {manager.name} ran: {', '.join(missed)}"
            return StepOutcome(Detail.FAILED, 1, error, changed)
        return StepOutcome(Detail.SUCCESS, changed=changed)

    async def _change(self, ctx: RunContext, manager: PackageManager, todo: list[Plan]) -> str:
        """Run the package manager for the plans: the removals, or the installs then the upgrades (a
        step's state is one of them). Its error ("": none), and a failing command stops it."""
        removals = tuple(p.wanted.name for p in todo if p.verb == "remove")
        if removals:
            return _failure(await manager.remove_packages(ctx, removals))
        installs = tuple((p.wanted.name, p.version) for p in todo if p.verb == "install")
        upgrades = tuple((p.wanted.name, p.version) for p in todo if p.verb == "upgrade")
        if installs and (error := _failure(await manager.install_packages(ctx, installs, only_upgrade=False))):
            return error
        if upgrades:
            return _failure(await manager.install_packages(ctx, upgrades, only_upgrade=True))
        return ""


def _failure(finished: Captured) -> str:
    if finished.exit_code == 0:
        return ""
    command = " ".join(a for a in finished.argv[:3] if not a.startswith("-"))  # apt-get install, dnf remove
    return f"package: {command} exited with code {finished.exit_code}: {finished.tail(3)}"


async def _say(ctx: RunContext, line: str) -> None:
    await ctx.output.write(OutputStreamKind.STDOUT, (line + "\n").encode())
