"""Helpers for the end-to-end tests of documents, parameters, output and events, driven through
the real CLI against a real controller and real agents (tests/support/cluster.py's Cluster).

* :func:`start_fleet`: a controller and named agents (tags per agent), enrolled, started together
  and waited for once; optionally an agent started with extra environment (PATH).
* :func:`create_document`, :func:`send`, :func:`wait_terminal`, :func:`command_ids`: the usual
  document/command round trips, polling with generous budgets.
* :class:`WebhookReceiver`: an HTTP server on 127.0.0.1 in the test process that records every
  request (headers and raw body) and can answer 500 until told otherwise.
"""
from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from controller.dev.cluster import OUTPOST, ROOT
from tests.support.cluster import Cluster, wait_for

TERMINAL_COMMAND_DETAILS = frozenset({"Success", "Failed", "Incomplete", "Cancelled", "ExecutionTimedOut",
                                      "DeliveryTimedOut", "NoInstancesInTag"})


# ---------------------------------------------------------------------------------------- fleet

@dataclass(frozen=True)
class AgentSpec:
    name: str
    tags: str  # "Role=web,Environment=dev"
    extra_env: Mapping[str, str] = field(default_factory=dict)


def start_fleet(cluster: Cluster, agents: Sequence[AgentSpec], *serve_args: str) -> None:
    """Start the controller, enrol every agent (in parallel), start them all, wait until all are
    Online once. ``cluster.init()`` must have run (the conftest fixture does it)."""
    cluster.start_controller(*serve_args)
    by_tags: dict[str, list[AgentSpec]] = {}
    for a in agents:
        by_tags.setdefault(a.tags, []).append(a)
    activations = {tags: cluster.create_activation(tags, limit=len(group)) for tags, group in by_tags.items()}
    with ThreadPoolExecutor(max_workers=max(1, len(agents))) as pool:
        list(pool.map(lambda a: cluster.enroll(a.name, activations[a.tags]), agents))
    for a in agents:
        start_agent_with_env(cluster, a.name, a.extra_env)
    cluster.wait_online([a.name for a in agents], timeout=60)


def start_agent_with_env(cluster: Cluster, name: str, extra_env: Mapping[str, str]) -> subprocess.Popen:
    """``cluster.start_agent`` with ``extra_env`` on top of ``cluster.env`` for this agent only."""
    if not extra_env:
        return cluster.start_agent(name)
    saved = cluster.env
    cluster.env = {**saved, **extra_env}
    try:
        return cluster.start_agent(name)
    finally:
        cluster.env = saved


# ---------------------------------------------------------------------------------------- documents

def write_file(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def create_document(cluster: Cluster, directory: Path, name: str, text: str | bytes, suffix: str = "yaml",
                    *, check: bool = True) -> subprocess.CompletedProcess[str]:
    path = write_file(directory, f"{name}.{suffix}", text)
    return cluster.outpost("document", "create", name, "--file", str(path), "--output", "json", check=check)


def shell_document(*steps: str, description: str = "") -> str:
    """A schema 2.2 YAML document: one aws:runShellScript step per ``NAME: COMMAND`` string, in order;
    ``steps`` may also be whole YAML step mappings (a string starting with ``{``)."""
    lines = ['schemaVersion: "2.2"', f"description: {json.dumps(description)}", "mainSteps:"]
    for s in steps:
        if s.startswith("{"):
            lines.append(f"  - {s}")
        else:
            name, _, cmd = s.partition(": ")
            lines.append(f"  - {{action: aws:runShellScript, name: {name}, "
                         f"inputs: {{runCommand: [{json.dumps(cmd)}]}}}}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- commands

def command_ids(cluster: Cluster) -> list[str]:
    rows = cluster.outpost_json("command", "list", "--limit", "1000")
    assert isinstance(rows, list)
    return [str(r["command_id"]) for r in rows]


def send(cluster: Cluster, *args: str) -> str:
    """``outpost command send ARGS --output json``; the command id."""
    row = cluster.outpost_json("command", "send", *args)
    assert isinstance(row, dict)
    return str(row["command_id"])


def send_script(cluster: Cluster, node_id: str, script: str, *extra: str) -> str:
    """Send the built-in shell document running ``script`` to one node; the command id."""
    return send(cluster, "--document", "Outpost-RunShellScript", "--targets", f"Key=InstanceIds,Values={node_id}",
                "--parameters", f"commands={script}", *extra)


def show(cluster: Cluster, command_id: str) -> dict:
    row = cluster.outpost_json("command", "show", command_id)
    assert isinstance(row, dict)
    return row


def wait_terminal(cluster: Cluster, command_id: str, timeout: float = 90) -> dict:
    """Poll ``command show`` until the command's detail is terminal; the last ``show``."""
    last: dict = {}

    def done() -> bool:
        nonlocal last
        last = show(cluster, command_id)
        return last["status_detail"] in TERMINAL_COMMAND_DETAILS
    try:
        wait_for(done, timeout, f"command {command_id} to end", interval=0.3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {json.dumps(last, indent=1)[:3000]}") from None
    return last


def run(cluster: Cluster, *args: str, timeout: float = 90) -> dict:
    """Send and wait until terminal: the final ``command show``."""
    return wait_terminal(cluster, send(cluster, *args), timeout)


def by_node(shown: dict) -> dict[str, dict]:
    return {i["node_id"]: i for i in shown["invocations"]}


def step_details(invocation: dict) -> list[tuple[str, str]]:
    return [(s["name"], s["status_detail"]) for s in invocation["steps"]]


def output(cluster: Cluster, command_id: str, node_id: str, *extra: str) -> list[dict]:
    rows = cluster.outpost_json("command", "output", command_id, "--node", node_id, *extra)
    assert isinstance(rows, list)
    return rows


def popen_outpost(cluster: Cluster, *args: str) -> subprocess.Popen[str]:
    """A long-running CLI process (``events --follow``, ``command logs --follow``) with pipes."""
    return subprocess.Popen([*OUTPOST, *args], env=cluster.env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def all_logs_text(cluster: Cluster) -> str:
    """Every log file the fleet wrote (controller, agents), whole."""
    return "\n".join(p.read_text(errors="replace") for p in sorted(cluster.root.glob("*.log")))


# ---------------------------------------------------------------------------------------- webhooks

@dataclass(frozen=True)
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    answered: int


class WebhookReceiver:
    """``http://127.0.0.1:PORT/hook``: records every POST; answers ``status`` (200 unless set)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    answer = receiver.status
                    receiver.requests.append(Received(time.monotonic(), {k.lower(): v for k, v in self.headers.items()},
                                                      body, answer))
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def set_status(self, status: int) -> None:
        with self._lock:
            self.status = status

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def delivered(self) -> list[Received]:
        """The requests answered 2xx, in arrival order."""
        return [r for r in self.snapshot() if 200 <= r.answered < 300]


def add_webhook(cluster: Cluster, url: str, secret: str, **extra: object) -> None:
    """Add a webhook to ``<controller_dir>/controller.yaml`` (before ``start_controller``)."""
    import yaml

    path = cluster.controller_dir / "controller.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.setdefault("webhooks", [])
    doc["webhooks"] = [*(doc["webhooks"] or []), {"url": url, "secret": secret, **extra}]
    path.write_text(yaml.safe_dump(doc, sort_keys=True))
