"""The copy plugin on the real filesystem: the file before and inputs in; outcome, output and the file
after out. Every case runs again in check mode, which must leave everything as it was."""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest

from plugins.copy.plugin import CopyPlugin, sha256_file
from plugins.sdk.errors import InputError, PluginError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail
from tests.plugins.support import lay_out, layout, run_step, tree

REGISTRY = PluginRegistry([CopyPlugin()])
HELLO = "hello\n"
HELLO_SUM = hashlib.sha256(HELLO.encode()).hexdigest()
OLD = {"f": {"file": "old\n", "mode": "0600"}}

# before, inputs (dest is under {t}), changed, output, output in check mode (when it differs), after
CASES: list[dict[str, Any]] = [
    {"id": "new-file", "before": {}, "inputs": {"dest": "{t}/f", "content": HELLO}, "changed": True,
     "stdout": f"changed: wrote 6 bytes to {{t}}/f (sha256 {HELLO_SUM})",
     "check": f"would change: write 6 bytes to {{t}}/f (sha256 {HELLO_SUM})",
     "after": {"f": {"file": HELLO, "mode": "0644"}}},
    {"id": "new-file-with-mode", "before": {}, "inputs": {"dest": "{t}/f", "content": HELLO, "mode": "0400"},
     "changed": True, "stdout": f"changed: wrote 6 bytes to {{t}}/f (sha256 {HELLO_SUM})",
     "check": f"would change: write 6 bytes to {{t}}/f (sha256 {HELLO_SUM})",
     "after": {"f": {"file": HELLO, "mode": "0400"}}},
    {"id": "different-content-keeps-mode", "before": OLD, "inputs": {"dest": "{t}/f", "content": HELLO},
     "changed": True, "stdout": f"changed: wrote 6 bytes to {{t}}/f (sha256 {HELLO_SUM})",
     "check": f"would change: write 6 bytes to {{t}}/f (sha256 {HELLO_SUM})",
     "after": {"f": {"file": HELLO, "mode": "0600"}}},
    {"id": "same-size-different-content", "before": {"f": {"file": "HELLO\n"}},
     "inputs": {"dest": "{t}/f", "content": HELLO}, "changed": True,
     "stdout": f"changed: wrote 6 bytes to {{t}}/f (sha256 {HELLO_SUM})",
     "check": f"would change: write 6 bytes to {{t}}/f (sha256 {HELLO_SUM})",
     "after": {"f": {"file": HELLO, "mode": "0644"}}},
    {"id": "same-content", "before": {"f": {"file": HELLO}}, "inputs": {"dest": "{t}/f", "content": HELLO},
     "changed": False, "stdout": "ok: {t}/f already has that content", "after": {"f": {"file": HELLO, "mode": "0644"}}},
    {"id": "same-content-other-mode", "before": {"f": {"file": HELLO}},
     "inputs": {"dest": "{t}/f", "content": HELLO, "mode": "0640"}, "changed": True,
     "stdout": "changed: {t}/f: mode 0644 -> 0640", "check": "would change: {t}/f: mode 0644 -> 0640",
     "after": {"f": {"file": HELLO, "mode": "0640"}}},
    {"id": "content-and-mode", "before": OLD, "inputs": {"dest": "{t}/f", "content": HELLO, "mode": "0644"},
     "changed": True, "stdout": f"changed: wrote 6 bytes to {{t}}/f (sha256 {HELLO_SUM}); {{t}}/f: mode 0600 -> 0644",
     "check": f"would change: write 6 bytes to {{t}}/f (sha256 {HELLO_SUM}); {{t}}/f: mode 0600 -> 0644",
     "after": {"f": {"file": HELLO, "mode": "0644"}}},
    {"id": "force-false-leaves-content", "before": OLD, "inputs": {"dest": "{t}/f", "content": HELLO, "force": False},
     "changed": False, "stdout": "ok: {t}/f exists and force is false: its content is left as it is", "after": OLD},
    {"id": "force-false-still-sets-mode", "before": OLD,
     "inputs": {"dest": "{t}/f", "content": HELLO, "force": False, "mode": "0644"}, "changed": True,
     "stdout": "changed: {t}/f: mode 0600 -> 0644", "check": "would change: {t}/f: mode 0600 -> 0644",
     "after": {"f": {"file": "old\n", "mode": "0644"}}},
    {"id": "force-false-new-file", "before": {}, "inputs": {"dest": "{t}/f", "content": HELLO, "force": False},
     "changed": True, "stdout": f"changed: wrote 6 bytes to {{t}}/f (sha256 {HELLO_SUM})",
     "check": f"would change: write 6 bytes to {{t}}/f (sha256 {HELLO_SUM})",
     "after": {"f": {"file": HELLO, "mode": "0644"}}},
    {"id": "empty-content", "before": OLD, "inputs": {"dest": "{t}/f", "content": ""}, "changed": True,
     "stdout": f"changed: wrote 0 bytes to {{t}}/f (sha256 {hashlib.sha256(b'').hexdigest()})",
     "check": f"would change: write 0 bytes to {{t}}/f (sha256 {hashlib.sha256(b'').hexdigest()})",
     "after": {"f": {"file": "", "mode": "0600"}}},
    {"id": "through-a-symlink", "before": {**OLD, "l": {"link": "f"}}, "inputs": {"dest": "{t}/l", "content": HELLO},
     "changed": True, "stdout": f"changed: wrote 6 bytes to {{t}}/l -> {{t}}/f (sha256 {HELLO_SUM})",
     "check": f"would change: write 6 bytes to {{t}}/l -> {{t}}/f (sha256 {HELLO_SUM})",
     "after": {"f": {"file": HELLO, "mode": "0600"}, "l": {"link": "f"}}},
]


def fill(value: Any, t: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{t}", str(t))
    if isinstance(value, dict):
        return {k: fill(v, t) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict[str, Any], tmp_path: Path) -> None:
    lay_out(tmp_path, case["before"])
    outcome, sink = run_step(REGISTRY, "copy", fill(case["inputs"], tmp_path), tmp_path)
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, case["changed"])
    assert sink.stdout == fill(case["stdout"], tmp_path) + "\n"
    assert layout(tmp_path) == case["after"]  # nothing else: no temporary left behind


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_check_mode_changes_nothing(case: dict[str, Any], tmp_path: Path) -> None:
    lay_out(tmp_path, case["before"])
    was = tree(tmp_path)
    outcome, sink = run_step(REGISTRY, "copy", {**fill(case["inputs"], tmp_path), "backup": True}, tmp_path,
                             check_mode=True)
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, case["changed"])
    assert sink.stdout == fill(case.get("check", case["stdout"]), tmp_path) + "\n"
    assert tree(tmp_path) == was


def test_owner_and_group_kept_or_set(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("old\n")
    os.chown(f, 1234, 2345)
    run_step(REGISTRY, "copy", {"dest": str(f), "content": HELLO}, tmp_path)
    assert (f.stat().st_uid, f.stat().st_gid, f.read_text()) == (1234, 2345, HELLO)  # kept through the rewrite
    outcome, sink = run_step(REGISTRY, "copy", {"dest": str(f), "content": "new\n", "owner": "3456", "group": "root"},
                             tmp_path)
    assert sink.stdout.endswith(f"; {f}: owner 1234 -> 3456, group 2345 -> 0\n")
    assert (f.stat().st_uid, f.stat().st_gid) == (3456, 0)
    outcome, sink = run_step(REGISTRY, "copy", {"dest": str(f), "content": "new\n", "owner": "3456"}, tmp_path)
    assert not outcome.changed


def test_backup_only_when_the_content_changes(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("old\n")
    f.chmod(0o600)
    outcome, sink = run_step(REGISTRY, "copy", {"dest": str(f), "content": HELLO, "backup": True}, tmp_path)
    (backup,) = [p for p in tmp_path.iterdir() if p.name != "f"]
    assert re.fullmatch(r"f\.\d+\.bak", backup.name)
    assert sink.stdout == f"changed: wrote 6 bytes to {f} (sha256 {HELLO_SUM}); backup {backup}\n"
    assert (backup.read_text(), backup.stat().st_mode & 0o7777) == ("old\n", 0o600)
    run_step(REGISTRY, "copy", {"dest": str(f), "content": HELLO, "backup": True, "mode": "0644"}, tmp_path)
    assert len(list(tmp_path.iterdir())) == 2  # a mode change alone makes no backup


def test_the_checksum_is_read_in_chunks(tmp_path: Path) -> None:
    f = tmp_path / "f"
    data = os.urandom(300_000)
    f.write_bytes(data)
    assert sha256_file(str(f)) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("before", "inputs", "message"), [
    ({}, {"dest": "{t}/f"}, "copy: give content"),
    ({"d": {"dir": "0755"}}, {"dest": "{t}/d", "content": "x"}, "copy: dest {t}/d is a directory"),
    ({"d": {"dir": "0755"}, "l": {"link": "d"}}, {"dest": "{t}/l", "content": "x"},
     "copy: dest {t}/l -> {t}/d is a directory"),
    ({}, {"dest": "{t}/no/f", "content": "x"}, "copy: dest {t}/no/f: directory {t}/no does not exist"),
    ({"l": {"link": "gone"}}, {"dest": "{t}/l", "content": "x"},
     "copy: dest {t}/l is a symlink to {t}/gone, which does not exist"),
    ({}, {"dest": "{t}/f", "content": "x", "mode": "a+r"}, "copy: mode 'a+r' is not an octal mode"),
    ({}, {"dest": "{t}/f", "content": "x", "owner": "nobody-at-all"}, "copy: owner 'nobody-at-all' is no user"),
    ({}, {"dest": "f", "content": "x"}, "copy: dest must be an absolute path, got 'f'"),
])
def test_failures_name_the_input(before: dict[str, Any], inputs: dict[str, Any], message: str,
                                 tmp_path: Path) -> None:
    lay_out(tmp_path, before)
    was = tree(tmp_path)
    with pytest.raises(PluginError) as info:
        run_step(REGISTRY, "copy", fill(inputs, tmp_path), tmp_path)
    assert str(info.value).startswith(fill(message, tmp_path))
    assert tree(tmp_path) == was


def test_a_fifo_is_not_written_through(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p")
    with pytest.raises(PluginError, match=f"^copy: dest {tmp_path}/p is not a regular file$"):
        run_step(REGISTRY, "copy", {"dest": str(tmp_path / "p"), "content": "x"}, tmp_path)


@pytest.mark.parametrize(("raw", "where", "message"), [
    ({"content": "x"}, "case.dest", "missing required parameter"),
    ({"dest": "/x", "content": 12}, "case.content", "expected a string, got an integer"),
    ({"dest": "/x", "content": "a\x00b"}, "case.content", "contains a NUL character, which no command line, "
                                                          "environment variable or database text can carry"),
    ({"dest": "/x", "force": "no"}, "case.force", "expected a boolean, got a string"),
    ({"dest": "/x", "source": "files/x"}, "case.source",
     "unsupported parameter (supported: backup, content, dest, force, group, mode, owner, src, src_sha256)"),
])
def test_bad_inputs(raw: Any, where: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        REGISTRY.bind("copy", raw, "case")
    assert (info.value.where, info.value.message) == (where, message)


def test_spec() -> None:
    spec = CopyPlugin.spec
    assert (spec.name, spec.supports_check_mode, spec.needs_workdir) == ("copy", True, False)
    assert spec.platforms == frozenset({Platform.LINUX, Platform.MACOS})


def test_check_mode_says_a_copy_into_a_directory_not_made_yet_would_need_it(tmp_path: Path) -> None:
    """Ansible's copy fails here in check mode; a play that makes the directory first is checkable."""
    dest = tmp_path / "later" / "a.conf"
    outcome, sink = run_step(REGISTRY, "copy", {"dest": str(dest), "content": "x\n"}, tmp_path, check_mode=True)
    assert outcome.changed and not dest.parent.exists()
    assert f"its directory {dest.parent} does not exist yet" in sink.stdout
