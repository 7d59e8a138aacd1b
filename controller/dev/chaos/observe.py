"""Watching a chaos run from outside, through the CLI as an operator would: when each invocation
first became terminal, and what the controller finally holds.

Two sources, because either alone misses something:

- ``outpost events --follow --output json``: every status change as the controller publishes it,
  timed on arrival here (never earlier than it happened). The stream ends with each controller
  life; it is started again at once, but changes made while it was down are not replayed;
- ``outpost command show`` of every command that still has an unfinished invocation, every
  ``poll_seconds``: whatever the events missed is seen terminal at the next poll.

An invocation's terminal time is the earlier of the two; both are upper bounds of the moment the
controller stored it, so a bound checked against them is never checked too kindly.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import threading
import time
from dataclasses import dataclass

from controller.dev.cluster import OUTPOST, ROOT, Cluster

log = logging.getLogger(__name__)

# plugins/sdk/status.py's terminal invocation details (this room imports nothing of the controller)
TERMINAL = frozenset({"Success", "Failed", "ExecutionTimedOut", "DeliveryTimedOut", "Cancelled", "Terminated",
                      "InvalidPlatform", "Undeliverable", "AccessDenied", "AgentLost"})
# the invocation ends the controller gives when the agent did not report
UNREPORTED = frozenset({"DeliveryTimedOut", "AgentLost"})
COMMAND_TERMINAL = frozenset({"Success", "Failed", "Incomplete", "Cancelled", "ExecutionTimedOut", "DeliveryTimedOut",
                              "NoInstancesInTag"})

Key = tuple[str, str]  # (command id, node id)


def parse_iso(text: str) -> float | None:
    """controller/cli/render.py's ``iso`` back to epoch seconds (it keeps whole seconds)."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Invocation:
    """One invocation as ``command show`` gives it."""
    command_id: str
    node_id: str
    detail: str
    started: float | None  # accepted (whole seconds, as shown)
    output: str  # every step's stdout
    errors: str  # every step's error text

    @property
    def terminal(self) -> bool:
        return self.detail in TERMINAL


@dataclass(frozen=True)
class Shown:
    """A command as ``command show`` gives it."""
    command_id: str
    detail: str
    invocations: tuple[Invocation, ...]


def shown(row: dict) -> Shown:
    cid = str(row["command_id"])
    return Shown(cid, str(row["status_detail"]), tuple(
        Invocation(cid, str(i["node_id"]), str(i["status_detail"]), parse_iso(i["started"]),
                   "\n".join(s["stdout"] or "" for s in i["steps"]), "\n".join(s["error"] or "" for s in i["steps"]))
        for i in row["invocations"]))


class Observer:
    """Terminal times of the invocations of the commands it is told about (:meth:`watch`)."""

    def __init__(self, cluster: Cluster, poll_seconds: float) -> None:
        self._cluster = cluster
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._first_terminal: dict[Key, float] = {}
        self._dispatched: dict[Key, float] = {}  # first seen past Pending (sent, or held for its offline node)
        self._latest: dict[Key, Invocation] = {}
        self._watched: dict[str, bool] = {}  # command id -> every invocation seen terminal
        self._stopping = threading.Event()
        self._events: subprocess.Popen[str] | None = None
        self._threads = [threading.Thread(target=self._follow, name="chaos-events", daemon=True),
                         threading.Thread(target=self._poll, name="chaos-poll", daemon=True)]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ what it knows

    def watch(self, command_id: str) -> None:
        with self._lock:
            self._watched.setdefault(command_id, False)

    def first_terminal(self, key: Key) -> float | None:
        with self._lock:
            return self._first_terminal.get(key)

    def dispatched(self, key: Key) -> float | None:
        with self._lock:
            return self._dispatched.get(key)

    def forget(self, command_ids: set[str]) -> None:
        """Drop what is known of these commands (a finished run's), to keep a long campaign small."""
        with self._lock:
            for d in (self._first_terminal, self._dispatched, self._latest):
                for key in [k for k in d if k[0] in command_ids]:
                    del d[key]
            for cid in command_ids:
                self._watched.pop(cid, None)

    def latest(self, command_ids: set[str]) -> list[Invocation]:
        with self._lock:
            return [inv for (cid, _), inv in self._latest.items() if cid in command_ids]

    def finished(self, command_ids: set[str]) -> bool:
        """Every invocation of these commands, and the command, seen terminal (by its last poll)."""
        with self._lock:
            return all(self._watched.get(c, False) for c in command_ids)

    def show(self, command_id: str) -> Shown | None:
        """``command show`` now (None when the controller does not answer); noted like a poll."""
        proc = self._cluster.outpost("command", "show", command_id, "--output", "json", check=False, timeout=60)
        if proc.returncode != 0:
            return None
        seen = time.time()
        got = shown(json.loads(proc.stdout))
        with self._lock:
            for inv in got.invocations:
                key = (inv.command_id, inv.node_id)
                self._latest[key] = inv
                if inv.detail != "Pending":
                    self._dispatched.setdefault(key, seen)
                if inv.terminal and key not in self._first_terminal:
                    self._first_terminal[key] = seen
            if command_id in self._watched:
                self._watched[command_id] = all(i.terminal for i in got.invocations) \
                    and got.detail in COMMAND_TERMINAL
        return got

    # ------------------------------------------------------------------ the threads

    def _follow(self) -> None:
        while not self._stopping.is_set():
            proc = subprocess.Popen([*OUTPOST, "events", "--follow", "--output", "json"], env=self._cluster.env,
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                    start_new_session=True)
            self._events = proc
            assert proc.stdout is not None
            for line in proc.stdout:
                seen = time.time()
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if row.get("kind") != "invocation":
                    continue
                key = (str(row["commandId"]), str(row["nodeId"]))
                with self._lock:
                    if row.get("statusDetails") != "Pending":
                        self._dispatched.setdefault(key, seen)
                    if row.get("statusDetails") in TERMINAL:
                        self._first_terminal.setdefault(key, seen)
            proc.wait()
            self._stopping.wait(0.2)  # the controller is down or restarting: try again shortly

    def _poll(self) -> None:
        while not self._stopping.wait(self._poll_seconds):
            with self._lock:
                pending = [c for c, done in self._watched.items() if not done]
            for cid in pending:
                if self._stopping.is_set():
                    return
                try:
                    self.show(cid)
                except (subprocess.TimeoutExpired, ValueError, KeyError) as exc:
                    log.debug("show %s: %s", cid, exc)

    def close(self) -> None:
        self._stopping.set()
        if self._events is not None and self._events.poll() is None:
            self._events.terminate()
        for t in self._threads:
            t.join(timeout=70)
        if self._events is not None and self._events.poll() is None:
            self._events.kill()
