"""The lineinfile plugin on the real filesystem: a file's text and inputs in; outcome, output and the
file's text out. Every case runs again in check mode, which must leave the file as it was."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from plugins.lineinfile import plugin as lineinfile
from plugins.lineinfile.plugin import LineInFilePlugin
from plugins.sdk.errors import InputError, PluginError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail
from tests.plugins.support import run_step, tree

REGISTRY = PluginRegistry([LineInFilePlugin()])
INI = "[main]\na=1\n[other]\n"

# the file's text before (None: no file), inputs (path is the file's), changed, output ({f} is the file),
# output in check mode (when it differs), text after
CASES: list[tuple[str, str | None, dict[str, Any], bool, str, str | None, str | None]] = [
    ("append-missing", "a\nb\n", {"line": "c"}, True,
     "changed: added the line at line 3 of {f}", "would change: add the line at line 3 of {f}", "a\nb\nc\n"),
    ("already-there", "a\nb\n", {"line": "a"}, False, "ok: {f} has the line", None, "a\nb\n"),
    ("append-after-a-last-line-without-newline", "a", {"line": "c"}, True,
     "changed: added the line at line 2 of {f}", "would change: add the line at line 2 of {f}", "a\nc\n"),
    ("append-to-an-empty-file", "", {"line": "c"}, True,
     "changed: added the line at line 1 of {f}", "would change: add the line at line 1 of {f}", "c\n"),
    ("regexp-replaces-the-last-match", "port=1\nx\nport=2\n", {"line": "port=80", "regexp": "^port="}, True,
     "changed: replaced line 3 of {f}", "would change: replace line 3 of {f}", "port=1\nx\nport=80\n"),
    ("regexp-match-is-the-line", "port=80\n", {"line": "port=80", "regexp": "^port="}, False,
     "ok: {f} has the line", None, "port=80\n"),
    ("regexp-no-match-line-elsewhere", "Port 80\n", {"line": "Port 80", "regexp": "^port="}, False,
     "ok: {f} has the line", None, "Port 80\n"),
    ("regexp-no-match-appends", "x\n", {"line": "port=80", "regexp": "^port="}, True,
     "changed: added the line at line 2 of {f}", "would change: add the line at line 2 of {f}", "x\nport=80\n"),
    ("insertafter-regexp", INI, {"line": "b=2", "insertafter": r"^\[main\]"}, True,
     "changed: added the line at line 2 of {f}", "would change: add the line at line 2 of {f}",
     "[main]\nb=2\na=1\n[other]\n"),
    ("insertbefore-regexp", INI, {"line": "b=2", "insertbefore": r"^\[other\]"}, True,
     "changed: added the line at line 3 of {f}", "would change: add the line at line 3 of {f}",
     "[main]\na=1\nb=2\n[other]\n"),
    ("insertbefore-BOF", INI, {"line": "# managed", "insertbefore": "BOF"}, True,
     "changed: added the line at line 1 of {f}", "would change: add the line at line 1 of {f}", "# managed\n" + INI),
    ("insertafter-EOF", INI, {"line": "z=9", "insertafter": "EOF"}, True,
     "changed: added the line at line 4 of {f}", "would change: add the line at line 4 of {f}", INI + "z=9\n"),
    ("insertafter-matching-nothing-appends", INI, {"line": "z=9", "insertafter": "^nothing"}, True,
     "changed: added the line at line 4 of {f}", "would change: add the line at line 4 of {f}", INI + "z=9\n"),
    ("regexp-wins-over-insertafter", INI, {"line": "a=2", "regexp": "^a=", "insertafter": "BOF"}, True,
     "changed: replaced line 2 of {f}", "would change: replace line 2 of {f}", "[main]\na=2\n[other]\n"),
    ("absent-by-line", "a\nb\na\n", {"line": "a", "state": "absent"}, True,
     "changed: removed 2 lines of {f}", "would change: remove 2 lines of {f}", "b\n"),
    ("absent-by-regexp", "#c\nx\n#d", {"regexp": "^#", "state": "absent"}, True,
     "changed: removed 2 lines of {f}", "would change: remove 2 lines of {f}", "x\n"),
    ("absent-one", "a\nb\n", {"line": "b", "state": "absent"}, True,
     "changed: removed 1 line of {f}", "would change: remove 1 line of {f}", "a\n"),
    ("absent-already", "a\n", {"line": "b", "state": "absent"}, False, "ok: {f} has no such line", None, "a\n"),
    ("absent-no-file", None, {"line": "b", "state": "absent"}, False, "ok: {f} does not exist", None, None),
    ("create", None, {"line": "c", "create": True}, True,
     "changed: created {f} (mode 0644) with the line", "would change: create {f} (mode 0644) with the line", "c\n"),
    ("crlf-line-counts-as-there", "a\r\nb\r\n", {"line": "b"}, False, "ok: {f} has the line", None, "a\r\nb\r\n"),
    ("only-newline-ends-a-line", "a\x0cb\n", {"line": "b"}, True,
     "changed: added the line at line 2 of {f}", "would change: add the line at line 2 of {f}", "a\x0cb\nb\n"),
    ("unicode", "größe=1\n", {"line": "größe=2", "regexp": r"^größe="}, True,
     "changed: replaced line 1 of {f}", "would change: replace line 1 of {f}", "größe=2\n"),
]


def write(f: Path, text: str | None) -> None:
    if text is not None:
        f.write_bytes(text.encode())


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_case(case: tuple[Any, ...], tmp_path: Path) -> None:
    _, before, inputs, changed, stdout, _check, after = case
    f = tmp_path / "f"
    write(f, before)
    outcome, sink = run_step(REGISTRY, "lineinfile", {"path": str(f), **inputs}, tmp_path)
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, changed)
    assert sink.stdout == stdout.replace("{f}", str(f)) + "\n"
    assert (f.read_bytes().decode() if f.exists() else None) == after
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if after is None else ["f"])  # no temporary left


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_check_mode_changes_nothing(case: tuple[Any, ...], tmp_path: Path) -> None:
    _, before, inputs, changed, stdout, check, _after = case
    f = tmp_path / "f"
    write(f, before)
    was = tree(tmp_path)
    outcome, sink = run_step(REGISTRY, "lineinfile", {"path": str(f), **inputs, "backup": True}, tmp_path,
                             check_mode=True)
    assert (outcome.detail, outcome.changed) == (Detail.SUCCESS, changed)
    assert sink.stdout == (check or stdout).replace("{f}", str(f)) + "\n"
    assert tree(tmp_path) == was


def test_a_rewrite_keeps_mode_and_owner_and_is_a_new_inode(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("a\n")
    f.chmod(0o640)
    os.chown(f, 1234, 2345)
    inode = f.stat().st_ino
    outcome, _ = run_step(REGISTRY, "lineinfile", {"path": str(f), "line": "b"}, tmp_path)
    st = f.stat()
    assert outcome.changed and f.read_text() == "a\nb\n"
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 1234, 2345)
    assert st.st_ino != inode  # replaced whole (a temporary renamed over it), never written in place


def test_mode_alone_and_with_an_edit(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("a\n")
    outcome, sink = run_step(REGISTRY, "lineinfile", {"path": str(f), "line": "a", "mode": "0600"}, tmp_path)
    assert outcome.changed and sink.stdout == f"changed: {f}: mode 0644 -> 0600\n"
    outcome, sink = run_step(REGISTRY, "lineinfile", {"path": str(f), "line": "b", "mode": "0640"}, tmp_path)
    assert sink.stdout == f"changed: added the line at line 2 of {f}; {f}: mode 0600 -> 0640\n"
    assert f.stat().st_mode & 0o7777 == 0o640
    outcome, sink = run_step(REGISTRY, "lineinfile", {"path": str(f), "line": "b", "mode": "0640"}, tmp_path)
    assert not outcome.changed and sink.stdout == f"ok: {f} has the line and mode 0640\n"


def test_create_with_a_mode(tmp_path: Path) -> None:
    f = tmp_path / "f"
    outcome, sink = run_step(REGISTRY, "lineinfile", {"path": str(f), "line": "x", "create": True, "mode": "0600"},
                             tmp_path)
    assert sink.stdout == f"changed: created {f} (mode 0600) with the line\n"
    assert f.read_text() == "x\n" and f.stat().st_mode & 0o7777 == 0o600


def test_bytes_that_are_not_utf8_are_kept(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"\xff\xfe latin-1 \xe9\n")
    run_step(REGISTRY, "lineinfile", {"path": str(f), "line": "c"}, tmp_path)
    assert f.read_bytes() == b"\xff\xfe latin-1 \xe9\nc\n"


def test_a_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    f, link = tmp_path / "f", tmp_path / "l"
    f.write_text("a\n")
    link.symlink_to("f")
    outcome, sink = run_step(REGISTRY, "lineinfile", {"path": str(link), "line": "b"}, tmp_path)
    assert sink.stdout == f"changed: added the line at line 2 of {link} -> {f}\n"
    assert link.is_symlink() and f.read_text() == "a\nb\n"


def test_backup_keeps_the_old_file_with_its_mode(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("a\n")
    f.chmod(0o600)
    os.utime(f, (1_000_000, 1_000_000))
    start = int(time.time())
    outcome, sink = run_step(REGISTRY, "lineinfile", {"path": str(f), "line": "b", "backup": True}, tmp_path)
    (backup,) = [p for p in tmp_path.iterdir() if p.name != "f"]
    assert re.fullmatch(r"f\.(\d+)\.bak", backup.name)
    assert start <= int(backup.name.split(".")[1]) <= time.time()
    assert sink.stdout == f"changed: added the line at line 2 of {f}; backup {backup}\n"
    assert backup.read_text() == "a\n" and f.read_text() == "a\nb\n"
    assert backup.stat().st_mode & 0o7777 == 0o600 and backup.stat().st_mtime == 1_000_000
    # a second backup within the same second gets a name of its own
    run_step(REGISTRY, "lineinfile", {"path": str(f), "line": "c", "backup": True}, tmp_path)
    assert len(list(tmp_path.iterdir())) == 3
    # nothing to change: no backup
    run_step(REGISTRY, "lineinfile", {"path": str(f), "line": "c", "backup": True}, tmp_path)
    assert len(list(tmp_path.iterdir())) == 3


def test_a_file_past_the_bound_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lineinfile, "MAX_FILE_BYTES", 100_000)
    f = tmp_path / "f"
    f.write_text("x" * 100_001)
    with pytest.raises(PluginError, match=f"^lineinfile: path {f} is larger than"):
        run_step(REGISTRY, "lineinfile", {"path": str(f), "line": "b"}, tmp_path)


@pytest.mark.parametrize(("inputs", "message"), [
    ({"path": "{d}/f", "line": "x"}, "lineinfile: path {d}/f does not exist and create is false"),
    ({"path": "{d}/f", "line": "a\nb", "create": True}, "lineinfile: line must be one line (no line break)"),
    ({"path": "{d}/f", "regexp": "x", "create": True}, "lineinfile: line is required with state present"),
    ({"path": "{d}/f", "state": "absent"}, "lineinfile: give line or regexp with state absent"),
    ({"path": "{d}/f", "line": "x", "insertafter": "a", "insertbefore": "b"},
     "lineinfile: give insertafter or insertbefore, not both"),
    ({"path": "{d}/f", "line": "x", "regexp": "("},
     "lineinfile: regexp '(' is not a valid regular expression: missing ), unterminated subpattern at position 0"),
    ({"path": "{d}/f", "line": "x", "insertbefore": "[z"},
     "lineinfile: insertbefore '[z' is not a valid regular expression"),
    ({"path": "{d}", "line": "x"}, "lineinfile: path {d} is not a regular file"),
    ({"path": "{d}/no/f", "line": "x", "create": True}, "lineinfile: path {d}/no/f: directory {d}/no does not exist"),
    ({"path": "{d}/f", "line": "x", "mode": "rw-r--r--", "create": True},
     "lineinfile: mode 'rw-r--r--' is not an octal mode"),
    ({"path": "f", "line": "x"}, "lineinfile: path must be an absolute path, got 'f'"),
])
def test_failures_name_the_input(inputs: dict[str, Any], message: str, tmp_path: Path) -> None:
    filled = {k: v.replace("{d}", str(tmp_path)) if isinstance(v, str) else v for k, v in inputs.items()}
    with pytest.raises(PluginError) as info:
        run_step(REGISTRY, "lineinfile", filled, tmp_path)
    assert str(info.value).startswith(message.replace("{d}", str(tmp_path)))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("raw", "where", "message"), [
    ({"line": "x"}, "case.path", "missing required parameter"),
    ({"path": "/x", "state": "replaced"}, "case.state", "expected one of present, absent, got 'replaced'"),
    ({"path": "/x", "create": "yes"}, "case.create", "expected a boolean, got a string"),
    ({"path": "/x", "line": ["a"]}, "case.line", "expected a string, got a list"),
    ({"path": "/x", "backrefs": True}, "case.backrefs",
     "unsupported parameter (supported: backup, create, insertafter, insertbefore, line, mode, path, regexp, state)"),
])
def test_bad_inputs(raw: Any, where: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        REGISTRY.bind("lineinfile", raw, "case")
    assert (info.value.where, info.value.message) == (where, message)


def test_spec() -> None:
    spec = LineInFilePlugin.spec
    assert (spec.name, spec.supports_check_mode, spec.needs_workdir) == ("lineinfile", True, False)
    assert spec.platforms == frozenset({Platform.LINUX, Platform.MACOS})
