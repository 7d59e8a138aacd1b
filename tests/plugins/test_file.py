"""The file plugin on the real filesystem: what is there before, inputs in; outcome, output and
what is there after out. Every case runs again in check mode, which must leave everything as it was."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from plugins.file.plugin import FilePlugin
from plugins.sdk.errors import InputError, PluginError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail
from tests.plugins.support import lay_out, layout, run_step, tree

REGISTRY = PluginRegistry([FilePlugin()])
A644 = {"a": {"file": "x\n", "mode": "0644"}}

# before, inputs ({t} is the test's directory), changed, output, output in check mode (when it differs), after
CASES: list[dict[str, Any]] = [
    {"id": "file-mode-set", "before": {"a": {"file": "x\n", "mode": "0600"}},
     "inputs": {"path": "{t}/a", "mode": "0644"}, "changed": True,
     "stdout": "changed: {t}/a: mode 0600 -> 0644", "check": "would change: {t}/a: mode 0600 -> 0644",
     "after": A644},
    {"id": "file-mode-already", "before": A644, "inputs": {"path": "{t}/a", "mode": "644"}, "changed": False,
     "stdout": "ok: {t}/a is a file with mode 0644", "after": A644},
    {"id": "file-nothing-asked", "before": A644, "inputs": {"path": "{t}/a", "state": "file"}, "changed": False,
     "stdout": "ok: {t}/a is a file", "after": A644},
    {"id": "file-setuid-mode", "before": A644, "inputs": {"path": "{t}/a", "mode": "04755"}, "changed": True,
     "stdout": "changed: {t}/a: mode 0644 -> 4755", "check": "would change: {t}/a: mode 0644 -> 4755",
     "after": {"a": {"file": "x\n", "mode": "4755"}}},
    {"id": "file-through-a-symlink", "before": {**A644, "l": {"link": "a"}},
     "inputs": {"path": "{t}/l", "mode": "0640"}, "changed": True,
     "stdout": "changed: {t}/l -> {t}/a: mode 0644 -> 0640", "check": "would change: {t}/l -> {t}/a: mode 0644 -> 0640",
     "after": {"a": {"file": "x\n", "mode": "0640"}, "l": {"link": "a"}}},
    {"id": "directory-made", "before": {}, "inputs": {"path": "{t}/d", "state": "directory"}, "changed": True,
     "stdout": "changed: created directory {t}/d (mode 0755)",
     "check": "would change: create directory {t}/d (mode 0755)",
     "after": {"d": {"dir": "0755"}}},
    {"id": "directory-made-with-parents", "before": {},
     "inputs": {"path": "{t}/x/y", "state": "directory", "mode": "0700"}, "changed": True,
     "stdout": "changed: created directory {t}/x/y and its parents (mode 0700)",
     "check": "would change: create directory {t}/x/y and its parents (mode 0700)",
     "after": {"x": {"dir": "0755"}, "x/y": {"dir": "0700"}}},
    {"id": "directory-mode-set", "before": {"d": {"dir": "0755"}},
     "inputs": {"path": "{t}/d", "state": "directory", "mode": "0750"}, "changed": True,
     "stdout": "changed: {t}/d: mode 0755 -> 0750", "check": "would change: {t}/d: mode 0755 -> 0750",
     "after": {"d": {"dir": "0750"}}},
    {"id": "directory-already", "before": {"d": {"dir": "0700"}}, "inputs": {"path": "{t}/d", "state": "directory"},
     "changed": False, "stdout": "ok: {t}/d is a directory", "after": {"d": {"dir": "0700"}}},
    {"id": "absent-file", "before": A644, "inputs": {"path": "{t}/a", "state": "absent"}, "changed": True,
     "stdout": "changed: removed file {t}/a", "check": "would change: remove file {t}/a", "after": {}},
    {"id": "absent-already", "before": {}, "inputs": {"path": "{t}/a", "state": "absent"}, "changed": False,
     "stdout": "ok: {t}/a is absent", "after": {}},
    {"id": "absent-directory-and-all-it-holds", "before": {"d": {"dir": "0755"}, "d/e": {"file": "1"}},
     "inputs": {"path": "{t}/d/", "state": "absent"}, "changed": True,
     "stdout": "changed: removed directory {t}/d and all it held",
     "check": "would change: remove directory {t}/d and all it holds", "after": {}},
    {"id": "absent-removes-the-link-not-its-target", "before": {**A644, "l": {"link": "a"}},
     "inputs": {"path": "{t}/l", "state": "absent"}, "changed": True,
     "stdout": "changed: removed symlink {t}/l", "check": "would change: remove symlink {t}/l", "after": A644},
    {"id": "touch-makes-an-empty-file", "before": {}, "inputs": {"path": "{t}/a", "state": "touch"}, "changed": True,
     "stdout": "changed: created empty file {t}/a (mode 0644)",
     "check": "would change: create empty file {t}/a (mode 0644)", "after": {"a": {"file": "", "mode": "0644"}}},
    {"id": "touch-makes-it-with-a-mode", "before": {}, "inputs": {"path": "{t}/a", "state": "touch", "mode": "0600"},
     "changed": True, "stdout": "changed: created empty file {t}/a (mode 0600)",
     "check": "would change: create empty file {t}/a (mode 0600)", "after": {"a": {"file": "", "mode": "0600"}}},
    {"id": "touch-an-existing-file", "before": A644, "inputs": {"path": "{t}/a", "state": "touch", "mode": "0600"},
     "changed": True, "stdout": "changed: touched {t}/a; {t}/a: mode 0644 -> 0600",
     "check": "would change: set the times of {t}/a to now; {t}/a: mode 0644 -> 0600",
     "after": {"a": {"file": "x\n", "mode": "0600"}}},
]


def fill(value: Any, t: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{t}", str(t))
    if isinstance(value, dict):
        return {k: fill(v, t) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    lay_out(root, case["before"])
    outcome, sink = run_step(REGISTRY, "file", fill(case["inputs"], root), tmp_path)
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, case["changed"])
    assert sink.stdout == fill(case["stdout"], root) + "\n"
    assert layout(root) == case["after"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_check_mode_changes_nothing(case: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    lay_out(root, case["before"])
    before = tree(root)
    outcome, sink = run_step(REGISTRY, "file", fill(case["inputs"], root), tmp_path, check_mode=True)
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, case["changed"])
    assert sink.stdout == fill(case.get("check", case["stdout"]), root) + "\n"
    assert tree(root) == before


def test_owner_and_group_by_numeric_id(tmp_path: Path) -> None:
    target = tmp_path / "a"
    target.write_text("x")
    inputs = {"path": str(target), "owner": "1234", "group": "2345"}
    outcome, sink = run_step(REGISTRY, "file", inputs, tmp_path)
    assert outcome.changed and sink.stdout == f"changed: {target}: owner 0 -> 1234, group 0 -> 2345\n"
    assert (target.stat().st_uid, target.stat().st_gid) == (1234, 2345)
    outcome, sink = run_step(REGISTRY, "file", inputs, tmp_path)
    assert not outcome.changed and sink.stdout == f"ok: {target} is a file with owner 1234, group 2345\n"


def test_owner_by_name_and_a_chown_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "a"
    target.write_text("x")
    os.chown(target, 1234, 1234)
    outcome, sink = run_step(REGISTRY, "file", {"path": str(target), "owner": "root", "group": "root",
                                                "mode": "2755"}, tmp_path)
    assert sink.stdout == f"changed: {target}: mode 0644 -> 2755, owner 1234 -> 0, group 1234 -> 0\n"
    st = target.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o2755)  # the chown came first


def test_a_new_directory_gets_its_owner(tmp_path: Path) -> None:
    outcome, _ = run_step(REGISTRY, "file", {"path": str(tmp_path / "d"), "state": "directory", "owner": "1234"},
                          tmp_path)
    assert outcome.changed and (tmp_path / "d").stat().st_uid == 1234


def test_touch_sets_the_times_to_now(tmp_path: Path) -> None:
    target = tmp_path / "a"
    target.write_text("x")
    os.utime(target, (1_000_000, 1_000_000))
    outcome, _ = run_step(REGISTRY, "file", {"path": str(target), "state": "touch"}, tmp_path)
    assert outcome.changed and abs(target.stat().st_mtime - time.time()) < 5
    assert target.read_text() == "x"


@pytest.mark.parametrize(("before", "inputs", "message"), [
    ({}, {"path": "{t}/a"}, "file: path {t}/a does not exist (state file makes nothing: use state touch, or copy)"),
    ({"d": {"dir": "0755"}}, {"path": "{t}/d"}, "file: path {t}/d is a directory, not a file (state file)"),
    (A644, {"path": "{t}/a", "state": "directory"}, "file: path {t}/a exists and is not a directory (state directory)"),
    (A644, {"path": "{t}/a", "mode": "u=rw"},
     "file: mode 'u=rw' is not an octal mode such as \"0644\" (symbolic modes are not supported; quote the number "
     "in YAML)"),
    (A644, {"path": "{t}/a", "mode": "0999"}, "file: mode '0999' is not an octal mode such as \"0644\""),
    (A644, {"path": "{t}/a", "owner": "no-such-user-here"}, "file: owner 'no-such-user-here' is no user on this node"),
    (A644, {"path": "{t}/a", "group": "no-such-group-here"},
     "file: group 'no-such-group-here' is no group on this node"),
    ({}, {"path": "relative/a"}, "file: path must be an absolute path, got 'relative/a'"),
    ({"l": {"link": "nowhere"}}, {"path": "{t}/l", "state": "touch"},
     "file: path {t}/l is a symlink to {t}/nowhere, which does not exist"),
    (A644, {"path": "{t}/a", "state": "absent", "mode": "0644"},
     "file: mode, owner and group mean nothing with state absent; leave them out"),
    ({}, {"path": "{t}/x/a", "state": "touch"}, "file: path {t}/x/a: directory {t}/x does not exist"),
])
def test_failures_name_the_input(before: dict[str, Any], inputs: dict[str, str], message: str, tmp_path: Path) -> None:
    lay_out(tmp_path, before)
    was = tree(tmp_path)
    with pytest.raises(PluginError) as info:
        run_step(REGISTRY, "file", fill(inputs, tmp_path), tmp_path)
    assert str(info.value).startswith(fill(message, tmp_path))
    assert "\n" not in str(info.value)
    assert tree(tmp_path) == was


@pytest.mark.parametrize(("raw", "where", "message"), [
    ({}, "case.path", "missing required parameter"),
    ({"path": "/x", "state": "link"}, "case.state", "expected one of file, directory, absent, touch, got 'link'"),
    ({"path": "/x", "mode": 644}, "case.mode", "expected a string, got an integer"),
    ({"path": "/x", "owner": 1234}, "case.owner", "expected a string, got an integer"),
    ({"path": "/x", "recurse": True}, "case.recurse", "unsupported parameter (supported: group, mode, owner, path, "
                                                      "state)"),
    ("/x", "case", "expected a mapping, got a string"),
])
def test_bad_inputs(raw: Any, where: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        REGISTRY.bind("file", raw, "case")
    assert (info.value.where, info.value.message) == (where, message)


def test_spec() -> None:
    spec = FilePlugin.spec
    assert (spec.name, spec.supports_check_mode, spec.needs_workdir) == ("file", True, False)
    assert spec.platforms == frozenset({Platform.LINUX, Platform.MACOS})
