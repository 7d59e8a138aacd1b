"""A baseline applied to an inventory: which updates are approved, and each package's state.

The rules, the same for every backend (docs/patching.md):

- An update (a package's available version) is **rejected** when an entry of ``rejected_packages``
  matches its name and version; rejection wins over any approval.
- Otherwise it is **approved** by an entry of ``approved_packages`` that matches (compliance level
  ``approved_packages_compliance_level``), or by the first approval rule whose every non-empty
  filter accepts it and whose ``approve_after_days`` have passed since its release (a release date
  that is not known passes only 0 days).
- A package with an approved update is **Missing** (the Install operation's targets), unless it is
  held by its package manager (it stays Missing: the plugin never overrides a hold).
- Otherwise a package whose installed version is rejected is **InstalledRejected** with BLOCK and
  **InstalledOther** with ALLOW_AS_DEPENDENCY (SSM's rule); one whose installed version the baseline
  approves (its release date aside) is **Installed**, any other **InstalledOther**. A package's
  classification, severity and section are its update's when it has one: then only an entry of
  ``approved_packages`` approves the installed version. A Windows update neither installed nor
  approved is not reported.
- Installed and InstalledOther become **InstalledPendingReboot** for packages the node names as
  waiting for a reboot.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from plugins.sdk import ComplianceLevel, PatchRecord, PatchState, RejectedAction

if TYPE_CHECKING:
    from plugins.patch.backend import Inventory, Package
    from plugins.sdk import Baseline

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Verdict:
    package: Package
    state: PatchState
    level: ComplianceLevel = ComplianceLevel.UNSPECIFIED
    target: bool = False  # the Install operation brings it to its available version

    def record(self) -> PatchRecord:
        p = self.package
        return PatchRecord(p.name, p.installed_version, p.available_version, self.state, p.classification,
                           p.severity, self.level)


def rejected(baseline: Baseline, name: str, version: str) -> bool:
    return any(spec.matches(name, version) for spec in baseline.rejected_packages)


def approval(baseline: Baseline, package: Package, version: str, now: float | None) -> ComplianceLevel | None:
    """The compliance level with which the baseline approves ``version`` of ``package``, or None.
    ``now`` None: whatever its release date (an installed version)."""
    if rejected(baseline, package.name, version):
        return None
    if any(spec.matches(package.name, version) for spec in baseline.approved_packages):
        return baseline.approved_packages_compliance_level
    for rule in baseline.approval_rules:
        if rule.classification and package.classification not in rule.classification:
            continue
        wanted = rule.severity or rule.priority
        if wanted and package.severity not in wanted:
            continue
        if rule.section and package.section not in rule.section:
            continue
        if now is not None and rule.approve_after_days:
            if package.released_at is None or now - package.released_at < rule.approve_after_days * DAY_SECONDS:
                continue
        return rule.compliance_level
    return None


def evaluate(baseline: Baseline, inventory: Inventory, now: float) -> list[Verdict]:
    out = []
    for p in inventory.packages:
        level = approval(baseline, p, p.available_version, now) if p.available_version else None
        if level is not None:
            out.append(Verdict(p, PatchState.MISSING, level, target=not p.held))
            continue
        if not p.installed_version:
            continue  # a Windows update that is neither installed nor approved
        if rejected(baseline, p.name, p.installed_version):
            block = baseline.rejected_action is RejectedAction.BLOCK
            out.append(Verdict(p, PatchState.INSTALLED_REJECTED if block else PatchState.INSTALLED_OTHER))
            continue
        if p.available_version:  # what the package says is its update's: only approved_packages can say more
            level = next((baseline.approved_packages_compliance_level for spec in baseline.approved_packages
                          if spec.matches(p.name, p.installed_version)), None)
        else:
            level = approval(baseline, p, p.installed_version, None)
        state = PatchState.INSTALLED if level is not None else PatchState.INSTALLED_OTHER
        if p.name in inventory.reboot_pending:
            state = PatchState.INSTALLED_PENDING_REBOOT
        out.append(Verdict(p, state, level or ComplianceLevel.UNSPECIFIED))
    return out


def after_install(baseline: Baseline, before: list[Verdict], inventory: Inventory, now: float,
                  reported: frozenset[str] = frozenset()) -> list[Verdict]:
    """The verdicts once the targets of ``before`` were installed, judged from ``inventory`` read
    afterwards: a target now at its version is Installed (or InstalledPendingReboot), one that is
    not is Failed, unless the installer ``reported`` it installed (it shows after the reboot:
    InstalledPendingReboot). When the node waits for a reboot without naming packages, the reboot
    is for what this install changed."""
    targets = {v.package.name: v for v in before if v.target}
    current = {p.name: p for p in inventory.packages}
    done = {name for name, v in targets.items()
            if name in current and current[name].installed_version == v.package.available_version}
    waiting = (reported & targets.keys()) - done
    pending = (inventory.reboot_pending or (frozenset(done) if inventory.reboot_required else frozenset())) | waiting
    done |= waiting
    inventory = replace(inventory, reboot_pending=pending)
    out = []
    for v in evaluate(baseline, inventory, now):
        target = targets.get(v.package.name)
        if target is None:
            out.append(v)
        elif v.package.name in done:
            state = PatchState.INSTALLED_PENDING_REBOOT if v.package.name in pending else PatchState.INSTALLED
            package = v.package if v.package.name not in waiting else target.package
            out.append(Verdict(package, state, target.level))
        else:
            failed = replace(v.package, available_version=target.package.available_version)
            out.append(Verdict(failed, PatchState.FAILED, target.level))
    seen = {v.package.name for v in out}
    out.extend(Verdict(t.package, PatchState.INSTALLED_PENDING_REBOOT if name in waiting else PatchState.FAILED,
                       t.level) for name, t in targets.items() if name not in seen)
    return out
