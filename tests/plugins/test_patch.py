"""The patch plugin against real apt and dpkg, on a root of its own (patch_sandbox.py): never the
machine's own packages (asserted). The dnf and Windows Update backends run against stand-ins (shell
scripts named as the tools they stand in for, answering canned output) that record their argv.
The shared contract (baselines, compliance) is tests/sdk/test_patching.py."""
from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from plugins.patch.plugin import PatchInputs, PatchPlugin
from plugins.sdk.contract import OutputStreamKind, RunContext, StepOutcome
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import ENTRY_POINT_GROUP, PluginRegistry
from plugins.sdk.patching import PatchCompliance, PatchOperation, PatchState
from plugins.sdk.status import Detail
from tests.plugins import patch_sandbox as sandbox

needs_dpkg = pytest.mark.skipif(not all(shutil.which(t) for t in ("dpkg-deb", "dpkg-scanpackages", "apt-get")),
                                reason="needs dpkg-deb, dpkg-scanpackages and apt-get")

ALL = "outpost-demo-a", "outpost-demo-b", "outpost-demo-kernel", "outpost-demo-rejected"
APPROVE_ALL = """\
name: demo-all
operating_system: debian
approval_rules:
  - compliance_level: HIGH
rejected_packages: [outpost-demo-rejected]
rejected_action: {action}
"""


class Sink:
    def __init__(self) -> None:
        self.data = {OutputStreamKind.STDOUT: b"", OutputStreamKind.STDERR: b""}

    async def write(self, stream: OutputStreamKind, data: bytes) -> None:
        self.data[stream] += data

    def text(self) -> str:
        return self.data[OutputStreamKind.STDOUT].decode()


@pytest.fixture(scope="module", autouse=True)
def host_dpkg_untouched() -> Iterator[None]:
    before = sandbox.host_status_digest()
    yield
    assert sandbox.host_status_digest() == before, "the tests changed the machine's /var/lib/dpkg/status"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> sandbox.Repository:
    return sandbox.build_repository(tmp_path_factory.mktemp("patch-repo"))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, repo: sandbox.Repository) -> sandbox.Sandbox:
    return sandbox.make_root(tmp_path_factory.mktemp("patch-template") / "root", repo)


@pytest.fixture
def box(tmp_path: Path, template: sandbox.Sandbox, repo: sandbox.Repository) -> sandbox.Sandbox:
    return sandbox.copy_root(template, tmp_path / "root", repo)


def make_ctx(env: dict[str, str], workdir: Path, sink: Sink, *, check_mode: bool = False) -> RunContext:
    workdir.mkdir(exist_ok=True)
    return RunContext(command_id="cmd-1", node_id="node-1", step_name="patch", step_index=0, check_mode=check_mode,
                      workdir=str(workdir), output=sink, logger=logging.LoggerAdapter(logging.getLogger("t"), {}),
                      cancel_grace_seconds=5.0, environment=env)


def run_patch(box: sandbox.Sandbox | dict[str, str], workdir: Path, raw: dict[str, object], *,
              check_mode: bool = False, plugin: PatchPlugin | None = None) -> tuple[StepOutcome, PatchCompliance, str]:
    """Bind ``raw`` as the agent does, run the step; ``box``: the sandbox, or the step's environment."""
    bound = PluginRegistry([plugin or PatchPlugin()]).bind("patch", raw, "task")
    sink = Sink()
    env = box if isinstance(box, dict) else box.env
    outcome = asyncio.run(bound.plugin.run(make_ctx(env, workdir, sink, check_mode=check_mode), bound.inputs))
    assert outcome.compliance is not None
    assert PatchCompliance.from_json(outcome.compliance.to_json()) == outcome.compliance  # as it crosses the wire
    return outcome, outcome.compliance, sink.text()


def states(compliance: PatchCompliance) -> dict[str, tuple[str, str, PatchState]]:
    return {r.name: (r.installed_version, r.available_version, r.state) for r in compliance.records}


def test_spec_and_entry_point() -> None:
    spec = PatchPlugin.spec
    assert (spec.name, spec.supports_check_mode) == ("patch", True)
    assert spec.platforms == frozenset({Platform.LINUX, Platform.WINDOWS})
    (ep,) = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name="patch")
    assert ep.load() is PatchPlugin
    bound = PluginRegistry([PatchPlugin()]).bind("patch", {"operation": "Scan", "baseline": "x"}, "t")
    assert bound.inputs == PatchInputs(operation="Scan", baseline="x", reboot_option="RebootIfNeeded")


@needs_dpkg
def test_scan_reports_the_updates_missing_and_changes_nothing(box: sandbox.Sandbox, tmp_path: Path) -> None:
    status = (box.root / "var/lib/dpkg/status").read_bytes()
    outcome, compliance, out = run_patch(box, tmp_path / "w", {
        "operation": "Scan", "baseline": APPROVE_ALL.format(action="ALLOW_AS_DEPENDENCY"), "snapshot_id": "s-1"})
    assert (outcome.detail, outcome.exit_code, outcome.changed) == (Detail.SUCCESS, 0, False)
    assert states(compliance) == {
        "outpost-demo-a": ("1.0", "2.0", PatchState.MISSING),
        "outpost-demo-b": ("1.0", "2.0", PatchState.MISSING),
        "outpost-demo-kernel": ("1.0", "2.0", PatchState.MISSING),
        # its 2.0 is rejected; its 1.0 too, but ALLOW_AS_DEPENDENCY says that is compliant (as SSM)
        "outpost-demo-rejected": ("1.0", "2.0", PatchState.INSTALLED_OTHER),
    }
    assert (compliance.counts.missing, compliance.counts.installed_other, compliance.counts.total) == (3, 1, 4)
    assert not compliance.compliant
    assert (compliance.operation, compliance.snapshot_id, compliance.baseline_id) == (
        PatchOperation.SCAN, "s-1", "demo-all")
    assert (box.root / "var/lib/dpkg/status").read_bytes() == status
    assert box.installed() == dict.fromkeys(ALL, "1.0")
    assert ["outpost-demo-a", "1.0", "2.0", "Missing"] in [line.split() for line in out.splitlines()]
    assert "NON-COMPLIANT" in out
    kernel = next(r for r in compliance.records if r.name == "outpost-demo-kernel")
    a = next(r for r in compliance.records if r.name == "outpost-demo-a")
    assert (kernel.classification, kernel.severity, a.classification, a.severity) == (
        "security", "important", "other", "optional")
    assert compliance.security_non_compliant == 1 and compliance.other_non_compliant == 2


@needs_dpkg
@pytest.mark.parametrize(("rule", "missing"), [
    ("classification: [security]", {"outpost-demo-kernel"}),
    ("priority: [optional]", {"outpost-demo-a", "outpost-demo-b"}),
    ("section: [admin, kernel]", {"outpost-demo-a", "outpost-demo-kernel"}),
    ("{classification: [other], section: [net]}", {"outpost-demo-b"}),
])
def test_approval_rules_filter_on_what_apt_says(box: sandbox.Sandbox, tmp_path: Path, rule: str,
                                                 missing: set[str]) -> None:
    baseline = f"name: filtered\noperating_system: debian\napproval_rules:\n  - {rule}\n"
    _, compliance, _ = run_patch(box, tmp_path / "w", {"operation": "Scan", "baseline": baseline})
    assert {n for n, (_, _, s) in states(compliance).items() if s is PatchState.MISSING} == missing
    assert compliance.counts.installed_other == 4 - len(missing)


@needs_dpkg
def test_install_upgrades_and_asks_for_the_reboot_it_needs(box: sandbox.Sandbox, tmp_path: Path) -> None:
    outcome, compliance, out = run_patch(box, tmp_path / "w", {
        "operation": "Install", "baseline": APPROVE_ALL.format(action="ALLOW_AS_DEPENDENCY")})
    # outpost-demo-b 2.0 needs outpost-demo-rejected 2.0: ALLOW_AS_DEPENDENCY lets it in as a dependency
    assert box.installed() == dict.fromkeys(ALL, "2.0")
    assert states(compliance) == {
        "outpost-demo-a": ("2.0", "", PatchState.INSTALLED),
        "outpost-demo-b": ("2.0", "", PatchState.INSTALLED),
        "outpost-demo-kernel": ("2.0", "", PatchState.INSTALLED_PENDING_REBOOT),  # reboot-required.pkgs names it
        "outpost-demo-rejected": ("2.0", "", PatchState.INSTALLED_OTHER),
    }
    assert compliance.compliant and compliance.operation is PatchOperation.INSTALL
    assert (outcome.exit_code, outcome.changed) == (194, True)  # reboot, then run the step again
    assert "Setting up outpost-demo-a (2.0)" in out  # apt-get's own output, as it ran
    assert "asking the agent to reboot" in out


@needs_dpkg
def test_install_with_no_reboot_leaves_the_reboot_pending(box: sandbox.Sandbox, tmp_path: Path) -> None:
    outcome, compliance, _ = run_patch(box, tmp_path / "w", {
        "operation": "Install", "reboot_option": "NoReboot",
        "baseline": APPROVE_ALL.format(action="ALLOW_AS_DEPENDENCY")})
    assert (outcome.detail, outcome.exit_code, outcome.error) == (Detail.SUCCESS, 0, "")
    assert compliance.counts.installed_pending_reboot == 1 and compliance.compliant
    # a second Install finds nothing to do and, with NoReboot, does not ask for the reboot either
    outcome, compliance, _ = run_patch(box, tmp_path / "w", {
        "operation": "Install", "reboot_option": "NoReboot",
        "baseline": APPROVE_ALL.format(action="ALLOW_AS_DEPENDENCY")})
    assert (outcome.exit_code, outcome.changed, compliance.counts.missing) == (0, False, 0)


@needs_dpkg
def test_block_keeps_a_rejected_package_out_even_as_a_dependency(box: sandbox.Sandbox, tmp_path: Path) -> None:
    outcome, compliance, out = run_patch(box, tmp_path / "w", {
        "operation": "Install", "reboot_option": "NoReboot", "baseline": APPROVE_ALL.format(action="BLOCK")})
    assert box.installed() == {"outpost-demo-a": "2.0", "outpost-demo-b": "1.0", "outpost-demo-kernel": "2.0",
                               "outpost-demo-rejected": "1.0"}
    assert states(compliance) == {
        "outpost-demo-a": ("2.0", "", PatchState.INSTALLED),
        "outpost-demo-b": ("1.0", "2.0", PatchState.FAILED),  # it needs outpost-demo-rejected 2.0
        "outpost-demo-kernel": ("2.0", "", PatchState.INSTALLED_PENDING_REBOOT),
        "outpost-demo-rejected": ("1.0", "", PatchState.INSTALLED_REJECTED),  # BLOCK: installed, rejected
    }
    assert (outcome.detail, outcome.exit_code) == (Detail.FAILED, 1)
    assert outcome.error == "1 update(s) failed to install: outpost-demo-b"
    assert not compliance.compliant and compliance.counts.installed_rejected == 1
    assert "installing outpost-demo-b=2.0 alone" in out
    assert not (box.root / "etc/apt/preferences").exists()  # the pins were the step's own


@needs_dpkg
def test_block_of_one_version_keeps_the_installed_one(box: sandbox.Sandbox, tmp_path: Path) -> None:
    baseline = APPROVE_ALL.format(action="BLOCK").replace("[outpost-demo-rejected]", "['outpost-demo-rejected=2.*']")
    _, compliance, _ = run_patch(box, tmp_path / "w", {"operation": "Scan", "baseline": baseline})
    assert states(compliance)["outpost-demo-rejected"] == ("1.0", "", PatchState.INSTALLED)  # 1.0 is approved


@needs_dpkg
def test_approved_packages_alone(box: sandbox.Sandbox, tmp_path: Path) -> None:
    baseline = ("name: only-a\noperating_system: debian\napproved_packages: ['outpost-demo-a=2.0']\n"
                "approved_packages_compliance_level: CRITICAL\n")
    outcome, compliance, _ = run_patch(box, tmp_path / "w", {"operation": "Install", "baseline": baseline})
    assert box.installed() == {**dict.fromkeys(ALL, "1.0"), "outpost-demo-a": "2.0"}
    assert states(compliance)["outpost-demo-a"] == ("2.0", "", PatchState.INSTALLED)
    assert (outcome.exit_code, compliance.counts.installed, compliance.counts.installed_other) == (0, 1, 3)


@needs_dpkg
def test_check_mode_says_what_install_would_do_and_installs_nothing(box: sandbox.Sandbox, tmp_path: Path) -> None:
    outcome, compliance, out = run_patch(box, tmp_path / "w", {
        "operation": "Install", "baseline": APPROVE_ALL.format(action="BLOCK")}, check_mode=True)
    assert box.installed() == dict.fromkeys(ALL, "1.0")
    assert "check mode: Install would install 3 update(s): outpost-demo-a 1.0 -> 2.0" in out
    assert (outcome.detail, outcome.exit_code, outcome.changed) == (Detail.SUCCESS, 0, False)
    assert compliance.operation is PatchOperation.SCAN and compliance.counts.missing == 3


@needs_dpkg
def test_a_held_package_is_not_installed(box: sandbox.Sandbox, tmp_path: Path) -> None:
    sandbox._run(["sh", "-c", f"echo 'outpost-demo-a hold' | dpkg --root={box.root} --set-selections"])
    _, compliance, _ = run_patch(box, tmp_path / "w", {
        "operation": "Install", "reboot_option": "NoReboot", "baseline": APPROVE_ALL.format(action="BLOCK")})
    assert box.installed()["outpost-demo-a"] == "1.0"
    assert states(compliance)["outpost-demo-a"] == ("1.0", "2.0", PatchState.MISSING)


@needs_dpkg
@pytest.mark.parametrize(("raw", "message"), [
    ({"operation": "Scan", "baseline": "name: x\n"}, "baseline: operating_system: missing required key"),
    ({"operation": "Scan", "baseline": "name: win\noperating_system: windows\n"},
     "baseline win is for windows nodes; this node patches with apt (debian)"),
    ({"operation": "Scan", "baseline": APPROVE_ALL.format(action="BLOCK"), "snapshot_id": "a b"},
     "snapshot_id: expected 1 to 64 letters, digits or '-', got 'a b'"),
    # a name the controller did not replace with its baseline's text (it always does when it sends)
    ({"operation": "Scan", "baseline": "demo-all"}, "baseline: 'demo-all' names a baseline stored on the "
     "controller, which puts its text here when it sends the document; this step came without it"),
])
def test_refusals(box: sandbox.Sandbox, tmp_path: Path, raw: dict[str, object], message: str) -> None:
    from plugins.sdk.errors import PluginError
    with pytest.raises(PluginError) as info:
        run_patch(box, tmp_path / "w", raw)
    assert str(info.value) == message


# ---- dnf, through stand-ins for dnf and rpm ------------------------------------------------------

DNF_STAND_IN = r"""#!/bin/sh
# a stand-in for dnf: records its argv, answers canned output; `upgrade` makes openssl 17.el9
for a in dnf "$@"; do printf '%s\037' "$a"; done >> "$STAND_IN_LOG"; printf '\n' >> "$STAND_IN_LOG"
case "$*" in
  "-q -y makecache") exit 0 ;;
  "-q check-update"*)
    [ -e "$STAND_IN_STATE/upgraded" ] || printf 'openssl.noarch   1:3.0.7-17.el9   baseos\n'
    printf 'bash.noarch      5.1.8-9.el9      baseos\ncurl.noarch      7.76.1-30.el9    baseos\n'
    printf 'a-package-with-a-very-long-name-that-yum-wraps.noarch\n        2.0-1.el9   appstream\n'
    printf 'kernel.noarch    5.14.0-2.el9     baseos\nObsoleting Packages\nold.noarch 1-1 baseos\n'
    exit 100 ;;
  "-q updateinfo list updates")
    printf 'RHSA-2024:0001 Important/Sec. openssl-1:3.0.7-17.el9.noarch\n'
    printf 'RHBA-2024:0002 bugfix         bash-5.1.8-9.el9.noarch\n'
    printf 'RHSA-2999:0004 Critical/Sec.  curl-7.76.1-30.el9.noarch\n'
    printf 'RHSA-2024:0003 Critical/Sec.  kernel-5.14.0-2.el9.noarch\n' ;;
  "-q updateinfo info updates")
    printf '  Update ID: RHSA-2024:0001\n       Type: security\n    Updated: 2024-01-02 00:00:00\n\n'
    printf '  Update ID: RHSA-2999:0004\n       Type: security\n    Updated: 2999-01-02 00:00:00\n' ;;
  "-q needs-restarting -r")
    if [ -e "$STAND_IN_STATE/upgraded" ]; then
      printf 'Core libraries or services have been updated since boot-up:\n  * openssl\n\n'
      printf 'Reboot is required to fully utilize these updates.\n'; exit 1
    fi
    printf 'No core libraries or services have been updated since boot-up.\nReboot should not be necessary.\n' ;;
  "-y upgrade"*) : > "$STAND_IN_STATE/upgraded"; printf 'Upgraded:\n  openssl-1:3.0.7-17.el9.noarch\nComplete!\n' ;;
  *) printf 'unexpected: %s\n' "$*" >&2; exit 2 ;;
esac
"""
RPM_STAND_IN = r"""#!/bin/sh
# a stand-in for rpm -qa
for a in rpm "$@"; do printf '%s\037' "$a"; done >> "$STAND_IN_LOG"; printf '\n' >> "$STAND_IN_LOG"
if [ -e "$STAND_IN_STATE/upgraded" ]; then v=17; else v=16; fi
printf 'openssl\t1:3.0.7-%s.el9\tnoarch\nbash\t0:5.1.8-6.el9\tnoarch\ncurl\t0:7.76.1-26.el9\tnoarch\n' "$v"
printf 'a-package-with-a-very-long-name-that-yum-wraps\t0:1.0-1.el9\tnoarch\n'
printf 'kernel\t0:5.14.0-1.el9\tnoarch\ngpg-pubkey\t0:fd431d51-4ae0493b\t(none)\n'
"""
REDHAT_BASELINE = """\
name: rhel
operating_system: redhat
approval_rules:
  - classification: [security]
    severity: [Critical, Important]
    approve_after_days: 7
    compliance_level: CRITICAL
rejected_packages: ["kernel*"]
rejected_action: BLOCK
"""
RPM_QA = ["rpm", "-qa", "--qf", r"%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\n"]
DNF_SCAN = [["dnf", "-q", "-y", "makecache"], RPM_QA, ["dnf", "-q", "check-update", "--exclude=kernel*"],
            ["dnf", "-q", "updateinfo", "list", "updates"], ["dnf", "-q", "updateinfo", "info", "updates"],
            ["dnf", "-q", "needs-restarting", "-r"]]


def stand_ins(tmp_path: Path, scripts: dict[str, str]) -> dict[str, str]:
    """A directory of stand-in executables, alone on PATH; the environment that finds them."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {"PATH": str(bin_dir), "STAND_IN_LOG": str(tmp_path / "argv.log"), "STAND_IN_STATE": str(state)}


def recorded(env: dict[str, str]) -> list[list[str]]:
    return [line.split("\x1f")[:-1] for line in Path(env["STAND_IN_LOG"]).read_text().splitlines()]


def test_dnf_scan_with_dnf_and_rpm_stand_ins(tmp_path: Path) -> None:
    env = stand_ins(tmp_path, {"dnf": DNF_STAND_IN, "rpm": RPM_STAND_IN})
    outcome, compliance, _ = run_patch(env, tmp_path / "w", {"operation": "Scan", "baseline": REDHAT_BASELINE})
    assert recorded(env) == DNF_SCAN
    assert states(compliance) == {
        "openssl": ("1:3.0.7-16.el9", "1:3.0.7-17.el9", PatchState.MISSING),  # Important/Sec., released in 2024
        "bash": ("5.1.8-6.el9", "5.1.8-9.el9", PatchState.INSTALLED_OTHER),  # a bugfix: no rule approves it
        "curl": ("7.76.1-26.el9", "7.76.1-30.el9", PatchState.INSTALLED_OTHER),  # released less than 7 days ago
        "a-package-with-a-very-long-name-that-yum-wraps": ("1.0-1.el9", "2.0-1.el9", PatchState.INSTALLED_OTHER),
        "kernel": ("5.14.0-1.el9", "5.14.0-2.el9", PatchState.INSTALLED_REJECTED),
    }
    openssl = next(r for r in compliance.records if r.name == "openssl")
    assert (openssl.classification, openssl.severity, openssl.compliance_level.value) == (
        "security", "Important", "CRITICAL")
    assert (outcome.exit_code, compliance.critical_non_compliant, compliance.security_non_compliant,
            compliance.other_non_compliant) == (0, 1, 1, 0)  # openssl's level is CRITICAL; kernel's update security


def test_dnf_install_with_dnf_and_rpm_stand_ins(tmp_path: Path) -> None:
    env = stand_ins(tmp_path, {"dnf": DNF_STAND_IN, "rpm": RPM_STAND_IN})
    outcome, compliance, out = run_patch(env, tmp_path / "w", {"operation": "Install", "baseline": REDHAT_BASELINE})
    assert recorded(env) == [*DNF_SCAN, ["dnf", "-y", "upgrade", "--exclude=kernel*", "openssl-1:3.0.7-17.el9"],
                             *DNF_SCAN[1:]]
    assert states(compliance)["openssl"] == ("1:3.0.7-17.el9", "", PatchState.INSTALLED_PENDING_REBOOT)
    assert (outcome.exit_code, outcome.changed) == (194, True)
    assert "Complete!" in out


def test_yum_when_there_is_no_dnf(tmp_path: Path) -> None:
    env = stand_ins(tmp_path, {"yum": DNF_STAND_IN.replace("for a in dnf", "for a in yum"), "rpm": RPM_STAND_IN})
    _, compliance, _ = run_patch(env, tmp_path / "w", {"operation": "Scan", "baseline": REDHAT_BASELINE})
    # yum's needs-restarting is a tool of its own (yum-utils), not on this PATH: whether a reboot is
    # needed is then not known, and the scan goes on
    assert recorded(env) == [[("yum" if a == "dnf" else a) for a in argv] for argv in DNF_SCAN[:-1]]
    assert compliance.counts.missing == 1


# ---- Windows Update, through a stand-in for PowerShell -------------------------------------------

POWERSHELL_STAND_IN = r"""#!/bin/sh
# a stand-in for powershell.exe: records its argv and the script it was given, answers canned JSON
for a in powershell "$@"; do printf '%s\037' "$a"; done >> "$STAND_IN_LOG"; printf '\n' >> "$STAND_IN_LOG"
while read -r line; do printf '%s\n' "$line"; done < "$6" > "$STAND_IN_STATE/${6##*/}"
case "$6" in
  *_patch_scan.ps1)
    printf '{"kb":"KB5034441","title":"2024-01 Security Update","revision":201,"classification":"Security Updates",'
    printf '"severity":"Critical","released":1704844800,"installed":false}\n'
    printf '{"kb":"KB5011048","title":".NET","revision":1,"classification":"Updates","severity":"",'
    printf '"released":1704844800,"installed":false}\n'
    printf '{"kb":"KB890830","title":"MSRT","revision":3,"classification":"Update Rollups","severity":"",'
    printf '"released":1704844800,"installed":true}\n'
    printf '{"kb":"KB5022282","title":"2023-01 Security Update","revision":200,"classification":"Security Updates",'
    printf '"severity":"Important","released":1673308800,"installed":true}\nnot json\n'
    if [ -e "$STAND_IN_STATE/installed" ]; then r=true; else r=false; fi
    printf '{"reboot_required":%s}\n' "$r" ;;
  *_patch_install.ps1) : > "$STAND_IN_STATE/installed"; printf '{"kb":"KB5034441","result":2}\n' ;;
esac
"""
WINDOWS_BASELINE = """\
name: win
operating_system: windows
approval_rules:
  - classification: [SecurityUpdates]
    severity: [Critical, Important]
    compliance_level: CRITICAL
rejected_packages: [KB890830]
rejected_action: BLOCK
"""


def test_windows_update_with_a_powershell_stand_in(tmp_path: Path) -> None:
    from plugins.patch.windows_update import SEARCH, WindowsUpdateBackend

    env = stand_ins(tmp_path, {"powershell_stand_in": POWERSHELL_STAND_IN})
    exe, work = str(tmp_path / "bin" / "powershell_stand_in"), tmp_path / "w"
    plugin = PatchPlugin(backend=WindowsUpdateBackend(exe))
    _, compliance, _ = run_patch(env, work, {"operation": "Scan", "baseline": WINDOWS_BASELINE}, plugin=plugin)
    assert states(compliance) == {  # KB5011048 (neither installed nor approved) is not reported
        "KB5034441": ("", "201", PatchState.MISSING),
        "KB890830": ("3", "", PatchState.INSTALLED_REJECTED),
        "KB5022282": ("200", "", PatchState.INSTALLED),
    }
    outcome, compliance, _ = run_patch(env, work, {"operation": "Install", "baseline": WINDOWS_BASELINE},
                                       plugin=plugin)
    argv = ["powershell", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File"]
    assert recorded(env) == [[*argv, str(work / f"_patch_{op}.ps1")] for op in ("scan", "scan", "install", "scan")]
    # Windows shows an update that waits for a reboot as installed only after it: the installer's word counts
    assert states(compliance)["KB5034441"] == ("", "201", PatchState.INSTALLED_PENDING_REBOOT)
    assert outcome.exit_code == 3010  # Windows' reboot-and-run-again
    scan = (tmp_path / "state" / "_patch_scan.ps1").read_text()
    install = (tmp_path / "state" / "_patch_install.ps1").read_text()
    assert "New-Object -ComObject Microsoft.Update.Session" in scan and f'Search("{SEARCH}")' in scan
    assert "Microsoft.Update.SystemInfo" in scan and "PSWindowsUpdate" not in scan + install
    assert "$wanted = ConvertFrom-Json '[\"KB5034441\"]'" in install
    assert "CreateUpdateInstaller()" in install and "AcceptEula()" in install
    assert (work / "_patch_install.ps1").read_bytes().startswith(b"\xef\xbb\xbf")  # PowerShell 5 reads UTF-8


# ---- the capture helper -------------------------------------------------------------------------

def test_capture_is_bounded_and_tells_the_agent_of_the_group(tmp_path: Path) -> None:
    from plugins.patch.capture import capture

    started: list[int] = []
    ctx = replace(make_ctx({"PATH": "/usr/bin:/bin"}, tmp_path / "w", Sink()), process_started=started.append)
    done = asyncio.run(capture(ctx, ["sh", "-c", "echo $$; head -c 5000 /dev/zero; echo oops >&2; exit 3"],
                               env=ctx.environment, limit=1000))
    assert (done.exit_code, done.truncated, len(done.stdout), done.stderr) == (3, True, 1000, "oops\n")
    assert started == [int(done.stdout.split()[0])]


def test_capture_cancelled_kills_the_whole_group(tmp_path: Path) -> None:
    from plugins.patch.capture import capture

    sink = Sink()
    ctx = replace(make_ctx({"PATH": "/usr/bin:/bin"}, tmp_path / "w", sink), cancel_grace_seconds=0.5)

    async def scenario() -> int:
        task = asyncio.create_task(capture(ctx, ["sh", "-c", "trap '' TERM; echo $$; sleep 30 & sleep 30"],
                                           env=ctx.environment, echo=True))
        while not sink.text():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return int(sink.text().split()[0])

    pgid = asyncio.run(scenario())
    deadline = time.monotonic() + 2.0  # SIGKILL is delivered asynchronously
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _group_alive(pgid)


def _group_alive(pgid: int) -> bool:
    return any(_pgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE  # no init reaps orphans here
               for p in psutil.process_iter(["status"]))


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None
