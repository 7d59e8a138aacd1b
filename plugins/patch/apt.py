"""The apt backend (Debian, Ubuntu): dpkg says what is installed, apt what it would upgrade to.

Everything goes through apt's and dpkg's own configuration, so ``APT_CONFIG`` in the step's
environment points the whole backend at another root (docs/patching.md, "Sandboxing"):

- ``apt-config`` (which honours ``APT_CONFIG``) gives dpkg's status file (``Dir::State::status``; its
  directory is dpkg's admindir), the preferences file, the native architecture and the options apt
  passes dpkg (``DPkg::Options``: ``--root=`` or ``--instdir=`` is the root the reboot flag is under);
- ``dpkg-query --admindir=...`` lists the installed packages (``ii``; a ``h`` hold is kept);
- ``apt-get update`` refreshes the lists; ``apt-cache policy`` gives each package's candidate and the
  sources of every version, ``apt-cache policy`` alone what each source's Release file says, and
  ``apt-cache show name=version`` the candidate's Section and Priority.

Classification: ``security`` when a source of the version has a suite (the sources.list
distribution, before any ``/``), archive (``a=``) or codename (``n=``) ending in ``-security``, else
``other``. Severity is the Priority field; section the Section field. There is no release date.

BLOCK: the rejected versions get pin priority -1 (never installed, not even as a dependency) in a
preferences file of the step's own, given as ``Dir::Etc::Preferences`` before the node's own
preferences, so the node's files are never changed. Install runs ``apt-get install --only-upgrade
--no-remove`` for the approved versions together (DEBIAN_FRONTEND=noninteractive), then each one
still not installed alone (so one update that cannot be installed does not keep the others out).

The ``package`` action (package.py) reads the named packages the same way (``dpkg-query`` for what is
installed, ``apt-cache policy NAME...`` for the candidate and the versions a source offers) and runs
``apt-get install -y --no-install-recommends`` (``--only-upgrade`` for upgrades) or ``apt-get remove -y``,
with the same noninteractive, ``--force-confold`` settings.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from plugins.patch.backend import Inventory, Package, PackageState
from plugins.patch.capture import Captured, capture
from plugins.sdk import OsFamily, OutputStreamKind, PluginError, RejectedAction

if TYPE_CHECKING:
    from plugins.sdk import Baseline, RunContext

PREFERENCES_NAME = "_patch_preferences"
DPKG_FORMAT = r"${binary:Package}\t${Version}\t${db:Status-Abbrev}\t${Priority}\t${Section}\n"
# --no-remove: an update that would remove another package fails instead; --force-confold: keep the node's
# changed configuration files
INSTALL_OPTIONS = ("-y", "-q", "--only-upgrade", "--no-remove", "-o", "Dpkg::Options::=--force-confold",
                   "-o", "Dpkg::Use-Pty=0")
# the package action's: Ansible's apt installs without the recommended packages
PACKAGE_OPTIONS = ("-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold",
                   "-o", "Dpkg::Use-Pty=0")
REMOVE_OPTIONS = ("-y", "-q", "-o", "Dpkg::Use-Pty=0")
_VERSION_LINE = re.compile(r" (\*\*\*|   ) (\S+) (-?\d+)")
_SOURCE_LINE = re.compile(r" {8}-?\d+ (.+)")
_FILE_LINE = re.compile(r" -?\d+ (.+)")
_RELEASE_LINE = re.compile(r" {5}release (.*)")


@dataclass(frozen=True)
class AptSettings:
    admindir: str
    preferences: str
    architecture: str
    root: str
    status: str = ""  # dpkg's status file (Dir::State::status)


@dataclass
class _Policy:
    installed: str = ""
    candidate: str = ""
    versions: list[tuple[str, bool, list[str]]] = field(default_factory=list)  # (version, installed?, sources)


class AptBackend:
    name = "apt"
    os_family = OsFamily.DEBIAN

    async def _run(self, ctx: RunContext, argv: list[str], what: str, *, echo: bool = False,
                   check: bool = True) -> Captured:
        env = ctx.process_environment({"LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive",
                                       "APT_LISTCHANGES_FRONTEND": "none"})
        done = await capture(ctx, argv, env=env, echo=echo)
        if check and done.exit_code != 0:
            raise PluginError(f"{what} failed (exit {done.exit_code}): {done.tail()}")
        return done

    async def settings(self, ctx: RunContext) -> AptSettings:
        shell = await self._run(ctx, ["apt-config", "shell", "STATUS", "Dir::State::status/f", "PREFS",
                                      "Dir::Etc::Preferences/f", "ARCH", "APT::Architecture"], "apt-config")
        values = dict(item.split("=", 1) for item in shlex.split(shell.stdout) if "=" in item)
        dump = await self._run(ctx, ["apt-config", "dump", "--no-empty", "--format", "%v%n", "DPkg::Options"],
                               "apt-config")
        root = "/"
        for option in dump.stdout.splitlines():
            for flag in ("--root=", "--instdir="):
                if option.startswith(flag):
                    root = option[len(flag):]
        status = values.get("STATUS", "/var/lib/dpkg/status")
        return AptSettings(os.path.dirname(status), values.get("PREFS", ""), values.get("ARCH", ""), root, status)

    def _preferences(self, ctx: RunContext, baseline: Baseline, settings: AptSettings) -> list[str]:
        """BLOCK's pins, in a preferences file of the step's own read before the node's own."""
        if baseline.rejected_action is not RejectedAction.BLOCK or not baseline.rejected_packages:
            return []
        pins = "".join(f"Package: {spec.name}\nPin: version {spec.version or '*'}\nPin-Priority: -1\n\n"
                       for spec in baseline.rejected_packages)
        try:
            with open(settings.preferences, encoding="utf-8", errors="replace") as fh:
                pins += fh.read()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise PluginError(f"cannot read apt preferences {settings.preferences}: {exc.strerror}") from None
        path = os.path.join(ctx.workdir, PREFERENCES_NAME)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(pins)
        return ["-o", f"Dir::Etc::Preferences={path}"]

    async def inventory(self, ctx: RunContext, baseline: Baseline, *, refresh: bool) -> Inventory:
        settings = await self.settings(ctx)
        pins = self._preferences(ctx, baseline, settings)
        if refresh:
            await self._run(ctx, ["apt-get", "update", "-q"], "apt-get update")
        installed = await self._installed(ctx, settings)
        names = sorted(installed)
        policies = parse_policy((await self._run(ctx, ["apt-cache", *pins, "policy", *names],
                                                 "apt-cache policy")).stdout) if names else {}
        releases = parse_releases((await self._run(ctx, ["apt-cache", *pins, "policy"], "apt-cache policy")).stdout)
        updates = {n: p.candidate for n, p in policies.items() if n in installed and _newer(p)}
        fields: dict[str, dict[str, str]] = {}
        if updates:
            shown = await self._run(ctx, ["apt-cache", "show", *(f"{n}={v}" for n, v in sorted(updates.items()))],
                                    "apt-cache show")
            fields = parse_show(shown.stdout, settings.architecture)
        packages = []
        for name in names:
            version, held, priority, section = installed[name]
            policy = policies.get(name, _Policy())
            available = updates.get(name, "")
            extra = fields.get(name, {})
            packages.append(Package(
                name=name, installed_version=version, available_version=available,
                classification=classify(policy, available or version, releases),
                severity=extra.get("Priority", priority), section=extra.get("Section", section), held=held))
        flag, pending = reboot_flag(settings.root)
        return Inventory(tuple(packages), flag, pending)

    async def _installed(self, ctx: RunContext, settings: AptSettings) -> dict[str, tuple[str, bool, str, str]]:
        done = await self._run(ctx, ["dpkg-query", f"--admindir={settings.admindir}", "-W", "-f", DPKG_FORMAT],
                               "dpkg-query")
        return parse_dpkg(done.stdout, settings.architecture)

    async def install(self, ctx: RunContext, baseline: Baseline, targets: tuple[Package, ...]) -> frozenset[str]:
        settings = await self.settings(ctx)
        pins = self._preferences(ctx, baseline, settings)
        wanted = {p.name: p.available_version for p in targets}
        done = await self._run(ctx, ["apt-get", "install", *INSTALL_OPTIONS, *pins,
                                     *(f"{n}={v}" for n, v in wanted.items())], "apt-get install", echo=True,
                               check=False)
        if done.exit_code == 0 or len(wanted) == 1:
            return frozenset()
        installed = await self._installed(ctx, settings)
        for name, version in wanted.items():
            if installed.get(name, ("",))[0] == version:
                continue
            await ctx.output.write(OutputStreamKind.STDOUT,
                                   f"patch: installing {name}={version} alone\n".encode())
            await self._run(ctx, ["apt-get", "install", *INSTALL_OPTIONS, *pins, f"{name}={version}"],
                            "apt-get install", echo=True, check=False)
        return frozenset()

    # ---- the package action's

    takes_versions = True  # a name may pin a version: name=version

    async def package_states(self, ctx: RunContext, names: tuple[str, ...], *,
                             refresh: bool) -> dict[str, PackageState]:
        if refresh:
            await self._run(ctx, ["apt-get", "update", "-q"], "apt-get update")
        settings = await self.settings(ctx)
        installed = await self._installed(ctx, settings)
        policies = parse_policy((await self._run(ctx, ["apt-cache", "policy", *names], "apt-cache policy")).stdout)
        out = {}
        for name in names:
            bare = _bare(name, settings.architecture)
            policy = policies.get(name) or policies.get(bare) or _Policy()
            # the versions a source offers (dpkg's status file is none: it lists what is installed)
            offered = tuple(v for v, _, sources in policy.versions if any(s != settings.status for s in sources))
            candidate = "" if policy.candidate in ("", "(none)") else policy.candidate
            out[name] = PackageState(name, installed.get(bare, ("",))[0], candidate, offered)
        return out

    async def install_packages(self, ctx: RunContext, targets: tuple[tuple[str, str], ...], *,
                               only_upgrade: bool) -> Captured:
        upgrade = ("--only-upgrade",) if only_upgrade else ()
        return await self._run(ctx, ["apt-get", "install", *PACKAGE_OPTIONS, *upgrade,
                                     *(f"{n}={v}" for n, v in targets)], "apt-get install", echo=True, check=False)

    async def remove_packages(self, ctx: RunContext, names: tuple[str, ...]) -> Captured:
        return await self._run(ctx, ["apt-get", "remove", *REMOVE_OPTIONS, *names], "apt-get remove", echo=True,
                               check=False)


def _bare(name: str, architecture: str) -> str:
    """A package name as apt prints it: the native architecture (and ``all``) left out."""
    for arch in (architecture, "all"):
        if arch and name.endswith(f":{arch}"):
            return name[:-len(arch) - 1]
    return name


def parse_dpkg(text: str, architecture: str) -> dict[str, tuple[str, bool, str, str]]:
    """name -> (version, held, priority, section) of each installed package (status ``?i``)."""
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 5 or len(parts[2]) < 2 or parts[2][1] != "i":
            continue
        name, version, status, priority, section = parts
        out[_bare(name, architecture)] = (version, status[0] == "h", priority, section)
    return out


def parse_policy(text: str) -> dict[str, _Policy]:
    """``apt-cache policy NAME...`` (C locale): each package's installed and candidate versions and
    version table."""
    out: dict[str, _Policy] = {}
    current: _Policy | None = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = out.setdefault(line[:-1], _Policy())
        elif current is None:
            continue
        elif line.startswith("  Installed: "):
            current.installed = line.split(": ", 1)[1].strip()
        elif line.startswith("  Candidate: "):
            current.candidate = line.split(": ", 1)[1].strip()
        elif m := _VERSION_LINE.fullmatch(line):
            current.versions.append((m.group(2), m.group(1) == "***", []))
        elif (m := _SOURCE_LINE.fullmatch(line)) and current.versions:
            current.versions[-1][2].append(m.group(1).strip())
    return out


def parse_releases(text: str) -> dict[str, dict[str, str]]:
    """``apt-cache policy`` alone: each package file's source -> its Release fields (a=, n=, l=...)."""
    out: dict[str, dict[str, str]] = {}
    source = None
    for line in text.splitlines():
        if m := _FILE_LINE.fullmatch(line):
            source = m.group(1).strip()
        elif (m := _RELEASE_LINE.fullmatch(line)) and source is not None:
            out[source] = dict(f.split("=", 1) for f in m.group(1).split(",") if "=" in f)
    return out


def parse_show(text: str, architecture: str) -> dict[str, dict[str, str]]:
    """``apt-cache show``'s stanzas: name -> Section and Priority."""
    out: dict[str, dict[str, str]] = {}
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(": ")
            if sep and not line[0].isspace():
                fields[key] = value.strip()
        if "Package" in fields:
            arch = fields.get("Architecture", "all")
            name = fields["Package"] if arch in (architecture, "all") else f"{fields['Package']}:{arch}"
            out[name] = {k: fields[k] for k in ("Section", "Priority") if k in fields}
    return out


def _newer(policy: _Policy) -> bool:
    """Whether the candidate is newer than the installed version (the version table is newest first)."""
    versions = [v for v, _, _ in policy.versions]
    if policy.candidate in ("", "(none)") or policy.candidate == policy.installed:
        return False
    installed = next((i for i, (_, mark, _) in enumerate(policy.versions) if mark), len(versions))
    return policy.candidate in versions[:installed]


def classify(policy: _Policy, version: str, releases: dict[str, dict[str, str]]) -> str:
    for v, _, sources in policy.versions:
        if v != version:
            continue
        for source in sources:
            parts = source.split()
            suite = parts[1].split("/")[0] if len(parts) > 2 else ""
            release = releases.get(source, {})
            if any(s.endswith("-security") for s in (suite, release.get("a", ""), release.get("n", ""))):
                return "security"
    return "other"


def reboot_flag(root: str) -> tuple[bool, frozenset[str]]:
    """Debian's convention: ``/var/run/reboot-required`` (``/run`` on current systems) says the node
    waits for a reboot, ``reboot-required.pkgs`` beside it for which packages."""
    for directory in ("var/run", "run"):
        flag = os.path.join(root, directory, "reboot-required")
        if os.path.exists(flag):
            try:
                with open(flag + ".pkgs", encoding="utf-8", errors="replace") as fh:
                    return True, frozenset(line.strip() for line in fh if line.strip())
            except OSError:
                return True, frozenset()
    return False, frozenset()
