"""plugins/sdk/patching.py: baselines (data-driven: tests/plugins/baseline_cases/*.yaml, each saying on
its first line what parsing it must give) and compliance reports, which cross the wire from nodes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from plugins.sdk.errors import InputError
from plugins.sdk.patching import (
    MAX_COMPLIANCE_BYTES,
    MAX_RECORDS,
    ComplianceLevel,
    OsFamily,
    PatchCompliance,
    PatchOperation,
    PatchRecord,
    PatchSpec,
    PatchState,
    RebootOption,
    RejectedAction,
    parse_baseline,
    reboot_exit_code,
)

CASES = sorted((Path(__file__).parents[1] / "plugins" / "baseline_cases").glob("*.yaml"))
EXPECT = "# expect: "


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_baseline_case(path: Path) -> None:
    text = path.read_text()
    first = text.splitlines()[0]
    assert first.startswith(EXPECT), f"{path.name} must start with '{EXPECT}ok' or '{EXPECT}<error>'"
    expected = first[len(EXPECT):]
    if expected == "ok":
        baseline = parse_baseline(text, path.name)
        again = parse_baseline(baseline.canonical_text(), "canonical")
        assert again == baseline
        assert again.to_json() == baseline.to_json() == json.dumps(
            json.loads(baseline.to_json()), sort_keys=True, separators=(",", ":")).encode()
        return
    with pytest.raises(InputError) as info:
        parse_baseline(text, path.name)
    assert str(info.value) == f"{path.name}: {expected}"


def test_cases_cover_both_outcomes() -> None:
    firsts = [p.read_text().splitlines()[0] for p in CASES]
    assert sum(f == EXPECT + "ok" for f in firsts) >= 3 and sum(f != EXPECT + "ok" for f in firsts) >= 20


def test_a_baseline_read_whole() -> None:
    baseline = parse_baseline((CASES[0].parent / "ok_debian.yaml").read_text(), "web.yml")
    assert baseline.operating_system is OsFamily.DEBIAN
    assert baseline.rejected_action is RejectedAction.BLOCK
    assert baseline.approved_packages == (PatchSpec("openssl"), PatchSpec("nginx", "1.22.*"))
    assert [r.compliance_level for r in baseline.approval_rules] == [ComplianceLevel.CRITICAL, ComplianceLevel.MEDIUM]
    assert baseline.approval_rules[1].section == ("admin", "net", "contrib/net")
    assert PatchSpec("nginx", "1.22.*").matches("nginx", "1.22.1-1") and not PatchSpec("nginx", "1.22.*").matches(
        "nginx", "1.24.0-1")
    assert PatchSpec("linux-image-*").matches("linux-image-amd64", "6.1")


def test_a_baseline_text_is_bounded() -> None:
    with pytest.raises(InputError) as info:
        parse_baseline("name: web\n" + "#" * 70_000, "big.yml")
    assert str(info.value) == "big.yml: at most 65536 characters, got 70010"


def test_reboot_exit_codes_are_ssms() -> None:
    assert (reboot_exit_code(OsFamily.DEBIAN), reboot_exit_code(OsFamily.REDHAT),
            reboot_exit_code(OsFamily.WINDOWS)) == (194, 194, 3010)


# ---- compliance ----------------------------------------------------------------------------------

def compliance(records: list[PatchRecord] | None = None) -> PatchCompliance:
    if records is None:
        records = [PatchRecord("openssl", "3.0.1", "3.0.2", PatchState.MISSING, "security", "Important",
                               ComplianceLevel.CRITICAL),
                   PatchRecord("curl", "7.1", "7.2", PatchState.FAILED, "bugfix", ""),
                   PatchRecord("kernel", "5.14", "", PatchState.INSTALLED_PENDING_REBOOT, "security", "Critical"),
                   PatchRecord("java-17", "17.0.1", "", PatchState.INSTALLED_REJECTED),
                   PatchRecord("bash", "5.1", "", PatchState.INSTALLED, "other", "optional"),
                   PatchRecord("zlib", "1.2", "", PatchState.INSTALLED_OTHER)]
    return PatchCompliance.summarize(records, baseline_id="rhel.db", snapshot_id="6b1d-42",
                                     operation=PatchOperation.INSTALL, reboot_option=RebootOption.NO_REBOOT,
                                     started_at_ms=1_700_000_000_000, ended_at_ms=1_700_000_060_000)


def test_compliance_summarizes_and_round_trips() -> None:
    c = compliance()
    assert (c.counts.missing, c.counts.failed, c.counts.installed_rejected, c.counts.total) == (1, 1, 1, 6)
    assert not c.compliant
    assert (c.critical_non_compliant, c.security_non_compliant, c.other_non_compliant) == (1, 0, 2)
    assert [r.state for r in c.records][:3] == [PatchState.FAILED, PatchState.MISSING, PatchState.INSTALLED_REJECTED]
    data = c.to_json()
    assert PatchCompliance.from_json(data) == c
    assert json.loads(data)["counts"]["InstalledPendingReboot"] == 1 and json.loads(data)["compliant"] is False
    assert data == PatchCompliance.from_json(data).to_json()  # canonical


def test_compliant_is_ssms_rule() -> None:
    for state in PatchState:
        c = compliance([PatchRecord("p", "1", "", state)])
        assert c.compliant is (state not in (PatchState.MISSING, PatchState.FAILED, PatchState.INSTALLED_REJECTED))


def test_records_are_bounded_but_counts_are_whole() -> None:
    many = [PatchRecord(f"p{i:05}", "1", "", PatchState.INSTALLED_OTHER) for i in range(MAX_RECORDS + 5)]
    c = compliance([*many, PatchRecord("late", "1", "2", PatchState.MISSING)])
    assert (len(c.records), c.records_omitted, c.counts.installed_other) == (MAX_RECORDS, 6, MAX_RECORDS + 5)
    assert c.records[0].name == "late"  # the worst first
    assert PatchCompliance.from_json(c.to_json()) == c


def mutate(change: Any) -> bytes:
    value = json.loads(compliance().to_json())
    change(value)
    return json.dumps(value).encode()


def _set(path: str, new: Any) -> Any:
    def change(value: Any) -> None:
        *parents, last = path.split("/")
        for p in parents:
            value = value[int(p)] if p.isdigit() else value[p]
        if new is KeyError:
            del value[last]
        else:
            value[int(last) if last.isdigit() else last] = new
    return change


@pytest.mark.parametrize(("data", "message"), [
    (b"", "compliance: not valid JSON: 'Expecting value: line 1 column 1 (char 0)'"),
    (b"\xff{}", "compliance: not valid JSON: "),
    (b"[1]", "compliance: expected a mapping, got a list"),
    (b'{"a":' + b"9" * 200 + b"}", "compliance: not valid JSON: 'a number of 200 digits"),
    (b" " * (MAX_COMPLIANCE_BYTES + 1), f"compliance: at most {MAX_COMPLIANCE_BYTES} bytes"),
    (mutate(_set("extra", 1)), "compliance: extra: unknown key"),
    (mutate(_set("baseline_id", KeyError)), "compliance: baseline_id: missing required key"),
    (mutate(_set("baseline_id", "x")), "compliance: baseline_id: expected at most 128 characters"),
    (mutate(_set("operation", "Patch")), "compliance: operation: expected one of Scan, Install, got 'Patch'"),
    (mutate(_set("counts/Missing", -1)), "compliance: counts.Missing: expected 0 to 1000000, got -1"),
    (mutate(_set("counts/Missing", True)), "compliance: counts.Missing: expected 0 to 1000000, got True"),
    (mutate(_set("counts/Missing", 2)), "compliance: records: 6 records and 0 omitted, but the counts add up to 7"),
    (mutate(_set("counts/Lost", 0)), "compliance: counts.Lost: unknown key"),
    (mutate(_set("records", None)), "compliance: records: expected a list, got null"),
    (mutate(_set("records", {"a": 1})), "compliance: records: expected a list, got a mapping"),
    (mutate(_set("records/0/state", "Gone")), "compliance: records[0].state: expected one of Installed,"),
    (mutate(_set("records/0/name", "a\x00b")), "compliance: records[0].name: expected at most 256 characters"),
    (mutate(_set("records/1/name", "x" * 300)), "compliance: records[1].name: expected at most 256 characters"),
    (mutate(_set("records/0/severity", 3)), "compliance: records[0].severity: expected a string, got an integer"),
    (mutate(_set("records/0/extra", "")), "compliance: records[0].extra: unknown key"),
    (mutate(_set("records/0/state", "Installed")), "compliance: records: more Installed records than counts"),
    (mutate(_set("ended_at_ms", 0)), "compliance: ended_at_ms: before started_at_ms"),
    (mutate(_set("started_at_ms", 2**60)), "compliance: started_at_ms: expected 0 to 9007199254740992"),
    (mutate(_set("compliant", True)), "compliance: compliant: says True, but the counts make it False"),
    (mutate(_set("compliant", "false")), "compliance: compliant: says 'false', but the counts make it False"),
    (mutate(_set("critical_non_compliant", 0)), "compliance: other_non_compliant: the non-compliant counts"),
    (mutate(_set("records_omitted", 10**20)), "compliance: records_omitted: expected 0 to 7000000"),
    (b"[" * 100_000 + b"]" * 100_000, "compliance: nested deeper than 8 levels"),
    (b'{"a": "[[[[[[[[[[[[[[["}', "compliance: a: unknown key"),  # brackets in strings are no nesting
])
def test_garbage_is_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        PatchCompliance.from_json(data)
    assert str(info.value).startswith(message), str(info.value)
