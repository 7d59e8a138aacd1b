"""The chaos runs' fleet: a controller on a small tmpfs of its own, real agents and one swarm, every
agent connected through the fault proxy, and a record of every process's lives.

Built on controller/dev/cluster.py's Cluster (the same CLI a user types). What this adds:

- the controller's directory (its SQLite database included) on a tmpfs mounted for the campaign,
  so that "the disk is full" is a real ENOSPC and bounded (a file fills what is left, then goes);
  where mounting is not allowed, :attr:`ChaosFleet.disk_full_unavailable` says why and that fault
  is not drawn;
- agents enrolled straight with the controller but given a proxy route as their controller
  address (``agent enroll --controller ROUTE --enrolment-endpoint CONTROLLER``): one route per real
  agent, one for the swarm;
- :class:`Lives`: when each process started and when it exited, so the checks know which life of
  an agent ran an execution and whether it outlived its end.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from controller.dev.chaos.plan import Settings
from controller.dev.chaos.proxy import FaultProxy
from controller.dev.chaos.script import DOCUMENT_NAME, document
from controller.dev.cluster import Cluster, wait_for

log = logging.getLogger(__name__)

SWARM = "swarm"
STOP_SECONDS = 20.0  # a signalled process that takes longer to exit is a finding, then killed
FILLER = ".chaos-disk-full"


@dataclass
class Life:
    started: float
    ended: float | None = None  # when it exited (a SIGTERM'd agent lives on while it stops: it sees until then)
    how: str = ""  # "SIGKILL", "SIGTERM", "exited N" (by itself: a finding)


@dataclass
class Lives:
    """Every process's lives, by process name ("controller", an agent's name, "swarm")."""
    by_name: dict[str, list[Life]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, name: str) -> None:
        with self._lock:
            self.by_name.setdefault(name, []).append(Life(time.time()))

    def end(self, name: str, how: str, at: float | None = None) -> None:
        with self._lock:
            life = self.by_name[name][-1]
            if life.ended is None:
                life.ended, life.how = (at or time.time()), how

    def life_at(self, name: str, at: float) -> Life | None:
        """The life of ``name`` that was running at ``at`` (the last one started by then)."""
        with self._lock:
            started = [life for life in self.by_name.get(name, []) if life.started <= at]
        return started[-1] if started else None


def mount_tmpfs(path: Path, megabytes: int) -> str | None:
    """Mount a tmpfs of ``megabytes`` on ``path``; None when done, else why it cannot be."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return "not root (mounting a tmpfs needs CAP_SYS_ADMIN)"
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0700", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return f"mount -t tmpfs failed: {(proc.stderr or proc.stdout).strip() or proc.returncode}"
    return None


class ChaosFleet:
    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        root.mkdir(parents=True, exist_ok=True)
        self.cluster = Cluster(root)
        self.counts_dir = root / "counts"
        self.counts_dir.mkdir(exist_ok=True)
        self.disk_full_unavailable = mount_tmpfs(self.cluster.controller_dir, settings.disk_mb)
        self._mounted = self.disk_full_unavailable is None
        self.proxy = FaultProxy(self.cluster.port)
        self.lives = Lives()
        self.agents = [f"a{i:02d}" for i in range(1, settings.agents + 1)]
        self.routes: dict[str, str] = {}  # route name (agent name or "swarm") -> HOST:PORT
        self.node_of: dict[str, str] = {}  # node id -> process name (an agent's, or "swarm")
        self.procs: dict[str, subprocess.Popen] = {}
        self.findings: list[str] = []  # what happened that no fault caused (processes that exited by themselves)
        self._lock = threading.Lock()
        self._log_size: dict[str, int] = {}  # each process's log size when it was last started

    # ------------------------------------------------------------------ set-up

    def serve_args(self) -> list[str]:
        s = self.settings
        return ["--sweep-interval", str(s.sweep_interval), "--lost-agent-grace", str(s.lost_grace),
                "--heartbeat-timeout", str(s.heartbeat_timeout)]

    def set_up(self) -> None:
        """Init and start the controller, enrol every agent through its route, start them all."""
        c = self.cluster
        c.init()
        self.start_controller()
        path = self.root / f"{DOCUMENT_NAME}.json"
        path.write_text(document(self.counts_dir, self.settings.execution_seconds, self.settings.max_sleep_ms))
        c.outpost("document", "create", DOCUMENT_NAME, "--file", str(path))
        enrolment = f"127.0.0.1:{c.port + 1}"
        real = c.create_activation("Fleet=real", limit=max(1, len(self.agents)))
        for name in self.agents:
            self.routes[name] = self.proxy.add_route(name)
            c.outpost("agent", "enroll", "--controller", self.routes[name], "--enrolment-endpoint", enrolment,
                      "--activation-id", real.activation_id, f"--activation-code={real.code}",
                      "--ca-fingerprint", real.ca_fingerprint, "--state-dir", str(c.state_dir(name)))
            self.node_of[self._node_id(c.state_dir(name))] = name
            self.start(name)
        if self.settings.swarm:
            self.routes[SWARM] = self.proxy.add_route(SWARM)
            act = c.create_activation("Fleet=swarm", limit=self.settings.swarm)
            self.start(SWARM, "--activation-id", act.activation_id, f"--activation-code={act.code}",
                       "--ca-fingerprint", act.ca_fingerprint)
            wait_for(lambda: self._swarm_enrolled() == self.settings.swarm, 600, "the swarm to enrol", interval=0.5)
            for i in range(1, self.settings.swarm + 1):
                self.node_of[self._node_id(self.root / SWARM / f"agent-{i:06d}")] = SWARM
        self.wait_online(timeout=300)

    @staticmethod
    def _node_id(state_dir: Path) -> str:
        return str(json.loads((state_dir / "identity.json").read_text())["node_id"])

    def _swarm_enrolled(self) -> int:
        proc = self.procs[SWARM]
        if proc.poll() is not None:
            raise RuntimeError(f"the swarm exited {proc.returncode} while enrolling:\n{self.cluster.logs()}")
        return sum(1 for p in (self.root / SWARM).glob("agent-*/identity.json"))

    # ------------------------------------------------------------------ processes

    def start_controller(self) -> None:
        self.cluster.start_controller(*self.serve_args())
        self.lives.begin("controller")

    def stop_controller(self, sig: signal.Signals) -> None:
        proc = self.cluster.controller
        assert proc is not None
        self._signal(proc, sig, "controller")
        self.lives.end("controller", sig.name)
        self.cluster.controller = None

    def start(self, name: str, *enrolment: str) -> None:
        """Start agent ``name`` (or the swarm) on its state directory."""
        c = self.cluster
        if name == SWARM:
            args = ["swarm", "--controller", self.routes[SWARM], "--enrolment-endpoint", f"127.0.0.1:{c.port + 1}",
                    "--agents", str(self.settings.swarm), "--state-dir", str(self.root / SWARM),
                    "--action", "subprocess", "--heartbeat-seconds", "2", "--backoff-base-seconds", "0.2",
                    "--connect-rate", "200", "--status-seconds", "10", *enrolment]
        else:
            args = ["agent", "run", "--state-dir", str(c.state_dir(name)), "--heartbeat-seconds", "1",
                    "--backoff-base-seconds", "0.2"]
        with self._lock:
            self._log_size[name] = self._log_bytes(name)
            self.procs[name] = c.spawn(name, args)
        self.lives.begin(name)

    def _log_bytes(self, name: str) -> int:
        try:
            return (self.cluster.root / f"{name}.log").stat().st_size
        except FileNotFoundError:
            return 0

    def _before_start_up(self, name: str, returncode: int) -> bool:
        """Killed by the SIGTERM itself before it wrote a line: it had not reached its own handler
        (interpreter start-up, on a loaded machine up to a second and more; no code of ours had run,
        nothing was taken), which is how systemd's SIGTERM ends such a process too."""
        return returncode == -signal.SIGTERM and self._log_bytes(name) == self._log_size.get(name, -1)

    def stop(self, name: str, sig: signal.Signals) -> None:
        with self._lock:
            proc = self.procs.pop(name)
        self._signal(proc, sig, name)
        self.lives.end(name, sig.name)

    def alive(self, name: str) -> bool:
        with self._lock:
            proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def _signal(self, proc: subprocess.Popen, sig: signal.Signals, name: str) -> None:
        if proc.poll() is not None:
            self.findings.append(f"{name} had exited by itself ({proc.returncode}) before the harness's {sig.name}")
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.findings.append(f"{name} did not exit within {STOP_SECONDS:.0f} s of {sig.name}; killed")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        if sig is signal.SIGTERM and proc.returncode != 0 and not self._before_start_up(name, proc.returncode):
            self.findings.append(f"{name} exited {proc.returncode} on SIGTERM")

    def check_processes(self) -> None:
        """Note any process that exited without the harness's signal (then it is restarted by heal)."""
        with self._lock:
            gone = {n: p for n, p in self.procs.items() if p.poll() is not None}
            for n in gone:
                del self.procs[n]
        for n, p in gone.items():
            self.lives.end(n, f"exited {p.returncode}")
            self.findings.append(f"{n} exited by itself ({p.returncode})")
        ctl = self.cluster.controller
        if ctl is not None and ctl.poll() is not None:
            self.lives.end("controller", f"exited {ctl.returncode}")
            self.findings.append(f"the controller exited by itself ({ctl.returncode})")
            self.cluster.controller = None

    # ------------------------------------------------------------------ the disk

    def fill_disk(self) -> int:
        """Fill the controller's tmpfs to its last byte; the bytes written."""
        written = 0
        fd = os.open(self.cluster.controller_dir / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 1 << 12, 1):
                block = b"\0" * size
                while True:
                    try:
                        written += os.write(fd, block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        return written

    def free_disk(self) -> None:
        (self.cluster.controller_dir / FILLER).unlink(missing_ok=True)

    # ------------------------------------------------------------------ state

    def journals_pending(self) -> int:
        """Journal files that still hold something unacknowledged (each agent's STATE/journal, the
        swarm's one for all its agents): an agent empties its file once nothing in it is held
        (agent/journal_file.py)."""
        files = [self.cluster.state_dir(n) / "journal" for n in self.agents] + [self.root / SWARM / "journal"]
        return sum(1 for f in files if f.exists() and f.stat().st_size > 0)

    def online(self) -> int:
        proc = self.cluster.outpost("node", "list", "--output", "json", check=False, timeout=30)
        if proc.returncode != 0:
            return -1
        return sum(1 for r in json.loads(proc.stdout) if r["ping_status"] == "Online")

    def wait_online(self, timeout: float) -> None:
        wait_for(lambda: self.online() == len(self.node_of), timeout, f"all {len(self.node_of)} nodes Online",
                 interval=1.0)

    def heal(self) -> None:
        """Everything back: the disk freed, the routes restored, the controller and every agent up."""
        self.check_processes()
        self.free_disk()
        self.proxy.restore()
        if self.cluster.controller is None:
            self.start_controller()
        for name in [*self.agents, *([SWARM] if self.settings.swarm else [])]:
            if not self.alive(name):
                self.start(name)

    def close(self) -> None:
        self.proxy.close()
        self.cluster.close()
        if self._mounted:
            path = str(self.cluster.controller_dir)
            if subprocess.run(["umount", path], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", path], capture_output=True)
            self._mounted = False
