"""plugins.sdk.filesystem and run_query: the SDK the file and service plugins are made of."""
from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import psutil
import pytest

import plugins.sdk as sdk
from plugins.sdk import filesystem as fs
from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.errors import PluginError
from plugins.sdk.process import run_query
from tests.plugins.support import Sink, make_ctx


def test_every_export_is_listed_and_loads() -> None:
    assert set(sdk.__all__) == set(sdk._EXPORTS)
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None


@pytest.mark.parametrize(("text", "mode"), [("0644", 0o644), ("644", 0o644), ("1777", 0o1777), ("04755", 0o4755),
                                            ("0000", 0), (None, None)])
def test_parse_mode(text: str | None, mode: int | None) -> None:
    assert fs.parse_mode(text, "x: mode") == mode


@pytest.mark.parametrize("text", ["u=rw", "0o644", "64", "08", "99999", "", " 644", "0644\n", "7777 "])
def test_parse_mode_refuses_what_is_not_octal(text: str) -> None:
    with pytest.raises(PluginError, match=f"^x: mode {re.escape(repr(text))} is not an octal mode such as"):
        fs.parse_mode(text, "x: mode")


def test_owner_and_group_by_name_or_number() -> None:
    assert (fs.user_id("root", "u"), fs.user_id("1234", "u"), fs.user_id(None, "u")) == (0, 1234, None)
    assert (fs.group_id("root", "g"), fs.group_id("2345", "g"), fs.group_id(None, "g")) == (0, 2345, None)
    with pytest.raises(PluginError, match="^copy: owner 'no-such' is no user on this node$"):
        fs.user_id("no-such", "copy: owner")
    with pytest.raises(PluginError, match="^copy: group 'no-such' is no group on this node$"):
        fs.group_id("no-such", "copy: group")


def test_run_blocking_returns_and_raises() -> None:
    assert asyncio.run(fs.run_blocking(pow, 2, 10)) == 1024
    with pytest.raises(ZeroDivisionError):
        asyncio.run(fs.run_blocking(lambda: 1 / 0))


def test_a_cancel_waits_for_the_file_work_to_end(tmp_path: Path) -> None:
    marker = tmp_path / "done"

    def work() -> None:
        time.sleep(0.3)
        marker.write_text("x")

    async def go() -> bool:
        task = asyncio.create_task(fs.run_blocking(work))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.01)
        task.cancel()  # a second cancel changes nothing
        with pytest.raises(asyncio.CancelledError):
            await task
        return marker.exists()

    assert asyncio.run(go())  # the step ended only once the work had


def test_atomic_write_replaces_whole_and_cleans_up_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "f"
    f.write_text("old")
    fs.atomic_write(str(f), b"new", mode=0o640, uid=1234, gid=2345)
    st = f.stat()
    assert (f.read_text(), st.st_mode & 0o7777, st.st_uid, st.st_gid) == ("new", 0o640, 1234, 2345)

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        fs.atomic_write(str(f), b"newer", mode=0o644)
    assert f.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_write_file_keeps_or_sets_mode_and_owner(tmp_path: Path) -> None:
    f = tmp_path / "f"
    fs.write_file(str(f), b"a", existing=None, wanted=fs.Attributes())
    assert f.stat().st_mode & 0o7777 == fs.NEW_FILE_MODE
    f.chmod(0o600)
    os.chown(f, 1234, 1234)
    fs.write_file(str(f), b"b", existing=f.stat(), wanted=fs.Attributes(gid=2345))
    st = f.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid, f.read_text()) == (0o600, 1234, 2345, "b")


def test_backups_get_names_of_their_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "f"
    f.write_text("1")
    f.chmod(0o600)
    monkeypatch.setattr(fs.time, "time", lambda: 1_700_000_000.5)
    first = fs.backup_file(str(f))
    f.write_text("2")
    second = fs.backup_file(str(f))
    assert (first, second) == (f"{f}.1700000000.bak", f"{f}.1700000000.1.bak")
    assert (Path(first).read_text(), Path(second).read_text()) == ("1", "2")
    assert Path(first).stat().st_mode & 0o7777 == 0o600


def test_attributes_say_and_set_what_differs(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    f.chmod(0o644)
    wanted = fs.Attributes(mode=0o600, uid=1234)
    change = wanted.change(f.stat(), "/x")
    assert change == fs.Change("/x: mode 0644 -> 0600, owner 0 -> 1234", "/x: mode 0644 -> 0600, owner 0 -> 1234")
    assert str(wanted) == "mode 0600, owner 1234"
    wanted.apply(str(f))
    assert wanted.change(f.stat(), "/x") is None and wanted.change(None, "/x") is None


def test_follow_link(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "l1").symlink_to("f")
    (tmp_path / "l2").symlink_to("l1")
    (tmp_path / "loop").symlink_to("loop")
    assert fs.follow_link(str(tmp_path / "f"), "p") == str(tmp_path / "f")
    assert fs.follow_link(str(tmp_path / "l2"), "p") == str(tmp_path / "f")
    assert fs.follow_link(str(tmp_path / "new"), "p") == str(tmp_path / "new")
    with pytest.raises(PluginError, match="which does not exist$"):
        fs.follow_link(str(tmp_path / "loop"), "p")
    assert fs.shown_path(str(tmp_path / "l2"), str(tmp_path / "f")) == f"{tmp_path}/l2 -> {tmp_path}/f"


def test_report_changes(tmp_path: Path) -> None:
    changes = [fs.Change("write 1 byte", "wrote 1 byte"), fs.Change("/x: mode 0600 -> 0644", "/x: mode 0600 -> 0644")]
    for check_mode, changed, line in [(False, True, "changed: wrote 1 byte; /x: mode 0600 -> 0644"),
                                      (True, True, "would change: write 1 byte; /x: mode 0600 -> 0644")]:
        sink = Sink()
        outcome = asyncio.run(fs.report_changes(make_ctx(sink, tmp_path, check_mode=check_mode), changes, "fine"))
        assert (outcome.changed, sink.stdout) == (changed, line + "\n")
    sink = Sink()
    assert not asyncio.run(fs.report_changes(make_ctx(sink, tmp_path), [], "fine")).changed
    assert sink.stdout == "ok: fine\n"


def test_run_query_captures_stdout_and_passes_stderr_on(tmp_path: Path) -> None:
    sink = Sink()
    ctx = make_ctx(sink, tmp_path)
    code, out = asyncio.run(run_query(ctx, ["/bin/sh", "-c", "echo answer; echo why >&2; exit 3"], env=ctx.environment))
    assert (code, out) == (3, b"answer\n")
    assert sink.chunks == [(OutputStreamKind.STDERR, b"why\n")]


def test_run_query_output_is_bounded(tmp_path: Path) -> None:
    ctx = make_ctx(Sink(), tmp_path)
    code, out = asyncio.run(run_query(ctx, ["/bin/sh", "-c", "head -c 300000 /dev/zero"], env={}, limit=1000))
    assert (code, out) == (0, b"\0" * 1000)


def test_run_query_errors_as_run_process(tmp_path: Path) -> None:
    ctx = make_ctx(Sink(), tmp_path)
    with pytest.raises(PluginError, match="executable '/nope/systemctl' not found"):
        asyncio.run(run_query(ctx, ["/nope/systemctl", "is-active", "x"], env={}))


def test_a_cancelled_query_leaves_no_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    ctx = make_ctx(Sink(), tmp_path)

    async def go() -> int:
        task = asyncio.create_task(run_query(ctx, ["/bin/sh", "-c", f"echo $$ > {pid_file}; sleep 60"], env={}))
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return int(pid_file.read_text())

    pid = asyncio.run(go())
    alive = [p for p in psutil.process_iter(["status"]) if _group_of(p.pid) == pid
             and p.info["status"] != psutil.STATUS_ZOMBIE]  # zombies aside: this container's init does not reap
    assert not alive


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
