"""A local fleet of real Outpost processes on 127.0.0.1: a controller, agents and the CLI, for
`make demo`, the end-to-end tests and the bench.

Everything goes through the same command line a user types (``python -m controller.cli.entry``
is the ``outpost`` script; agents are reached through it as ``outpost agent ...``, so nothing here
imports the agent); each process logs to a file in the fleet's directory.
"""
from __future__ import annotations

import errno
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPOST = (sys.executable, "-m", "controller.cli.entry")


def _below_ephemeral() -> int:
    """The first port the kernel hands out as a connection's source port (Linux: 32768 by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_pair() -> int:
    """A port P with P and P+1 both free (the controller listens on both), picked at random below
    the ephemeral range: a port the kernel picked for us (bind to 0) is one it may also give an
    agent's or a test's outgoing connection as its source port before the controller binds it, and
    fleets started side by side (tests in parallel, a chaos campaign) made that happen."""
    top = min(_below_ephemeral(), 65535) - 2
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(min(10_000, top - 1), top)
        try:
            with socket.socket() as s1, socket.socket() as s2:
                s1.bind(("127.0.0.1", port))
                s2.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``. The probe connects from 127.0.0.2 where it
    can: from 127.0.0.1, a connect to a port nothing listens on yet can succeed as a TCP self-connect
    (the kernel picked that very port as the source), which looks like a listener and leaves a
    TIME-WAIT that then keeps the controller from binding the port."""
    try:
        try:
            probe = socket.create_connection(("127.0.0.1", port), timeout=0.2, source_address=("127.0.0.2", 0))
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:  # 127.0.0.2 exists (Linux): nothing listens yet
                return False
            probe = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        with probe:
            return probe.getsockname() != probe.getpeername()
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass(frozen=True)
class Activation:
    activation_id: str
    code: str
    ca_fingerprint: str


class Cluster:
    def __init__(self, root: Path, database_url: str | None = None) -> None:
        self.root = root
        self.port = free_port_pair()
        self.address = f"127.0.0.1:{self.port}"
        self.controller_dir = root / "controller"
        self.config = root / "cli.yaml"
        self.database_url = database_url
        self.env = {**os.environ, "OUTPOST_CONFIG": str(self.config), "PYTHONUNBUFFERED": "1"}
        self.controller: subprocess.Popen | None = None
        self.agents: dict[str, subprocess.Popen] = {}
        self.node_ids: dict[str, str] = {}
        self._logs: list[Path] = []
        self._spawned: list[subprocess.Popen] = []

    # ------------------------------------------------------------------ the CLI

    def outpost(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*OUTPOST, *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"outpost {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def outpost_json(self, *args: str) -> object:
        return json.loads(self.outpost(*args, "--output", "json").stdout)

    # ------------------------------------------------------------------ processes

    def spawn(self, name: str, args: Sequence[str], open_files: int | None = None) -> subprocess.Popen:
        """Start ``outpost ARGS`` logging to NAME.log; ``close`` stops it with everything else.
        ``open_files``: its open-file limit, soft and hard (RLIMIT_NOFILE)."""
        log = self.root / f"{name}.log"
        self._logs.append(log)
        fh = open(log, "ab")  # noqa: SIM115 - closed with the process
        limit = None if open_files is None else partial(resource.setrlimit, resource.RLIMIT_NOFILE,
                                                         (open_files, open_files))
        proc = subprocess.Popen([*OUTPOST, *args], env=self.env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=limit)
        self._spawned.append(proc)
        return proc


    def init(self) -> None:
        args = ["controller", "init", "--dir", str(self.controller_dir), "--hostname", "127.0.0.1",
                "--port", str(self.port)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        self.outpost(*args)

    def start_controller(self, *extra: str, open_files: int | None = None) -> None:
        assert self.controller is None or self.controller.poll() is not None
        self.controller = self.spawn("controller", ["controller", "serve", "--dir", str(self.controller_dir),
                                                     "--listen", self.address, *extra], open_files)

        def up() -> bool:
            assert self.controller is not None
            if self.controller.poll() is not None:
                raise AssertionError(f"controller exited {self.controller.returncode}:\n{self.logs()}")
            return _listening(self.port + 1) and _listening(self.port)
        wait_for(up, 30, "the controller to listen")

    def stop_controller(self, sig: int = signal.SIGTERM) -> None:
        if self.controller is not None and self.controller.poll() is None:
            self.controller.send_signal(sig)
            self.controller.wait(timeout=20)
        self.controller = None

    def create_activation(self, tags: str = "Environment=dev", limit: int = 5, expires: str = "1h") -> Activation:
        row = self.outpost_json("activation", "create", "--tags", tags, "--limit", str(limit), "--expires", expires)
        assert isinstance(row, dict)
        return Activation(str(row["activation_id"]), str(row["activation_code"]), str(row["ca_fingerprint"]))

    def state_dir(self, name: str) -> Path:
        return self.root / "agents" / name

    def enroll(self, name: str, act: Activation, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = self.outpost("agent", "enroll", "--controller", self.address, "--activation-id", act.activation_id,
                            f"--activation-code={act.code}", "--ca-fingerprint", act.ca_fingerprint,
                            "--state-dir", str(self.state_dir(name)), check=check)
        if proc.returncode == 0:
            self.node_ids[name] = proc.stdout.strip().rsplit(" ", 1)[-1]
        return proc

    def start_agent(self, name: str, heartbeat: float = 1.0, extra: Sequence[str] = ()) -> subprocess.Popen:
        proc = self.spawn(f"agent-{name}", ["agent", "run", "--state-dir", str(self.state_dir(name)),
                                             "--heartbeat-seconds", str(heartbeat), "--backoff-base-seconds", "0.2",
                                             *extra])
        self.agents[name] = proc
        return proc

    def stop_agent(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.agents.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(timeout=20)

    def nodes(self) -> list[dict[str, object]]:
        rows = self.outpost_json("node", "list")
        assert isinstance(rows, list)
        return rows

    def wait_online(self, names: Sequence[str], timeout: float = 30) -> None:
        want = {self.node_ids[n] for n in names}

        def online() -> bool:
            return want <= {r["node_id"] for r in self.nodes() if r["ping_status"] == "Online"}
        wait_for(online, timeout, f"nodes {sorted(want)} to be Online", interval=0.3)

    def logs(self) -> str:
        out = []
        for log in self._logs:
            if log.exists():
                out.append(f"===== {log.name}\n{log.read_text(errors='replace')[-6000:]}")
        return "\n".join(out)

    def close(self) -> None:
        procs = list(self._spawned)  # every process this fleet started, controller and agents included
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.agents.clear()
        self._spawned.clear()
        self.controller = None

