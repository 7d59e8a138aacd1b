"""The package plugin (also apt, yum, dnf) against real apt and dpkg on a root of its own
(patch_sandbox.py; its lists updated once): never the machine's own packages (asserted). Inputs in;
outcome, output and the sandbox's packages out. dnf and yum run as stand-ins (shell scripts named as
the tools, answering canned output) that record their argv, as in test_patch.py."""
from __future__ import annotations

import importlib.metadata
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugins.patch.package import PackageInputs, PackagePlugin, choose_manager
from plugins.sdk.errors import InputError, PluginError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import ENTRY_POINT_GROUP, PluginRegistry
from plugins.sdk.status import Detail
from tests.plugins import patch_sandbox as sandbox
from tests.plugins.support import Sink, run_step
from tests.plugins.test_patch import recorded, stand_ins

needs_dpkg = pytest.mark.skipif(not all(shutil.which(t) for t in ("dpkg-deb", "dpkg-scanpackages", "apt-get")),
                                reason="needs dpkg-deb, dpkg-scanpackages and apt-get")

REGISTRY = PluginRegistry([PackagePlugin()])
A, B, KERNEL, REJECTED, EXTRA = ("outpost-demo-a", "outpost-demo-b", "outpost-demo-kernel", "outpost-demo-rejected",
                                 "outpost-demo-extra")
AT_START = dict.fromkeys((A, B, KERNEL, REJECTED), "1.0")


@pytest.fixture(scope="module", autouse=True)
def host_dpkg_untouched() -> Iterator[None]:
    before = sandbox.host_status_digest()
    yield
    assert sandbox.host_status_digest() == before, "the tests changed the machine's /var/lib/dpkg/status"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> sandbox.Repository:
    return sandbox.build_repository(tmp_path_factory.mktemp("package-repo"))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, repo: sandbox.Repository) -> sandbox.Sandbox:
    box = sandbox.make_root(tmp_path_factory.mktemp("package-template") / "root", repo)
    sandbox.update_lists(box)
    return box


@pytest.fixture
def box(tmp_path: Path, template: sandbox.Sandbox, repo: sandbox.Repository) -> sandbox.Sandbox:
    return sandbox.copy_root(template, tmp_path / "root", repo)


def run(env: sandbox.Sandbox | dict[str, str], tmp_path: Path, raw: Any, *, action: str = "package",
        check_mode: bool = False) -> tuple[Any, Sink]:
    return run_step(REGISTRY, action, raw, tmp_path, check_mode=check_mode,
                    env=env if isinstance(env, dict) else env.env)


def status_of(box: sandbox.Sandbox) -> bytes:
    return (box.root / "var/lib/dpkg/status").read_bytes()


def test_spec_entry_point_and_aliases() -> None:
    spec = PackagePlugin.spec
    assert (spec.name, spec.supports_check_mode, spec.platforms) == ("package", True, frozenset({Platform.LINUX}))
    assert [a.name for a in spec.aliases] == ["apt", "yum", "dnf"]
    (ep,) = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name="package")
    assert ep.load() is PackagePlugin
    for action in ("package", "apt", "yum", "dnf"):
        bound = REGISTRY.bind(action, {"name": "htop"}, "t")
        assert bound.inputs == PackageInputs(name=("htop",), state="present", update_cache=False)


# ---- apt, on the sandbox -------------------------------------------------------------------------

# inputs, the output (its lines), in check mode, the packages after (what changed at the start's)
CASES: list[dict[str, Any]] = [
    {"id": "present-installs", "inputs": {"name": [EXTRA]},
     "stdout": f"changed: installed {EXTRA} 2.0", "check": f"would change: install {EXTRA} (2.0)",
     "after": {EXTRA: "2.0"}},
    {"id": "present-installed-is-ok", "inputs": {"name": A}, "stdout": f"ok: {A} 1.0 is installed"},
    {"id": "present-a-version", "inputs": {"name": [f"{A}=2.0", B]},
     "stdout": f"changed: installed {A} 2.0 (was 1.0)\nok: {B} 1.0 is installed",
     "check": f"would change: install {A} (2.0, now 1.0)\nok: {B} 1.0 is installed", "after": {A: "2.0"}},
    {"id": "latest-upgrades-and-installs", "inputs": {"name": [A, EXTRA], "state": "latest"},
     "stdout": f"changed: upgraded {A} 1.0 -> 2.0\nchanged: installed {EXTRA} 2.0",
     "check": f"would change: upgrade {A} (1.0 -> 2.0)\nwould change: install {EXTRA} (2.0)",
     "after": {A: "2.0", EXTRA: "2.0"}},
    {"id": "absent-removes", "inputs": {"name": [A, EXTRA], "state": "absent"},
     "stdout": f"changed: removed {A} 1.0\nok: {EXTRA} is not installed",
     "check": f"would change: remove {A} (1.0)\nok: {EXTRA} is not installed", "after": {A: None}},
    {"id": "absent-another-version-is-ok", "inputs": {"name": f"{A}=2.0", "state": "absent"},
     "stdout": f"ok: {A} is not installed at 2.0 (1.0 is)"},
    {"id": "absent-unknown-is-ok", "inputs": {"name": "outpost-demo-nope", "state": "absent"},
     "stdout": "ok: outpost-demo-nope is not installed"},
]


def _after(changes: dict[str, str | None]) -> dict[str, str]:
    out = {**AT_START, **changes}
    return {k: v for k, v in out.items() if v is not None}


@needs_dpkg
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
@pytest.mark.parametrize("action", ["package", "apt"])
def test_apt(box: sandbox.Sandbox, tmp_path: Path, case: dict[str, Any], action: str) -> None:
    changed = "after" in case
    before = status_of(box)
    outcome, sink = run(box, tmp_path, case["inputs"], action=action, check_mode=True)
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, changed)
    assert sink.stdout == case.get("check", case["stdout"]) + "\n"
    assert status_of(box) == before, "check mode changes nothing"

    outcome, sink = run(box, tmp_path, case["inputs"], action=action)
    assert (outcome.detail, outcome.exit_code, outcome.error, outcome.changed) == (Detail.SUCCESS, 0, "", changed)
    lines = [line for line in sink.stdout.splitlines() if line.startswith(("changed: ", "ok: "))]
    assert "\n".join(lines) == case["stdout"]
    assert box.installed() == _after(case.get("after", {}))
    if changed:
        assert "Setting up" in sink.stdout or "Removing" in sink.stdout  # apt-get's own output, as it ran
        outcome, sink = run(box, tmp_path, case["inputs"], action=action)  # again: nothing to do
        assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, False)
        assert all(line.startswith("ok: ") for line in sink.stdout.splitlines()), sink.stdout
    else:
        assert status_of(box) == before


@needs_dpkg
def test_latest_after_latest_is_ok(box: sandbox.Sandbox, tmp_path: Path) -> None:
    run(box, tmp_path, {"name": A, "state": "latest"})
    outcome, sink = run(box, tmp_path, {"name": A, "state": "latest"})
    assert (outcome.changed, sink.stdout) == (False, f"ok: {A} 2.0 is installed, the latest\n")


@needs_dpkg
@pytest.mark.parametrize(("inputs", "message"), [
    ({"name": [A, "outpost-demo-nope"]}, "package: no package named outpost-demo-nope is known to apt"),
    ({"name": ["nope-1", "nope-2"], "state": "latest"}, "package: no packages named nope-1, nope-2 are known to apt"),
    ({"name": [f"{A}=3.0"]}, f"package: name[0]: no version 3.0 of {A} is offered by apt (offered: 2.0)"),
])
def test_an_unknown_package_fails_the_step_naming_it_before_anything_changes(
        box: sandbox.Sandbox, tmp_path: Path, inputs: dict[str, Any], message: str) -> None:
    before = status_of(box)
    for check_mode in (True, False):
        with pytest.raises(PluginError) as info:
            run(box, tmp_path, inputs, check_mode=check_mode)
        assert str(info.value) == message
    assert status_of(box) == before


@needs_dpkg
def test_update_cache_refreshes_the_lists_first_but_not_in_check_mode(box: sandbox.Sandbox, tmp_path: Path) -> None:
    lists = box.root / "var/lib/apt/lists"
    for f in lists.iterdir():
        if f.is_file():
            f.unlink()
    raw = {"name": EXTRA, "update_cache": True}
    with pytest.raises(PluginError, match=f"no package named {EXTRA} is known to apt"):
        run(box, tmp_path, raw, check_mode=True)  # the lists are not refreshed in check mode
    assert not any(f.is_file() for f in lists.iterdir())
    outcome, sink = run(box, tmp_path, raw)
    assert outcome.changed and sink.stdout.endswith(f"changed: installed {EXTRA} 2.0\n")
    outcome, sink = run(box, tmp_path, raw, check_mode=True)
    assert (outcome.changed, sink.stdout) == (False, f"would run: apt-get update\nok: {EXTRA} 2.0 is installed\n")


@needs_dpkg
def test_a_failing_apt_get_fails_the_step_and_says_what_is_not_as_asked(box: sandbox.Sandbox,
                                                                       tmp_path: Path) -> None:
    sandbox._run(["sh", "-c", f"echo '{A} hold' | dpkg --root={box.root} --set-selections"])
    outcome, sink = run(box, tmp_path, {"name": [A], "state": "latest"})
    assert (outcome.detail, outcome.exit_code, outcome.changed) == (Detail.FAILED, 1, False)
    assert outcome.error.startswith("package: apt-get install exited with code 100: ")
    assert "held" in outcome.error.lower() and len(outcome.error.splitlines()) == 1
    assert sink.stdout.endswith(f"failed: {A} is at 1.0, not 2.0\n")
    assert box.installed() == AT_START


# ---- inputs --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("action", "raw", "where", "message"), [
    ("package", {}, "case.name", "missing required parameter"),
    ("package", {"name": A, "state": "installed"}, "case.state",
     "expected one of present, absent, latest, got 'installed'"),
    ("apt", {"name": A, "update_cache": "yes"}, "case.update_cache", "expected a boolean, got a string"),
    ("apt", {"pkg": A}, "case.pkg", "unsupported parameter (supported: name, state, update_cache)"),
    ("dnf", {"name": [A, 1]}, "case.name[1]", "expected a string, got an integer"),
    ("yum", {"name": {"a": "b"}}, "case.name", "expected a list of strings, got a mapping"),
])
def test_bad_inputs_are_refused_naming_where(action: str, raw: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        REGISTRY.bind(action, raw, "case")
    assert (info.value.where, info.value.message) == (where, message)


@pytest.mark.parametrize(("raw", "message"), [
    ({"name": []}, "package: name: no package named (give at least one)"),
    ({"name": [A, "-o"]}, "package: name[1]: '-o' is not a package name (a name, or name=version)"),
    ({"name": "nginx*"}, "package: name[0]: 'nginx*' is not a package name (a name, or name=version)"),
    ({"name": "nginx="}, "package: name[0]: 'nginx=' is not a package name (a name, or name=version)"),
    ({"name": "nginx=1.2", "state": "latest"},
     "package: name[0]: 'nginx=1.2' pins a version, which state latest cannot have"),
    ({"name": [A, f"{A}=2.0"]}, f"package: name[1]: {A} is named twice"),
])
def test_bad_names_fail_the_step_before_anything_runs(tmp_path: Path, raw: dict[str, Any], message: str) -> None:
    env = stand_ins(tmp_path, {})  # nothing on PATH: no package manager is even looked for
    with pytest.raises(PluginError) as info:
        run(env, tmp_path, raw)
    assert str(info.value) == message


def test_not_on_windows_nor_without_a_package_manager(tmp_path: Path) -> None:
    with pytest.raises(PluginError) as info:
        choose_manager({"PATH": ""}, "win32")
    assert str(info.value) == "package: not on Windows; use patch with Windows Update"
    with pytest.raises(PluginError) as info:
        run(stand_ins(tmp_path, {}), tmp_path, {"name": "htop"})
    assert str(info.value) == ("package: no supported package manager on this node: looked for apt-get, dnf and "
                               "yum on PATH")


# ---- dnf and yum, through stand-ins for them and rpm ---------------------------------------------

DNF_STAND_IN = r"""#!/bin/sh
# a stand-in for dnf: records its argv, answers canned output; install, upgrade and remove leave a mark
for a in dnf "$@"; do printf '%s\037' "$a"; done >> "$STAND_IN_LOG"; printf '\n' >> "$STAND_IN_LOG"
case "$*" in
  "-q -y makecache") exit 0 ;;
  "-q list --available "*|"-q list available "*)
    for n in "$@"; do
      if [ "$n" = htop ]; then printf 'Available Packages\nhtop.x86_64    3.2.1-1.el9    epel\n'; exit 0; fi
    done
    echo 'Error: No matching Packages to list' >&2; exit 1 ;;
  "-q check-update "*)
    [ -e "$STAND_IN_STATE/upgrade" ] && exit 0
    for n in "$@"; do
      if [ "$n" = curl ]; then printf '\ncurl.x86_64    7.76.1-30.el9    baseos\n'; exit 100; fi
    done ;;
  "-y install "*|"-y upgrade "*|"-y remove "*) : > "$STAND_IN_STATE/$2"; printf 'Complete!\n' ;;
  *) printf 'unexpected: %s\n' "$*" >&2; exit 2 ;;
esac
"""
RPM_STAND_IN = r"""#!/bin/sh
# a stand-in for rpm -qa: bash; curl (7.76.1-26, or -30 once upgraded; none once removed); htop once installed
for a in rpm "$@"; do printf '%s\037' "$a"; done >> "$STAND_IN_LOG"; printf '\n' >> "$STAND_IN_LOG"
printf 'bash\t0:5.1.8-6.el9\tx86_64\n'
if [ -e "$STAND_IN_STATE/upgrade" ]; then v=30; else v=26; fi
[ -e "$STAND_IN_STATE/remove" ] || printf 'curl\t0:7.76.1-%s.el9\tx86_64\n' "$v"
[ -e "$STAND_IN_STATE/install" ] && printf 'htop\t0:3.2.1-1.el9\tx86_64\n'
exit 0
"""
RPM_QA = ["rpm", "-qa", "--qf", r"%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\n"]


def dnf_env(tmp_path: Path, tool: str = "dnf") -> dict[str, str]:
    return stand_ins(tmp_path, {tool: DNF_STAND_IN.replace("for a in dnf", f"for a in {tool}"), "rpm": RPM_STAND_IN})


def test_dnf_present_installs_with_dnf_and_rpm_stand_ins(tmp_path: Path) -> None:
    env = dnf_env(tmp_path)
    outcome, sink = run(env, tmp_path, {"name": ["htop", "bash"], "update_cache": True}, action="dnf")
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, True)
    assert sink.stdout == "Complete!\nchanged: installed htop 3.2.1-1.el9\nok: bash 5.1.8-6.el9 is installed\n"
    queries = [RPM_QA, ["dnf", "-q", "list", "--available", "htop"], ["dnf", "-q", "check-update", "bash"]]
    assert recorded(env) == [["dnf", "-q", "-y", "makecache"], *queries, ["dnf", "-y", "install", "htop-3.2.1-1.el9"],
                             RPM_QA, ["dnf", "-q", "check-update", "htop", "bash"]]


def test_dnf_latest_upgrades_with_dnf_and_rpm_stand_ins(tmp_path: Path) -> None:
    env = dnf_env(tmp_path)
    outcome, sink = run(env, tmp_path, {"name": ["curl", "bash"], "state": "latest"}, check_mode=True)
    assert (outcome.changed, sink.stdout) == (True, "would change: upgrade curl (7.76.1-26.el9 -> 7.76.1-30.el9)\n"
                                                    "ok: bash 5.1.8-6.el9 is installed, the latest\n")
    check = [RPM_QA, ["dnf", "-q", "check-update", "curl", "bash"]]
    assert recorded(env) == check  # check mode: queries only
    outcome, sink = run(env, tmp_path, {"name": ["curl", "bash"], "state": "latest"})
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, True)
    assert "changed: upgraded curl 7.76.1-26.el9 -> 7.76.1-30.el9\n" in sink.stdout
    assert recorded(env) == [*check, *check, ["dnf", "-y", "upgrade", "curl-7.76.1-30.el9"], *check]


def test_dnf_absent_removes_with_dnf_and_rpm_stand_ins(tmp_path: Path) -> None:
    env = dnf_env(tmp_path)
    outcome, sink = run(env, tmp_path, {"name": ["curl", "htop"], "state": "absent"})
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, True)
    assert sink.stdout.endswith("changed: removed curl 7.76.1-26.el9\nok: htop is not installed\n")
    assert ["dnf", "-y", "remove", "curl"] in recorded(env)


def test_dnf_refusals_with_dnf_and_rpm_stand_ins(tmp_path: Path) -> None:
    env = dnf_env(tmp_path)
    with pytest.raises(PluginError) as info:
        run(env, tmp_path, {"name": ["htop", "nosuch"]})
    assert str(info.value) == "package: no package named nosuch is known to dnf"
    with pytest.raises(PluginError) as info:
        run(env, tmp_path, {"name": ["curl=7.76.1"]})
    assert str(info.value) == "package: name[0]: curl=7.76.1: dnf takes names only (a version is for apt)"
    assert not any(argv[1] == "-y" for argv in recorded(env)), "nothing was installed"


def test_yum_when_there_is_no_dnf_with_yum_and_rpm_stand_ins(tmp_path: Path) -> None:
    env = dnf_env(tmp_path, "yum")
    outcome, sink = run(env, tmp_path, {"name": "htop"}, action="yum")
    assert outcome.changed and sink.stdout.endswith("changed: installed htop 3.2.1-1.el9\n")
    assert recorded(env)[:3] == [RPM_QA, ["yum", "-q", "list", "available", "htop"],
                                 ["yum", "-y", "install", "htop-3.2.1-1.el9"]]
