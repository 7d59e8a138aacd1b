"""``make bench``: Outpost's speed and memory figures on this machine (no thresholds here: the goals
are in the issue texts and docs/performance.md; tests never assert timings).

Figures now: one agent, N sequential commands running ``true`` (round trip from the SendCommand call
until the result is stored and the command is terminal: p50, p99), idle RSS of the agent and of
the controller. Prints a table and writes bench/results/latest.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from controller.cli.client import AdminClient
from controller.config import CliConfig
from controller.devcluster import ROOT, Cluster
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.document import Document, Step
from plugins.sdk.wire import detail_from_pb


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def round_trips(client: AdminClient, node_id: str, count: int) -> list[float]:
    doc = Document((Step("true", "shell", {"cmd": "true"}),), "bench").canonical_bytes()
    targets = pb.Targets(node_ids=[node_id])
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        sent = client.stub.SendCommand(pb.SendCommandRequest(document=doc, targets=targets, document_name="bench"))
        for event in client.stub.WatchCommand(pb.WatchCommandRequest(command_id=sent.command.command_id)):
            if event.WhichOneof("body") == "command" and detail_from_pb(event.command.detail).terminal:
                break
        out.append((time.perf_counter() - t0) * 1000)
    return out


def rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc]) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    args = ap.parse_args()
    results: dict[str, float | int | str] = {}
    with tempfile.TemporaryDirectory(prefix="outpost-bench-") as tmp:
        fleet = Cluster(Path(tmp))
        try:
            fleet.init()
            fleet.start_controller()
            act = fleet.create_activation()
            fleet.enroll("a", act)
            agent = fleet.start_agent("a", heartbeat=30.0)
            fleet.wait_online(["a"])
            with AdminClient(CliConfig.load(fleet.config)) as client:
                round_trips(client, fleet.node_ids["a"], 10)  # warm-up
                lat = round_trips(client, fleet.node_ids["a"], args.commands)
            results.update(commands=args.commands, p50_ms=round(statistics.median(lat), 2),
                           p99_ms=round(_percentile(lat, 0.99), 2), mean_ms=round(statistics.fmean(lat), 2))
            time.sleep(args.idle_seconds)
            assert fleet.controller is not None
            # the agent runs as `python -m controller.cli.entry agent run`: that process is the agent
            results.update(agent_idle_rss_mb=round(rss_mb(agent.pid), 1),
                           controller_rss_mb=round(rss_mb(fleet.controller.pid), 1))
        finally:
            fleet.close()
    table = Table(title="Outpost bench (1 agent, sequential `true`)", title_justify="left")
    for col in ("figure", "value", "goal"):
        table.add_column(col)
    table.add_row(f"round trip p50 ({args.commands} commands)", f"{results['p50_ms']} ms", "<= 20 ms")
    table.add_row("round trip p99", f"{results['p99_ms']} ms", "")
    table.add_row("agent idle RSS", f"{results['agent_idle_rss_mb']} MB", "<= 40 MB")
    table.add_row("controller RSS", f"{results['controller_rss_mb']} MB", "")
    Console().print(table)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
