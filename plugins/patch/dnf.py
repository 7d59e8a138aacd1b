"""The dnf backend (RHEL, Fedora, Amazon Linux, Rocky...), falling back to yum where dnf is not.

- ``rpm -qa`` lists the installed packages (version ``[epoch:]version-release``, the epoch only
  when not 0: as dnf prints it);
- ``dnf makecache`` refreshes the metadata; ``dnf check-update`` (exit 100: updates) gives each
  package's newest version; ``dnf updateinfo list updates`` the advisories of those updates:
  classification ``security`` (with the advisory's severity: Critical, Important, Moderate, Low),
  ``bugfix``, ``enhancement`` or ``newpackage``; an update without advisory is ``other``. When a
  rule has ``approve_after_days``, ``dnf updateinfo info updates`` gives each advisory's date
  (``Issued``, else ``Updated``): an update's release date is its advisory's;
- ``dnf needs-restarting -r`` (yum: ``needs-restarting -r``) says whether the node waits for a
  reboot (its output says "Reboot is required") and for which packages.

BLOCK: ``--exclude`` of each rejected entry (``name``, or ``name-version``) on check-update and
upgrade, so a rejected version is never installed, not even as a dependency. Install runs ``dnf
upgrade`` of the approved ``name-version``s together, then each one still missing alone.

The ``package`` action (package.py): ``rpm -qa`` says what is installed, ``dnf list --available NAME...``
(yum: ``list available``) what a package not installed would be, ``dnf check-update NAME...`` what an
installed one would be upgraded to; ``dnf -y install``, ``upgrade`` or ``remove`` change them.
"""
from __future__ import annotations

import calendar
import re
import time
from typing import TYPE_CHECKING

from plugins.patch.backend import Inventory, Package, PackageState
from plugins.patch.capture import Captured, capture
from plugins.sdk import OsFamily, OutputStreamKind, PluginError, RejectedAction

if TYPE_CHECKING:
    from plugins.sdk import Baseline, RunContext

RPM_FORMAT = r"%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\n"
CHECK_UPDATE_AVAILABLE = 100  # dnf and yum check-update: updates are available
_UPDATE_LINE = re.compile(r"(\S+)\.([A-Za-z0-9_]+)\s+(\S+)\s+(\S+)")
_ADVISORY_LINE = re.compile(r"(\S+)\s+(\S+)\s+(\S+)")
_INFO_LINE = re.compile(r"\s*(Update ID|Issued|Updated)\s*:\s*(.+?)\s*")
_NEEDS_LINE = re.compile(r"\s+\*\s+(\S+)")
_KINDS = ("security", "bugfix", "enhancement", "newpackage")


class DnfBackend:
    os_family = OsFamily.REDHAT

    def __init__(self, tool: str = "dnf") -> None:
        self.name = tool  # "dnf" or "yum": the executable

    async def _run(self, ctx: RunContext, argv: list[str], *, ok: tuple[int, ...] | None = (0,),
                   echo: bool = False) -> Captured:
        """Run a query (``ok``: the exit codes that are no failure; None: any)."""
        done = await capture(ctx, argv, env=ctx.process_environment({"LC_ALL": "C"}), echo=echo)
        if ok is not None and done.exit_code not in ok:
            raise PluginError(f"{' '.join(argv[:3])} failed (exit {done.exit_code}): {done.tail()}")
        return done

    @staticmethod
    def excludes(baseline: Baseline) -> list[str]:
        if baseline.rejected_action is not RejectedAction.BLOCK:
            return []
        return [f"--exclude={s.name}-{s.version}" if s.version else f"--exclude={s.name}"
                for s in baseline.rejected_packages]

    async def inventory(self, ctx: RunContext, baseline: Baseline, *, refresh: bool) -> Inventory:
        tool, excludes = self.name, self.excludes(baseline)
        if refresh:
            await self._run(ctx, [tool, "-q", "-y", "makecache"])
        installed = parse_rpm((await self._run(ctx, ["rpm", "-qa", "--qf", RPM_FORMAT])).stdout)
        check = await self._run(ctx, [tool, "-q", "check-update", *excludes], ok=(0, CHECK_UPDATE_AVAILABLE))
        updates = parse_check_update(check.stdout) if check.exit_code == CHECK_UPDATE_AVAILABLE else {}
        advisories: dict[str, tuple[str, str, str]] = {}
        dates: dict[str, float] = {}
        if updates:
            listed = await self._run(ctx, [tool, "-q", "updateinfo", "list", "updates"])
            advisories = parse_updateinfo_list(listed.stdout)
            if any(rule.approve_after_days for rule in baseline.approval_rules):
                dates = parse_updateinfo_info((await self._run(ctx, [tool, "-q", "updateinfo", "info",
                                                                     "updates"])).stdout)
        packages = []
        for name, version in sorted(installed.items()):
            available = updates.get(name, "")
            advisory, kind, severity = advisories.get(f"{name}-{available}", ("", "other", ""))
            packages.append(Package(name, version, available, kind if available else "other",
                                    severity if available else "", released_at=dates.get(advisory)))
        needs = ([tool, "-q", "needs-restarting", "-r"] if tool == "dnf" else ["needs-restarting", "-r"])
        try:
            restart = await self._run(ctx, needs, ok=(0, 1))
        except PluginError:  # not installed (dnf-plugins-core, yum-utils): not known, not required
            return Inventory(tuple(packages))
        required = "Reboot is required" in restart.stdout
        pending = frozenset(m.group(1) for line in restart.stdout.splitlines() if (m := _NEEDS_LINE.fullmatch(line)))
        return Inventory(tuple(packages), required, pending if required else frozenset())

    async def install(self, ctx: RunContext, baseline: Baseline, targets: tuple[Package, ...]) -> frozenset[str]:
        excludes = self.excludes(baseline)
        specs = [f"{p.name}-{p.available_version}" for p in targets]
        done = await self._run(ctx, [self.name, "-y", "upgrade", *excludes, *specs], ok=None, echo=True)
        if done.exit_code == 0 or len(specs) == 1:
            return frozenset()
        installed = parse_rpm((await self._run(ctx, ["rpm", "-qa", "--qf", RPM_FORMAT])).stdout)
        for p, spec in zip(targets, specs, strict=True):
            if installed.get(p.name) != p.available_version:
                await ctx.output.write(OutputStreamKind.STDOUT, f"patch: installing {spec} alone\n".encode())
                await self._run(ctx, [self.name, "-y", "upgrade", *excludes, spec], ok=None, echo=True)
        return frozenset()

    # ---- the package action's

    takes_versions = False  # names only

    async def package_states(self, ctx: RunContext, names: tuple[str, ...], *,
                             refresh: bool) -> dict[str, PackageState]:
        tool = self.name
        if refresh:
            await self._run(ctx, [tool, "-q", "-y", "makecache"])
        rpm = parse_rpm((await self._run(ctx, ["rpm", "-qa", "--qf", RPM_FORMAT])).stdout)
        installed = {n: rpm[n] for n in names if n in rpm}
        missing = [n for n in names if n not in rpm]
        offered: dict[str, str] = {}
        if missing:
            listed = await self._run(ctx, [tool, "-q", "list", "--available" if tool == "dnf" else "available",
                                           *missing], ok=None)
            if listed.exit_code != 0 and "No matching Packages" not in listed.stdout + listed.stderr:
                raise PluginError(f"{tool} list failed (exit {listed.exit_code}): {listed.tail()}")
            offered = parse_check_update(listed.stdout)  # (exit 1, "No matching Packages": none is known)
        if installed:
            check = await self._run(ctx, [tool, "-q", "check-update", *installed], ok=(0, CHECK_UPDATE_AVAILABLE))
            if check.exit_code == CHECK_UPDATE_AVAILABLE:
                offered.update(parse_check_update(check.stdout))
        out = {}
        for name in names:
            candidate = offered.get(name) or installed.get(name, "")
            out[name] = PackageState(name, installed.get(name, ""), candidate, (candidate,) if candidate else ())
        return out

    async def install_packages(self, ctx: RunContext, targets: tuple[tuple[str, str], ...], *,
                               only_upgrade: bool) -> Captured:
        verb = "upgrade" if only_upgrade else "install"
        return await self._run(ctx, [self.name, "-y", verb, *(f"{n}-{v}" for n, v in targets)], ok=None, echo=True)

    async def remove_packages(self, ctx: RunContext, names: tuple[str, ...]) -> Captured:
        return await self._run(ctx, [self.name, "-y", "remove", *names], ok=None, echo=True)


def _evr(epoch_version: str) -> str:
    epoch, _, rest = epoch_version.partition(":")
    return rest if epoch in ("0", "(none)", "") else epoch_version


def parse_rpm(text: str) -> dict[str, str]:
    """name -> installed version; gpg-pubkey (rpm's keyring) is no package."""
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] != "gpg-pubkey":
            out.setdefault(parts[0], _evr(parts[1]))
    return out


def parse_check_update(text: str) -> dict[str, str]:
    """``check-update``'s list: name -> newest version. A line too long is wrapped by yum after the
    name; the obsoleting list at the end is not updates."""
    out: dict[str, str] = {}
    pending = ""
    for line in text.splitlines():
        if line.startswith(("Obsoleting Packages", "Security:")):
            if line.startswith("Obsoleting"):
                break
            continue
        line = (pending + " " + line.strip()) if pending else line.strip()
        pending = ""
        if len(line.split()) == 1 and "." in line:
            pending = line
            continue
        if m := _UPDATE_LINE.fullmatch(line):
            out.setdefault(m.group(1), m.group(3))
    return out


def parse_updateinfo_list(text: str) -> dict[str, tuple[str, str, str]]:
    """``updateinfo list updates`` (``ID  TYPE  NEVRA``): ``name-version`` -> (advisory, classification,
    severity), the most important advisory of each (security first, then the most severe)."""
    out: dict[str, tuple[str, str, str]] = {}
    rank = {"Critical": 0, "Important": 1, "Moderate": 2, "Low": 3}
    for line in text.splitlines():
        m = _ADVISORY_LINE.fullmatch(line.strip())
        if not m:
            continue
        advisory, label, nevra = m.groups()
        severity, kind = (label[:-len("/Sec.")], "security") if label.endswith("/Sec.") else ("", label.lower())
        kind = kind if kind in _KINDS else "other"
        severity = severity if severity in rank else ""
        key = nevra.rsplit(".", 1)[0]  # name-[epoch:]version-release
        new = (advisory, kind, severity)
        old = out.get(key)
        if old is None or (_KINDS.index(kind) if kind in _KINDS else 9, rank.get(severity, 9)) < (
                _KINDS.index(old[1]) if old[1] in _KINDS else 9, rank.get(old[2], 9)):
            out[key] = new
    return out


def parse_updateinfo_info(text: str) -> dict[str, float]:
    """``updateinfo info updates``: advisory -> release date (epoch seconds, UTC)."""
    out: dict[str, float] = {}
    advisory = ""
    for line in text.splitlines():
        m = _INFO_LINE.fullmatch(line)
        if not m:
            continue
        label, value = m.groups()
        if label == "Update ID":
            advisory = value
        elif advisory and (label == "Issued" or advisory not in out):
            try:
                out[advisory] = float(calendar.timegm(time.strptime(value[:19], "%Y-%m-%d %H:%M:%S")))
            except ValueError:
                pass
    return out
