"""What PutBaseline stores and refuses (controller/server/baselines_api.py), what the CLI checks
before it sends a baseline (controller/cli/patching.py), and the compliance rows it shows."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from controller.cli.patching import read_baseline
from controller.cli.render import compliance_row
from controller.server.baselines_api import checked_baseline, compliance_to_pb
from controller.store.compliance import ComplianceRecord
from plugins.sdk.errors import InputError
from plugins.sdk.patching import PatchCompliance, PatchOperation, PatchRecord, PatchState, RebootOption

WEB = "name: web\ndescription: the web tier\noperating_system: debian\n"


def test_a_baseline_is_stored_as_written_with_its_os_description_and_sha256() -> None:
    rec = checked_baseline("web", WEB, "alice", 5)
    assert (rec.name, rec.content, rec.operating_system, rec.description, rec.updated_by, rec.updated_at_ms) == (
        "web", WEB, "debian", "the web tier", "alice", 5)
    assert rec.sha256 == hashlib.sha256(WEB.encode()).hexdigest()


@pytest.mark.parametrize(("name", "content", "message"), [
    ("w", WEB, "name: a baseline name is 3 to 128 letters, digits, '_', '-' or '.', got 'w'"),
    ("web/1", WEB, "name: a baseline name is 3 to 128 letters, digits, '_', '-' or '.', got 'web/1'"),
    ("db1", WEB, "baseline db1: name: the text names it 'web'; a baseline's text and the name it is stored under "
                 "must agree"),
    ("web", "name: web\noperating_system: debian\nrejected_action: block\n",
     "baseline web: rejected_action: expected one of ALLOW_AS_DEPENDENCY, BLOCK, got 'block'"),
    ("web", "name: web\n", "baseline web: operating_system: missing required key"),
    ("web", "- a list\n", "baseline web: expected a mapping, got a list"),
])
def test_a_bad_baseline_is_refused_in_one_line_naming_the_key(name: str, content: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        checked_baseline(name, content, "alice", 5)
    assert str(info.value) == message


def test_the_cli_checks_the_file_as_the_controller_does_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(WEB)
    assert read_baseline(path, "web") == WEB
    with pytest.raises(InputError) as info:
        read_baseline(path, "db1")
    assert str(info.value) == "web.yml: name: says 'web', but the baseline is 'db1': they must agree"
    path.write_text(WEB + "approval_rules:\n  - approve_after_days: 7\n")
    with pytest.raises(InputError) as info:
        read_baseline(path, "web")
    assert str(info.value).startswith("web.yml: approval_rules[0].approve_after_days: not supported for debian")
    path.write_bytes(b"name: \xff\n")
    with pytest.raises(InputError) as info:
        read_baseline(path, "web")
    assert str(info.value) == f"{path}: is not UTF-8 text (byte 6)"


def test_a_compliance_row_has_each_states_count_and_the_records() -> None:
    c = PatchCompliance.summarize(
        [PatchRecord("a", "1.0", "2.0", PatchState.MISSING), PatchRecord("b", "2.0", "", PatchState.INSTALLED)],
        baseline_id="web", operation=PatchOperation.INSTALL, reboot_option=RebootOption.NO_REBOOT,
        started_at_ms=1_000, ended_at_ms=2_000, snapshot_id="s-1")
    rec = ComplianceRecord("mi-1", "c1", "web", "Install", False, 1_000, 2_000, c.to_json().decode())
    row = compliance_row(compliance_to_pb(rec))
    assert (row["compliant"], row["missing"], row["installed"], row["installed_other"], row["snapshot_id"]) == (
        False, 1, 1, 0, "s-1")
    assert [(r["name"], r["state"]) for r in row["records"]] == [("a", "Missing"), ("b", "Installed")]  # type: ignore
    garbled = compliance_row(compliance_to_pb(ComplianceRecord("mi-1", "c1", "web", "Scan", True, 1, 2, "{")))
    assert garbled["missing"] == 0 and "records" not in garbled
