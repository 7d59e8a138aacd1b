"""Patching's shared contract (SSM Patch Manager's model): a patch baseline, what may be installed on
a node, and a node's patch compliance, what a ``patch`` step found and did. docs/patching.md.

The controller validates baselines with :func:`parse_baseline` before it stores them and embeds
their canonical text in the documents it sends; the ``patch`` plugin parses that text again on the
node. A :class:`PatchCompliance` crosses the wire from a node, so :meth:`PatchCompliance.from_json`
trusts nothing: every length and count is bounded, every key and value checked.
"""
from __future__ import annotations

import dataclasses
import enum
import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plugins.sdk import strict
from plugins.sdk.errors import InputError
from plugins.sdk.limits import shown
from plugins.sdk.status import EXIT_REBOOT, EXIT_REBOOT_WINDOWS

MAX_BASELINE_CHARS = 64 * 1024
MAX_RULES = 10                 # SSM: at most 10 approval rules
MAX_PATCH_LIST = 50            # SSM: at most 50 approved and 50 rejected patches
MAX_APPROVE_AFTER_DAYS = 360   # SSM: ApproveAfterDays 0 to 360
MAX_FILTER_VALUES = 20
MAX_RECORDS = 1000             # the records a compliance report carries; counts are always whole
MAX_COMPLIANCE_BYTES = 1024 * 1024
MAX_COUNT = 1_000_000
MAX_TIME_MS = 2**53            # JSON's exact integers

_NAME = re.compile(r"[A-Za-z0-9_.-]{3,128}")  # SSM's baseline names
_SNAPSHOT = re.compile(r"[A-Za-z0-9-]{0,64}")
_SPEC_NAME = re.compile(r"[A-Za-z0-9_.+*?-]{1,128}")
_SPEC_VERSION = re.compile(r"[A-Za-z0-9_.+~:*?-]{1,128}")
_SECTION = re.compile(r"[a-z0-9][a-z0-9+./-]{0,63}")


class OsFamily(enum.Enum):
    DEBIAN = "debian"    # apt
    REDHAT = "redhat"    # dnf, yum
    WINDOWS = "windows"  # Windows Update


class ComplianceLevel(enum.Enum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    INFORMATIONAL = "INFORMATIONAL"
    UNSPECIFIED = "UNSPECIFIED"


class RejectedAction(enum.Enum):
    ALLOW_AS_DEPENDENCY = "ALLOW_AS_DEPENDENCY"  # never installed by name; may come in as a dependency
    BLOCK = "BLOCK"                              # never installed at all; installed already: InstalledRejected


class PatchOperation(enum.Enum):
    SCAN = "Scan"
    INSTALL = "Install"


class RebootOption(enum.Enum):
    REBOOT_IF_NEEDED = "RebootIfNeeded"
    NO_REBOOT = "NoReboot"


class PatchState(enum.Enum):
    INSTALLED = "Installed"                            # an approved update, installed
    INSTALLED_OTHER = "InstalledOther"                 # installed, not approved by the baseline
    INSTALLED_PENDING_REBOOT = "InstalledPendingReboot"
    INSTALLED_REJECTED = "InstalledRejected"           # a rejected version installed (BLOCK)
    MISSING = "Missing"                                # an approved update, not installed
    FAILED = "Failed"                                  # an approved update whose install failed
    NOT_APPLICABLE = "NotApplicable"


def reboot_exit_code(os_family: OsFamily) -> int:
    """The exit code with which a step asks the agent to reboot the node and run the step again:
    SSM's 194, 3010 on Windows (agent/reboot.py)."""
    return EXIT_REBOOT_WINDOWS if os_family is OsFamily.WINDOWS else EXIT_REBOOT


NON_COMPLIANT = frozenset({PatchState.MISSING, PatchState.FAILED, PatchState.INSTALLED_REJECTED})
SECURITY_CLASSIFICATIONS = frozenset({"security", "SecurityUpdates"})

# The words of each package manager, as docs/patching.md tabulates them.
CLASSIFICATIONS: Mapping[OsFamily, tuple[str, ...]] = {
    OsFamily.DEBIAN: ("security", "other"),
    OsFamily.REDHAT: ("security", "bugfix", "enhancement", "newpackage", "other"),
    OsFamily.WINDOWS: ("CriticalUpdates", "DefinitionUpdates", "Drivers", "FeaturePacks", "SecurityUpdates",
                       "ServicePacks", "Tools", "UpdateRollups", "Updates", "Upgrades"),
}
SEVERITIES: Mapping[OsFamily, tuple[str, ...]] = {
    OsFamily.REDHAT: ("Critical", "Important", "Moderate", "Low"),
    OsFamily.WINDOWS: ("Critical", "Important", "Moderate", "Low", "Unspecified"),
}
PRIORITIES = ("required", "important", "standard", "optional", "extra")  # Debian's Priority field


@dataclass(frozen=True)
class PatchSpec:
    """An approved or rejected entry: ``name`` or ``name=version``; ``*`` and ``?`` are globs."""
    name: str
    version: str = ""  # "" is every version

    def matches(self, name: str, version: str) -> bool:
        return fnmatch.fnmatchcase(name, self.name) and (
            not self.version or fnmatch.fnmatchcase(version, self.version))

    def __str__(self) -> str:
        return f"{self.name}={self.version}" if self.version else self.name


@dataclass(frozen=True)
class ApprovalRule:
    """Approves the updates that every non-empty filter accepts (an empty filter accepts any),
    ``approve_after_days`` after their release."""
    classification: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()   # redhat (advisory severity), windows (MSRC severity)
    priority: tuple[str, ...] = ()   # debian: the Priority field
    section: tuple[str, ...] = ()    # debian: the Section field
    approve_after_days: int = 0
    compliance_level: ComplianceLevel = ComplianceLevel.UNSPECIFIED

    def to_value(self) -> dict[str, object]:
        return {"classification": list(self.classification), "severity": list(self.severity),
                "priority": list(self.priority), "section": list(self.section),
                "approve_after_days": self.approve_after_days, "compliance_level": self.compliance_level.value}


@dataclass(frozen=True)
class Baseline:
    name: str
    operating_system: OsFamily
    description: str = ""
    approval_rules: tuple[ApprovalRule, ...] = ()
    approved_packages: tuple[PatchSpec, ...] = ()
    approved_packages_compliance_level: ComplianceLevel = ComplianceLevel.UNSPECIFIED
    rejected_packages: tuple[PatchSpec, ...] = ()
    rejected_action: RejectedAction = RejectedAction.ALLOW_AS_DEPENDENCY

    def to_json(self) -> bytes:
        """The canonical JSON form: every key, sorted, compact. :func:`parse_baseline` reads it back."""
        return strict.canonical_json({
            "name": self.name, "description": self.description, "operating_system": self.operating_system.value,
            "approval_rules": [r.to_value() for r in self.approval_rules],
            "approved_packages": [str(s) for s in self.approved_packages],
            "approved_packages_compliance_level": self.approved_packages_compliance_level.value,
            "rejected_packages": [str(s) for s in self.rejected_packages],
            "rejected_action": self.rejected_action.value})

    def canonical_text(self) -> str:
        """What the controller puts in a ``patch`` step's ``baseline`` input."""
        return self.to_json().decode()


# ---- reading a baseline ---------------------------------------------------------------------------

def _filter(raw: Any, where: str, allowed: tuple[str, ...] | None, os_family: OsFamily) -> tuple[str, ...]:
    """A rule's filter: values from ``allowed``; None when the filter does not apply to the OS family."""
    if allowed is None:
        if raw:
            raise InputError(where, f"not a filter of {os_family.value} updates")
        return ()

    def word(v: Any, w: str) -> str:
        if v not in allowed:
            raise InputError(w, f"expected one of {', '.join(allowed)}, got {shown(v)}")
        return str(v)
    return strict.listed(raw, where, MAX_FILTER_VALUES, word)


def _section(raw: Any, where: str, os_family: OsFamily) -> tuple[str, ...]:
    if os_family is not OsFamily.DEBIAN:
        return _filter(raw, where, None, os_family)
    return strict.listed(raw, where, MAX_FILTER_VALUES, lambda v, w: strict.string(v, w, _SECTION, "a Debian section"))


_RULE_KEYS = ("classification", "severity", "priority", "section", "approve_after_days", "compliance_level")


def _rule(raw: Any, where: str, os_family: OsFamily) -> ApprovalRule:
    m = strict.mapping(raw, where, _RULE_KEYS)
    debian = os_family is OsFamily.DEBIAN
    days = strict.integer(m.get("approve_after_days", 0), f"{where}.approve_after_days", 0, MAX_APPROVE_AFTER_DAYS)
    if days and debian:
        raise InputError(f"{where}.approve_after_days", "not supported for debian: Debian repositories "
                         "publish no release date per package (as in SSM); use 0 or leave it out")
    return ApprovalRule(
        classification=_filter(m.get("classification"), f"{where}.classification", CLASSIFICATIONS[os_family],
                               os_family),
        severity=_filter(m.get("severity"), f"{where}.severity", SEVERITIES.get(os_family), os_family),
        priority=_filter(m.get("priority"), f"{where}.priority", PRIORITIES if debian else None, os_family),
        section=_section(m.get("section"), f"{where}.section", os_family),
        approve_after_days=days,
        compliance_level=strict.choice(m.get("compliance_level", "UNSPECIFIED"), f"{where}.compliance_level",
                                       ComplianceLevel))


def _spec(raw: Any, where: str, os_family: OsFamily) -> PatchSpec:
    text = strict.string(raw, where)
    name, sep, version = text.partition("=")
    if not _SPEC_NAME.fullmatch(name) or (sep and not _SPEC_VERSION.fullmatch(version)):
        raise InputError(where, f"expected a package name or name=version (globs * and ?), got {shown(text)}")
    if sep and os_family is OsFamily.WINDOWS:
        raise InputError(where, "windows updates are named by their KB id, without a version")
    return PatchSpec(name, version)


_BASELINE_KEYS = ("name", "description", "operating_system", "approval_rules", "approved_packages",
                  "approved_packages_compliance_level", "rejected_packages", "rejected_action")


def is_baseline_name(text: str) -> bool:
    """Whether ``text`` is a baseline's name (3 to 128 letters, digits, '_', '-' or '.'): a ``patch``
    step's ``baseline`` input holds a name, which the controller replaces with that baseline's text
    when it sends the document, or a baseline's text, which is a mapping and so never a name."""
    return _NAME.fullmatch(text) is not None


def parse_baseline(text: str, where: str) -> Baseline:
    """A baseline from its YAML (or canonical JSON) text. Raises :class:`InputError` naming ``where``
    and the key for anything unknown, missing or out of bounds."""
    m = strict.mapping(strict.load_yaml(text, where, max_chars=MAX_BASELINE_CHARS), where, _BASELINE_KEYS,
                       ("name", "operating_system"))
    at = lambda key: strict.child(where, key)  # noqa: E731
    os_family = strict.choice(m["operating_system"], at("operating_system"), OsFamily)
    specs = lambda key: strict.listed(m.get(key), at(key), MAX_PATCH_LIST,  # noqa: E731
                                      lambda v, w: _spec(v, w, os_family))
    return Baseline(
        name=strict.string(m["name"], at("name"), _NAME, "3 to 128 letters, digits, '_', '-' or '.'"),
        operating_system=os_family,
        description=strict.string(m.get("description", ""), at("description"), strict.TEXT,
                                  "at most 1024 characters, no control characters", 1024),
        approval_rules=strict.listed(m.get("approval_rules"), at("approval_rules"), MAX_RULES,
                                     lambda v, w: _rule(v, w, os_family)),
        approved_packages=specs("approved_packages"),
        approved_packages_compliance_level=strict.choice(
            m.get("approved_packages_compliance_level", "UNSPECIFIED"), at("approved_packages_compliance_level"),
            ComplianceLevel),
        rejected_packages=specs("rejected_packages"),
        rejected_action=strict.choice(m.get("rejected_action", "ALLOW_AS_DEPENDENCY"), at("rejected_action"),
                                      RejectedAction))


# ---- compliance -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PatchRecord:
    name: str
    installed_version: str   # "" when not installed
    available_version: str   # "" when no update applies
    state: PatchState
    classification: str = ""
    severity: str = ""       # debian: the Priority field
    compliance_level: ComplianceLevel = ComplianceLevel.UNSPECIFIED


@dataclass(frozen=True)
class PatchCounts:
    installed: int = 0
    installed_other: int = 0
    installed_pending_reboot: int = 0
    installed_rejected: int = 0
    missing: int = 0
    failed: int = 0
    not_applicable: int = 0

    def of(self, state: PatchState) -> int:
        return int(getattr(self, state.name.lower()))

    @property
    def total(self) -> int:
        return sum(self.of(s) for s in PatchState)


_STATE_ORDER = {s: i for i, s in enumerate((
    PatchState.FAILED, PatchState.MISSING, PatchState.INSTALLED_REJECTED, PatchState.INSTALLED_PENDING_REBOOT,
    PatchState.INSTALLED, PatchState.NOT_APPLICABLE, PatchState.INSTALLED_OTHER))}


@dataclass(frozen=True)
class PatchCompliance:
    """A node's patch compliance after one ``patch`` step (SSM's InstancePatchState)."""
    baseline_id: str
    operation: PatchOperation
    reboot_option: RebootOption
    started_at_ms: int
    ended_at_ms: int
    counts: PatchCounts
    records: tuple[PatchRecord, ...] = ()  # the worst first, at most MAX_RECORDS
    records_omitted: int = 0
    snapshot_id: str = ""
    critical_non_compliant: int = 0  # non-compliant, compliance level CRITICAL
    security_non_compliant: int = 0  # non-compliant, classified security
    other_non_compliant: int = 0     # non-compliant, neither

    @property
    def compliant(self) -> bool:
        """SSM's rule: non-compliant when any patch is Missing, Failed or InstalledRejected."""
        return not any(self.counts.of(s) for s in NON_COMPLIANT)

    @classmethod
    def summarize(cls, records: list[PatchRecord] | tuple[PatchRecord, ...], **fields: Any) -> PatchCompliance:
        """Counts from every record; the records kept are the worst MAX_RECORDS."""
        ordered = sorted(records, key=lambda r: (_STATE_ORDER[r.state], r.name))
        bad = [r for r in records if r.state in NON_COMPLIANT]
        critical = sum(r.compliance_level is ComplianceLevel.CRITICAL for r in bad)
        security = sum(r.compliance_level is not ComplianceLevel.CRITICAL
                       and r.classification in SECURITY_CLASSIFICATIONS for r in bad)
        counts = PatchCounts(**{s.name.lower(): sum(r.state is s for r in records) for s in PatchState})
        return cls(counts=counts, records=tuple(ordered[:MAX_RECORDS]),
                   records_omitted=max(0, len(ordered) - MAX_RECORDS), critical_non_compliant=critical,
                   security_non_compliant=security, other_non_compliant=len(bad) - critical - security, **fields)

    def to_value(self) -> dict[str, object]:
        return {
            "baseline_id": self.baseline_id, "snapshot_id": self.snapshot_id, "operation": self.operation.value,
            "reboot_option": self.reboot_option.value, "started_at_ms": self.started_at_ms,
            "ended_at_ms": self.ended_at_ms, "compliant": self.compliant,
            "counts": {s.value: self.counts.of(s) for s in PatchState},
            "critical_non_compliant": self.critical_non_compliant,
            "security_non_compliant": self.security_non_compliant, "other_non_compliant": self.other_non_compliant,
            "records": [{"name": r.name, "installed_version": r.installed_version,
                         "available_version": r.available_version, "state": r.state.value,
                         "classification": r.classification, "severity": r.severity,
                         "compliance_level": r.compliance_level.value} for r in self.records],
            "records_omitted": self.records_omitted}

    def to_json(self) -> bytes:
        return strict.canonical_json(self.to_value())

    @classmethod
    def from_json(cls, data: bytes, where: str = "compliance") -> PatchCompliance:
        """Parse and check a node's report; InputError names the first thing wrong."""
        return _compliance(strict.load_json(data, where, max_bytes=MAX_COMPLIANCE_BYTES, max_depth=8), where)


def _text(raw: Any, where: str, limit: int, pattern: re.Pattern[str] = strict.TEXT,
          what: str = "no control characters") -> str:
    return strict.string(raw, where, pattern, f"at most {limit} characters, {what}", limit)


def _count(raw: Any, where: str, limit: int = MAX_COUNT) -> int:
    return strict.integer(raw, where, 0, limit)


_RECORD_KEYS = tuple(f.name for f in dataclasses.fields(PatchRecord))
_COMPLIANCE_KEYS = ("baseline_id", "snapshot_id", "operation", "reboot_option", "started_at_ms", "ended_at_ms",
                    "compliant", "counts", "critical_non_compliant", "security_non_compliant",
                    "other_non_compliant", "records", "records_omitted")


def _record(raw: Any, where: str) -> PatchRecord:
    m = strict.mapping(raw, where, _RECORD_KEYS, _RECORD_KEYS)
    return PatchRecord(
        name=_text(m["name"], f"{where}.name", 256), installed_version=_text(m["installed_version"],
                                                                            f"{where}.installed_version", 128),
        available_version=_text(m["available_version"], f"{where}.available_version", 128),
        state=strict.choice(m["state"], f"{where}.state", PatchState),
        classification=_text(m["classification"], f"{where}.classification", 64),
        severity=_text(m["severity"], f"{where}.severity", 64),
        compliance_level=strict.choice(m["compliance_level"], f"{where}.compliance_level", ComplianceLevel))


def _compliance(raw: Any, where: str) -> PatchCompliance:
    m = strict.mapping(raw, where, _COMPLIANCE_KEYS, _COMPLIANCE_KEYS)
    at = lambda key: strict.child(where, key)  # noqa: E731
    states = tuple(s.value for s in PatchState)
    counts_raw = strict.mapping(m["counts"], at("counts"), states, states)
    counts = PatchCounts(**{s.name.lower(): _count(counts_raw[s.value], f"{at('counts')}.{s.value}")
                            for s in PatchState})
    records = strict.listed(m["records"], at("records"), MAX_RECORDS, _record, null_ok=False)
    started = _count(m["started_at_ms"], at("started_at_ms"), MAX_TIME_MS)
    ended = _count(m["ended_at_ms"], at("ended_at_ms"), MAX_TIME_MS)
    if ended < started:
        raise InputError(at("ended_at_ms"), f"before started_at_ms ({ended} < {started})")
    out = PatchCompliance(
        baseline_id=_text(m["baseline_id"], at("baseline_id"), 128, _NAME, "letters, digits, '_', '-' or '.'"),
        snapshot_id=_text(m["snapshot_id"], at("snapshot_id"), 64, _SNAPSHOT, "letters, digits or '-'"),
        operation=strict.choice(m["operation"], at("operation"), PatchOperation),
        reboot_option=strict.choice(m["reboot_option"], at("reboot_option"), RebootOption),
        started_at_ms=started, ended_at_ms=ended, counts=counts, records=records,
        records_omitted=_count(m["records_omitted"], at("records_omitted"), MAX_COUNT * len(PatchState)),
        critical_non_compliant=_count(m["critical_non_compliant"], at("critical_non_compliant")),
        security_non_compliant=_count(m["security_non_compliant"], at("security_non_compliant")),
        other_non_compliant=_count(m["other_non_compliant"], at("other_non_compliant")))
    if len(records) + out.records_omitted != counts.total:
        raise InputError(at("records"), f"{len(records)} records and {out.records_omitted} omitted, "
                         f"but the counts add up to {counts.total}")
    for state in PatchState:
        if sum(r.state is state for r in records) > counts.of(state):
            raise InputError(at("records"), f"more {state.value} records than counts.{state.value}")
    bad = sum(counts.of(s) for s in NON_COMPLIANT)
    if out.critical_non_compliant + out.security_non_compliant + out.other_non_compliant != bad:
        raise InputError(at("other_non_compliant"), f"the non-compliant counts do not add up to {bad}")
    if m["compliant"] is not out.compliant:
        raise InputError(at("compliant"), f"says {shown(m['compliant'])}, but the counts make it {out.compliant}")
    return out
