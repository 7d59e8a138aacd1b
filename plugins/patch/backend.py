"""What every package-manager backend of the patch plugin gives and takes.

A backend lists the node's packages with the update its package manager would install for each
(:class:`Inventory`), and installs a set of them (:meth:`Backend.install`). Deciding what is
approved, and what state each package is in, is the baseline's business (evaluate.py), the same
for every backend.

The Linux backends (apt, dnf/yum) are also a :class:`PackageManager`, for the ``package`` action
(package.py): what given packages are, and installing, upgrading and removing them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from plugins.patch.capture import Captured
    from plugins.sdk import Baseline, OsFamily, RunContext


@dataclass(frozen=True)
class Package:
    """An installed package, or a Windows update, and the update its package manager offers."""
    name: str
    installed_version: str           # "" for a Windows update not installed
    available_version: str = ""      # "" when nothing newer is offered
    classification: str = ""         # of the available version (else of the installed one)
    severity: str = ""               # redhat: advisory severity; windows: MSRC severity; debian: Priority
    section: str = ""                # debian: Section
    released_at: float | None = None  # when the available version was released (epoch s); None: unknown
    held: bool = False               # the package manager holds it (dpkg hold): never installed by the plugin


@dataclass(frozen=True)
class Inventory:
    packages: tuple[Package, ...]
    reboot_required: bool = False         # the node says it waits for a reboot
    reboot_pending: frozenset[str] = frozenset()  # names it says the reboot is for (may be none)


class Backend(Protocol):
    name: str            # "apt", "dnf", "yum", "windows_update"
    os_family: OsFamily

    async def inventory(self, ctx: RunContext, baseline: Baseline, *, refresh: bool) -> Inventory:
        """The packages and their updates; ``refresh``: update the package lists first."""
        ...

    async def install(self, ctx: RunContext, baseline: Baseline, targets: tuple[Package, ...]) -> frozenset[str]:
        """Bring each target to its available version, never installing a version the baseline
        rejects with BLOCK. Success is judged from the inventory read afterwards; what this returns
        are targets the installer says it installed that the inventory may show only after a reboot."""
        ...


@dataclass(frozen=True)
class PackageState:
    """One named package as its package manager sees it."""
    name: str
    installed: str = ""              # the installed version; "": not installed
    candidate: str = ""              # the version it would install (the installed one when none is newer); "": none
    versions: tuple[str, ...] = ()   # the versions it can install (apt: its sources'); dnf: the candidate alone

    @property
    def known(self) -> bool:
        """Installed, or installable: the package manager knows the name."""
        return bool(self.installed or self.candidate or self.versions)


class PackageManager(Protocol):
    name: str            # "apt", "dnf", "yum"
    takes_versions: bool  # whether a name may pin a version (``name=version``)

    async def package_states(self, ctx: RunContext, names: tuple[str, ...], *,
                             refresh: bool) -> dict[str, PackageState]:
        """Each name's state (every name is a key); ``refresh``: update the package lists first."""
        ...

    async def install_packages(self, ctx: RunContext, targets: tuple[tuple[str, str], ...], *,
                               only_upgrade: bool) -> Captured:
        """Install each (name, version) (``only_upgrade``: of packages installed already), echoing the
        package manager's output to the step's; its exit status is the caller's to judge."""
        ...

    async def remove_packages(self, ctx: RunContext, names: tuple[str, ...]) -> Captured:
        """Remove the packages, likewise."""
        ...
