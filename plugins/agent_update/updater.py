"""The agent's updater: a small process of its own (``python -m plugins.agent_update.updater
STATE_FILE``), started by the agent_update step, that hands the agent over to a new version and
rolls back when the new one does not come up. The standard library only; it imports nothing of
Outpost, so the version it hands over to cannot break it.

1. Wait for the agent (``agent_pid``) to exit: the step asked it to stop (SIGTERM after 120 s).
2. Point ``current`` at ``versions/TARGET`` (a new link renamed over the old: never half made).
3. Start the agent as it was started (``argv``); an agent that finds ``current`` runs that version.
4. Keep it once it has connected (its state directory's ``install/connected`` names TARGET and its
   pid) within ``timeout_seconds``: ``phase`` becomes ``done``.
5. Otherwise stop it, point ``current`` back where it was (or remove it), record why in the state
   file (``phase: rolled-back``, ``reason``) and start the agent again: the old version, whose next
   run of the step reports the rollback.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.2
AGENT_EXIT_SECONDS = 120.0
KILL_GRACE_SECONDS = 10.0


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} updater: {message}", flush=True)


def write_state(path: Path, state: dict) -> None:
    """The handover's state file, replaced whole (a reader sees the old one or the new one)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs: an exited process its parent has not reaped yet (a zombie) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[:1] != [b"Z"]
    except OSError:  # no /proc (macOS): what kill says
        return True


def _wait_exit(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(POLL_SECONDS)
    return not alive(pid)


def _point(current: Path, target: str) -> None:
    """``current`` -> ``target`` (relative to its directory); removed when ``target`` is empty."""
    if not target:
        current.unlink(missing_ok=True)
        return
    tmp = current.with_name(".current.new")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, current)


def _start(argv: list[str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)


def _connected(marker: Path, version: str, pid: int) -> bool:
    try:
        said = marker.read_text().split()
    except OSError:
        return False
    return said == [version, str(pid)]


def _stop(proc: subprocess.Popen) -> int | None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, KILL_GRACE_SECONDS)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def hand_over(state_path: Path) -> int:
    state = json.loads(state_path.read_text())
    install = state_path.parent
    current, marker, log_path = install / "current", install / "connected", install / "agent.log"
    target, previous, argv = state["target"], state["previous"], list(state["argv"])
    pid = int(state["agent_pid"])
    _log(f"handing over from {previous} (pid {pid}) to {target}")
    if not _wait_exit(pid, AGENT_EXIT_SECONDS):
        _log(f"agent {pid} did not stop; sending SIGTERM")
        os.kill(pid, signal.SIGTERM)
        if not _wait_exit(pid, AGENT_EXIT_SECONDS):
            os.kill(pid, signal.SIGKILL)
            _wait_exit(pid, KILL_GRACE_SECONDS)
    marker.unlink(missing_ok=True)
    _point(current, f"versions/{target}")
    proc = _start(argv, log_path)
    _log(f"started {target} (pid {proc.pid}); waiting {state['timeout_seconds']} s for it to connect")
    deadline = time.monotonic() + float(state["timeout_seconds"])
    while time.monotonic() < deadline and proc.poll() is None:
        if _connected(marker, target, proc.pid):
            write_state(state_path, {**state, "phase": "done", "agent_pid": proc.pid})
            _log(f"{target} connected; kept")
            return 0
        time.sleep(POLL_SECONDS)
    code = proc.poll()
    why = (f"it exited with code {code}" if code is not None
           else f"it did not connect within {state['timeout_seconds']} s")
    _stop(proc)
    _point(current, state.get("previous_link", ""))
    reason = f"the new agent {target} did not come up ({why}); rolled back to {previous}"
    write_state(state_path, {**state, "phase": "rolled-back", "reason": reason})
    _log(reason)
    back = _start(argv, log_path)
    write_state(state_path, {**state, "phase": "rolled-back", "reason": reason, "agent_pid": back.pid})
    _log(f"started {previous} again (pid {back.pid})")
    return 1


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m plugins.agent_update.updater STATE_FILE", file=sys.stderr)
        return 2
    try:
        return hand_over(Path(argv[0]))
    except (OSError, ValueError, KeyError) as exc:
        _log(f"failed: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
