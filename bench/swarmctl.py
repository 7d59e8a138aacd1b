"""Driving ``outpost swarm`` for the bench: enrol a swarm once, start and stop it, and count the
streams that failed on the way (from its log). ``online_count`` asks ``AdminService.ListNodes`` with
the operator's certificate (bench/fleet.py waits on the stored status and checks it against this).

An activation allows at most 1,000 registrations, so a large swarm is enrolled in slices: the swarm
enrols only the agents of its state directory that have no identity yet, so each slice runs it with
one more thousand agents and a fresh activation, and stops it once it has started its streams.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from controller.dev.cluster import OUTPOST, ROOT, Cluster
from controller.sdk.transport import AdminClient

ACTIVATION_LIMIT = 1000  # the controller's MAX_ACTIVATION_LIMIT
_STREAM_ENDED = re.compile(rb"stream to \S+ ended: ")
_STARTED_FAILED = re.compile(rb"agent-\d{6} (?:cannot start|stopped): ")


@dataclass(frozen=True)
class OnlineWait:
    seconds: float  # from the start mark until the count was reached
    online: int  # Online nodes last seen
    reached: bool


def online_count(client: AdminClient) -> int:
    try:
        nodes = client.list_nodes()
    except grpc.RpcError:
        return -1  # the controller is not up (yet)
    return sum(1 for n in nodes if n.ping_status == "Online")


class SwarmProcess:
    """One ``outpost swarm`` process over a state directory that outlives it (identities are reused)."""

    def __init__(self, cluster: Cluster, state_dir: Path, agents: int, *, action: str = "noop",
                 connect_rate: float = 1000.0, heartbeat: float = 30.0, backoff_base: float = 1.0) -> None:
        self.cluster = cluster
        self.state_dir = state_dir
        self.agents = agents
        self.action = action
        self.connect_rate = connect_rate
        self.heartbeat = heartbeat
        self.backoff_base = backoff_base
        self.log = cluster.root / f"swarm-{state_dir.name}.log"
        self.proc: subprocess.Popen | None = None
        self._mark = 0

    # ------------------------------------------------------------------ enrolment

    def enrolled(self) -> int:
        return sum(1 for i in range(1, self.agents + 1) if (self.state_dir / f"agent-{i:06d}").exists())

    def enroll(self, timeout: float = 900) -> float:
        """Enrol the agents that have no identity yet, a thousand per activation; returns seconds."""
        t0 = time.monotonic()
        have = self.enrolled()
        while have < self.agents:
            upto = min(self.agents, have + ACTIVATION_LIMIT)
            act = self.cluster.create_activation(limit=upto - have, expires="6h")
            self._spawn(upto, ["--activation-id", act.activation_id, f"--activation-code={act.code}",
                               "--ca-fingerprint", act.ca_fingerprint])
            deadline = time.monotonic() + timeout
            while b"swarm: starting" not in self._log_since():
                if not self.alive():
                    raise RuntimeError(f"enrolment failed (swarm exited {self.proc.returncode if self.proc else '?'}):"
                                       f"\n{self.tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"enrolment did not finish in {timeout} s:\n{self.tail()}")
                time.sleep(0.2)
            self.kill()  # every identity is saved before "starting"; its streams are of no use here
            have = self.enrolled()
            if have < upto:
                raise RuntimeError(f"only {have} of {upto} agents enrolled:\n{self.tail()}")
        return time.monotonic() - t0

    # ------------------------------------------------------------------ running

    def _spawn(self, agents: int, extra: list[str]) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self._mark = self.log.stat().st_size if self.log.exists() else 0
        fh = open(self.log, "ab")  # noqa: SIM115 - the child holds it; closed here right after the fork
        try:
            self.proc = subprocess.Popen(
                [*OUTPOST, "swarm", "--controller", self.cluster.address, "--agents", str(agents),
                 "--state-dir", str(self.state_dir), "--action", self.action,
                 "--connect-rate", f"{self.connect_rate:g}", "--heartbeat-seconds", f"{self.heartbeat:g}",
                 "--backoff-base-seconds", f"{self.backoff_base:g}", "--status-seconds", "2", *extra],
                env=self.cluster.env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            fh.close()

    def start(self) -> float:
        """Start every agent (already enrolled); returns the time.monotonic() of the start."""
        t0 = time.monotonic()
        self._spawn(self.agents, [])
        return t0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 60) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    # ------------------------------------------------------------------ its log

    def mark(self) -> int:
        """The log's current size: count failures from here with failed_streams(since=...)."""
        return self.log.stat().st_size if self.log.exists() else 0

    def _log_since(self, since: int | None = None) -> bytes:
        if not self.log.exists():
            return b""
        with open(self.log, "rb") as fh:
            fh.seek(self._mark if since is None else since)
            return fh.read()

    def failed_streams(self, since: int | None = None, until: int | None = None) -> int:
        """Streams that ended in an error, and agents that could not start or crashed, in the log
        between two marks (default: since this process started, up to now)."""
        text = self._log_since(since)
        if until is not None:
            text = text[: max(0, until - (self._mark if since is None else since))]
        return len(_STREAM_ENDED.findall(text)) + len(_STARTED_FAILED.findall(text))

    def tail(self, chars: int = 4000) -> str:
        return self._log_since(0)[-chars:].decode(errors="replace") if self.log.exists() else ""
