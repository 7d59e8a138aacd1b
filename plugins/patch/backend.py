"""What every package-manager backend of the patch plugin gives and takes.

A backend lists the node's packages with the update its package manager would install for each
(:class:`Inventory`), and installs a set of them (:meth:`Backend.install`). Deciding what is
approved, and what state each package is in, is the baseline's business (evaluate.py), the same
for every backend.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
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
