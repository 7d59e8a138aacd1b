"""A controller (devcluster.Cluster: real processes through the CLI) with a swarm's identities, on
SQLite or on a fresh PostgreSQL schema, and the operator calls the figures make.

Online is counted from the stored ``ping_status`` (the column ListNodes reports) with a read-only
query: ListNodes returns every node with its facts, which at 10,000 nodes costs the controller
seconds per call, so polling it would slow down the very thing being timed. Each fleet checks once,
outside the timed window, that ListNodes agrees.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from agent.state import StateDir
from bench.swarmctl import OnlineWait, SwarmProcess, online_count
from controller.dev.cluster import Cluster, wait_for
from controller.runtime.config import CliConfig, ControllerDir
from controller.sdk.transport import AdminClient
from controller.store.engine import create_store_engine, read_tx
from controller.store.schema import nodes
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire.convert import detail_from_pb
from plugins.sdk.wire.document import Document, Step

PG_DSN_ENV = "OUTPOST_BENCH_POSTGRES_DSN"
DEFAULT_PG_DSN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TRUE_DOC = Document((Step("true", "shell", {"cmd": "true"}),), "bench").canonical_bytes()


class PgSchema:
    """A fresh schema ``outpost_bench_<random>`` in the bench database, dropped by drop()."""

    def __init__(self, dsn: str | None = None) -> None:
        self.dsn = dsn or os.environ.get(PG_DSN_ENV, DEFAULT_PG_DSN)
        self.name = f"outpost_bench_{uuid.uuid4().hex[:12]}"
        self._admin: Engine = create_engine(self.dsn, poolclass=NullPool)
        with self._admin.begin() as conn:  # raises when PostgreSQL is not there
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))

    @property
    def url(self) -> str:
        url = make_url(self.dsn).update_query_dict({"options": f"-csearch_path={self.name}"})
        return url.render_as_string(hide_password=False)

    def drop(self) -> None:
        with self._admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        self._admin.dispose()


class Fleet:
    """One controller and the swarm identities enrolled with it (kept for the whole invocation)."""

    def __init__(self, root: Path, name: str, database_url: str | None = None) -> None:
        self.name = name
        self.cluster = Cluster(root / name, database_url)
        self.cluster.root.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.cluster.root / "swarm"
        self.client: AdminClient | None = None
        self._engine: Engine | None = None
        self._confirmed = False
        self.swarms: list[SwarmProcess] = []

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> Fleet:
        self.cluster.init()
        self.cluster.start_controller()
        self.client = AdminClient(CliConfig.load(self.cluster.config), timeout_seconds=120)
        url = ControllerDir(self.cluster.controller_dir).load_settings().database_url
        self._engine = create_store_engine(url)
        return self

    def close(self) -> None:
        for s in self.swarms:
            s.stop()
        if self.client is not None:
            self.client.close()
        if self._engine is not None:
            self._engine.dispose()
        self.stop_controller()
        self.cluster.close()

    @property
    def admin(self) -> AdminClient:
        assert self.client is not None, "open() the fleet first"
        return self.client

    def swarm(self, agents: int, action: str = "noop", connect_rate: float = 500.0) -> SwarmProcess:
        """A swarm process over the first ``agents`` identities of this fleet's state directory."""
        s = SwarmProcess(self.cluster, self.state_dir, agents, action=action, connect_rate=connect_rate)
        self.swarms.append(s)
        return s

    def enroll(self, agents: int) -> float:
        """Enrol the swarm's identities up to ``agents`` (once); returns seconds spent."""
        return self.swarm(agents).enroll()

    # ------------------------------------------------------------------ the controller

    @property
    def controller_pid(self) -> int:
        assert self.cluster.controller is not None
        return self.cluster.controller.pid

    def controller_rss(self) -> int:
        return psutil.Process(self.controller_pid).memory_info().rss

    def stop_controller(self, timeout: float = 180) -> float:
        """SIGTERM and wait; returns seconds until the process was gone."""
        proc = self.cluster.controller
        t0 = time.monotonic()
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.cluster.controller = None
        return time.monotonic() - t0

    def start_controller(self) -> None:
        self.cluster.start_controller()

    # ------------------------------------------------------------------ nodes

    def online(self) -> int:
        assert self._engine is not None
        with read_tx(self._engine) as conn:
            return int(conn.execute(select(func.count()).select_from(nodes)
                                    .where(nodes.c.ping_status == "Online")).scalar_one())

    def wait_online(self, count: int, timeout: float, start: float | None = None,
                    swarm: SwarmProcess | None = None, interval: float = 0.1) -> OnlineWait:
        """Poll the stored ping status until ``count`` nodes are Online (measured from ``start``)."""
        t0 = time.monotonic() if start is None else start
        while True:
            seen = self.online()
            now = time.monotonic()
            if seen >= count:
                break
            if now - t0 > timeout:
                return OnlineWait(now - t0, seen, False)
            if swarm is not None and not swarm.alive():
                raise RuntimeError(f"the swarm exited:\n{swarm.tail()}")
            time.sleep(interval)
        if not self._confirmed:  # once per fleet, outside the timed window: the API agrees
            api = online_count(self.admin)
            if api < count:
                raise RuntimeError(f"the database says {seen} nodes are Online but ListNodes says {api}")
            self._confirmed = True
        return OnlineWait(now - t0, seen, True)

    def wait_offline(self, timeout: float = 120) -> None:
        wait_for(lambda: self.online() == 0, timeout, "every node to be offline", interval=0.5)

    def node_ids(self, agents: int) -> list[str]:
        out = []
        for i in range(1, agents + 1):
            out.append(StateDir(self.state_dir / f"agent-{i:06d}").load_identity().node_id)
        return out


# ---------------------------------------------------------------------- commands


@dataclass(frozen=True)
class CommandOutcome:
    seconds: float  # from the SendCommand call until terminal with every result stored (or the timeout)
    terminal: bool
    detail: str
    targets: int
    completed: int
    errors: int
    delivery_timed_out: int

    @property
    def not_success(self) -> int:
        """Invocations without a stored successful result: lost, failed or never terminal."""
        return self.targets - self.completed + self.errors + self.delivery_timed_out


def true_request(node_ids: list[str], max_concurrency: str = "100%") -> pb.SendCommandRequest:
    """`true` on these nodes, all at once by default."""
    return pb.SendCommandRequest(document=TRUE_DOC, targets=pb.Targets(node_ids=node_ids), document_name="bench",
                                 max_concurrency=max_concurrency)


def send_true(client: AdminClient, node_ids: list[str], max_concurrency: str = "100%") -> str:
    return client.stub.SendCommand(true_request(node_ids, max_concurrency), timeout=300).command.command_id


def command_info(client: AdminClient, command_id: str) -> pb.CommandInfo:
    """The command's counters, cheaply (GetCommand would return every invocation and its output)."""
    return client.stub.ListCommands(pb.ListCommandsRequest(command_id=command_id), timeout=60).commands[0]


def _done(c: pb.CommandInfo) -> bool:
    return detail_from_pb(c.detail).terminal and c.completed_count >= c.target_count


def wait_command(client: AdminClient, command_id: str, t0: float, timeout: float,
                 interval: float = 0.05) -> CommandOutcome:
    while True:
        c = command_info(client, command_id)
        now = time.monotonic()
        if _done(c) or now - t0 > timeout:
            return CommandOutcome(now - t0, _done(c), c.status_detail, c.target_count, c.completed_count,
                                  c.error_count, c.delivery_timed_out_count)
        time.sleep(interval)


def fan_out(client: AdminClient, node_ids: list[str], timeout: float) -> CommandOutcome:
    """One command running `true` on every node at max-concurrency 100 %: send until terminal. Past
    ``timeout`` the command is cancelled (and waited for, so the next run starts on a quiet
    controller) and the outcome says terminal=False with what was stored at the timeout."""
    t0 = time.monotonic()
    cid = send_true(client, node_ids)
    outcome = wait_command(client, cid, t0, timeout)
    if not outcome.terminal:
        client.stub.CancelCommand(pb.CancelCommandRequest(command_id=cid), timeout=120)
        wait_command(client, cid, time.monotonic(), min(timeout, 60.0), interval=0.5)
    return outcome
