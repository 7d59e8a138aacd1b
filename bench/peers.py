"""The peers, measured in the same invocation as Outpost: Ansible and Salt running `true` on many
nodes of this machine, installed by the bench into a throwaway virtual environment
(/tmp/outpost-bench-peers/venv, reused when present).

Per-node cost is a peer's wall time divided by its node count; Outpost's is its fan-out of a real
`true` divided by its agent count (figures.swarm_group); the ratio is the peer's over Outpost's.
A peer that cannot be installed or started is reported as such in its row, never skipped.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.model import Measure, Scale, failed, say
from controller.dev.cluster import free_port_pair

PEERS_DIR = Path(os.environ.get("OUTPOST_BENCH_PEERS_DIR", "/tmp/outpost-bench-peers"))
VENV = PEERS_DIR / "venv"
INSTALL_TIMEOUT = 1200


class PeerUnavailable(Exception):
    """The peer could not be installed: the row says "not installable: <reason>"."""


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip() and "is ignored: it is neither" not in ln]
    return lines[-1][:200] if lines else ""


def ensure_installed(package: str, script: str) -> Path:
    """The venv's bin directory with ``script`` in it, pip-installing ``package`` when it is missing."""
    bin_dir = VENV / "bin"
    if (bin_dir / script).exists():
        return bin_dir
    say(f"peers: installing {package} into {VENV}")
    try:
        if not (bin_dir / "python").exists():
            PEERS_DIR.mkdir(parents=True, exist_ok=True)
            python = shutil.which("python3") or sys.executable
            subprocess.run([python, "-m", "venv", str(VENV)], check=True, capture_output=True, text=True, timeout=300)
        proc = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", package],
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        raise PeerUnavailable(f"{package}: {failed(exc)}") from exc
    if proc.returncode != 0 or not (bin_dir / script).exists():
        raise PeerUnavailable(f"pip install {package} exited {proc.returncode}: {_last_line(proc.stderr)}")
    return bin_dir


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


# ---------------------------------------------------------------------- Ansible


def ansible_runs(hosts: int, runs: int, work: Path) -> tuple[list[float], str]:
    """Wall seconds of ``ansible all -m command -a true -f 50`` over ``hosts`` local hosts, per run."""
    bin_dir = ensure_installed("ansible-core", "ansible")
    work.mkdir(parents=True, exist_ok=True)
    inventory = work / "inventory.ini"
    inventory.write_text("[all]\n" + "".join(
        f"h{i:04d} ansible_connection=local ansible_python_interpreter={bin_dir / 'python'}\n" for i in range(hosts)))
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(work / "tmp"), "ANSIBLE_REMOTE_TEMP": str(work / "remote"),
           "ANSIBLE_RETRY_FILES_ENABLED": "False"}
    cmd = [str(bin_dir / "ansible"), "all", "-i", str(inventory), "-m", "command", "-a", "true", "-f", "50", "-o"]
    out = []
    for _ in range(runs):
        say(f"peers: ansible, {hosts} hosts")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, cwd=work)
        wall = time.perf_counter() - t0
        ok = sum(1 for ln in proc.stdout.splitlines() if " | CHANGED | " in ln or " | SUCCESS | " in ln)
        if proc.returncode != 0 or ok != hosts:
            raise RuntimeError(f"ansible exited {proc.returncode} with {ok}/{hosts} hosts ok: "
                               f"{_last_line(proc.stderr or proc.stdout)}")
        out.append(wall)
    return out, _version([str(bin_dir / "ansible"), "--version"])


# ---------------------------------------------------------------------- Salt


class SaltCluster:
    """A salt-master and minions as processes on 127.0.0.1, configured in a temporary directory."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="obs-salt-"))  # short: unix socket paths are limited
        self.port = free_port_pair()
        self.procs: list[subprocess.Popen] = []
        self.minions = 0
        self._write(self.dir / "master" / "master", "master", [
            "interface: 127.0.0.1", f"publish_port: {self.port}", f"ret_port: {self.port + 1}",
            "auto_accept: True", "worker_threads: 4"])

    def _write(self, path: Path, role: str, extra: list[str]) -> None:
        home = path.parent
        home.mkdir(parents=True, exist_ok=True)
        lines = [f"root_dir: {home}", f"pki_dir: {home}/pki", f"cachedir: {home}/cache", f"sock_dir: {home}/sock",
                 f"log_file: {home}/{role}.log", f"pidfile: {home}/{role}.pid", "user: root",
                 "log_level_logfile: warning", *extra]
        path.write_text("\n".join(lines) + "\n")

    def _spawn(self, args: list[str], log: Path) -> None:
        with open(log, "ab") as fh:
            self.procs.append(subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True))

    def start_master(self) -> None:
        self._spawn([str(self.bin / "salt-master"), "-c", str(self.dir / "master"), "-l", "warning"],
                    self.dir / "master.out")

    def add_minions(self, upto: int) -> None:
        for i in range(self.minions + 1, upto + 1):
            home = self.dir / f"m{i:02d}"
            self._write(home / "minion", "minion", [
                f"id: bench-m{i:02d}", "master: 127.0.0.1", f"publish_port: {self.port}",
                f"master_port: {self.port + 1}", "acceptance_wait_time: 1", "random_reauth_delay: 0"])
            self._spawn([str(self.bin / "salt-minion"), "-c", str(home), "-l", "warning"], self.dir / f"m{i:02d}.out")
        self.minions = max(self.minions, upto)

    def salt(self, *args: str, timeout: float = 120) -> dict[str, object]:
        proc = subprocess.run([str(self.bin / "salt"), "-c", str(self.dir / "master"), "*", *args, "--out", "json",
                               "--static"], capture_output=True, text=True, timeout=timeout)
        try:
            doc = json.loads(proc.stdout or "{}")
        except json.JSONDecodeError:
            doc = {}
        return doc if isinstance(doc, dict) else {}

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for p in self.procs[:1]:
                if p.poll() is not None:
                    raise RuntimeError(f"salt-master exited {p.returncode}: {self.tail('master.out')}")
            seen = sum(1 for v in self.salt("test.ping", "-t", "5", timeout=60).values() if v is True)
            if seen >= self.minions:
                return
            time.sleep(1)
        raise RuntimeError(f"only {seen} of {self.minions} salt minions answered test.ping in {timeout:.0f} s: "
                           f"{self.tail('m01.out')}")

    def run_true(self) -> float:
        t0 = time.perf_counter()
        doc = self.salt("cmd.run", "/bin/true", "-t", "120", timeout=300)
        wall = time.perf_counter() - t0
        if len(doc) != self.minions:
            raise RuntimeError(f"salt cmd.run returned {len(doc)} of {self.minions} minions")
        return wall

    def tail(self, name: str) -> str:
        path = self.dir / name
        return _last_line(path.read_text(errors="replace")) if path.exists() else ""

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def salt_runs(sizes: tuple[int, ...], runs: int) -> tuple[dict[int, list[float]], str]:
    """Wall seconds of ``salt '*' cmd.run /bin/true`` per run, for each minion count (growing)."""
    bin_dir = ensure_installed("salt", "salt-master")
    cluster = SaltCluster(bin_dir)
    out: dict[int, list[float]] = {}
    try:
        cluster.start_master()
        for size in sorted(sizes):
            say(f"peers: salt, starting {size} minions")
            cluster.add_minions(size)
            cluster.wait_ready()
            out[size] = [cluster.run_true() for _ in range(runs)]
    finally:
        cluster.stop()
    return out, _version([str(bin_dir / "salt"), "--version"])


# ---------------------------------------------------------------------- the rows


def _ratios(board: dict[str, Measure], key: str, walls: list[float], nodes: int, outpost: list[float],
            what: str) -> None:
    """Per run: the peer's seconds per node over Outpost's (run i with run i). The peer's own figures
    are kept in the row even when Outpost's are missing."""
    row = board[key]
    peer = statistics.median(walls)
    row.detail = {"peer_runs_s": walls, "peer_nodes": nodes, "peer_ms_per_node": peer / nodes * 1000}
    row.note = f"{what}: {peer:.2f} s for {nodes} nodes = {peer / nodes * 1000:.1f} ms/node"
    if not outpost:
        row.fail("failed: no Outpost per-node figure to compare with (fanout_subprocess failed); " + row.note)
        return
    ours = statistics.median(outpost)
    row.detail["outpost_ms_per_node"] = ours * 1000
    row.runs = [(w / nodes) / (outpost[i] if i < len(outpost) else ours) for i, w in enumerate(walls)]
    row.note += f"; Outpost {ours * 1000:.2f} ms/node"


def peers_group(root: Path, scale: Scale, runs: int, board: dict[str, Measure], outpost: list[float]) -> None:
    if "ansible.ratio" in board:
        try:
            walls, version = ansible_runs(scale.ansible_hosts, runs, root / "ansible")
            _ratios(board, "ansible.ratio", walls, scale.ansible_hosts, outpost, version)
        except PeerUnavailable as exc:
            board["ansible.ratio"].fail(f"not installable: {exc}")
        except Exception as exc:  # noqa: BLE001 - reported in the table
            board["ansible.ratio"].fail(failed(exc))
    salt_keys = [k for k in board if k.startswith("salt.")]
    if salt_keys:
        try:
            by_size, version = salt_runs(scale.salt_minions, runs)
            for size, walls in by_size.items():
                _ratios(board, f"salt.ratio_{size}", walls, size, outpost, version)
        except PeerUnavailable as exc:
            for k in salt_keys:
                board[k].fail(f"not installable: {exc}")
        except Exception as exc:  # noqa: BLE001
            for k in salt_keys:
                if not board[k].runs:
                    board[k].fail(failed(exc))
