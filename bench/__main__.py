"""``make bench``: Outpost's figures on this machine, and the same work done by Ansible and Salt,
measured side by side in one invocation. Prints one table (figure, median, every run, goal, met)
and writes a JSON file (default bench/results/latest.json, git-ignored).

    python -m bench                                  # full scale, 3 runs each (~13 min on 2 cores today)
    python -m bench --scale small --runs 1           # a few minutes; the test suite's smoke run
    python -m bench --only latency,check             # some figures only

Figures (--only): connect, rss, fanout, fanout_pg, fanout_subprocess, latency, idle, restart, check,
ansible, salt. fanout_pg needs fanout (its ratio), ansible and salt need fanout_subprocess (Outpost's
per-node cost): asking for one brings the other. The goals are the issue's, for the full scale; a
small run reports them without judging. Timings are never asserted by the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench import machine
from bench.figures import FIGURES, catalogue, fail_rows, postgres_group, single_group, subprocess_group, swarm_group
from bench.model import SCALES, Measure, Scale, fmt, say
from bench.peers import peers_group
from controller.dev.cluster import ROOT

DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"
NEEDS = {"fanout_pg": "fanout", "ansible": "fanout_subprocess", "salt": "fanout_subprocess", "rss": "connect"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SCALES), default="full")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure; the table shows their median")
    ap.add_argument("--only", default="", help=f"comma-separated figures: {','.join(FIGURES)}")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the results")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (every process's log)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs: at least 1")
    wanted = [f.strip() for f in args.only.split(",") if f.strip()] or list(FIGURES)
    unknown = sorted(set(wanted) - set(FIGURES))
    if unknown:
        ap.error(f"--only: unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    for fig in list(wanted):
        if fig in NEEDS and NEEDS[fig] not in wanted:
            wanted.append(NEEDS[fig])
    args.wanted = [f for f in FIGURES if f in wanted]
    return args


def run_groups(scale: Scale, runs: int, board: dict[str, Measure], root: Path) -> None:
    """Each group runs what it is asked for; a group that breaks marks its rows failed and the next
    one still runs. The single-agent figures go first, while the machine is quiet."""
    outpost_per_node: list[float] = []
    groups: list[tuple[tuple[str, ...], Callable[[], None]]] = [
        (("latency", "check", "idle"), lambda: single_group(root, scale, runs, _only(board, "latency", "check",
                                                                                     "idle"))),
        (("fanout_subprocess",), lambda: subprocess_group(root, scale, runs, _only(board, "fanout_subprocess"),
                                                          outpost_per_node)),
        (("connect", "rss", "fanout", "restart"),
         lambda: swarm_group(root, scale, runs, _only(board, "connect", "rss", "fanout", "restart"))),
        (("fanout_pg",), lambda: postgres_group(root, scale, runs, _only(board, "fanout_pg"),
                                                board["fanout.seconds"].runs if "fanout.seconds" in board else [])),
        (("ansible", "salt"), lambda: peers_group(root, scale, runs, _only(board, "ansible", "salt"),
                                                  outpost_per_node)),
    ]
    for figures, run in groups:
        if not any(k.split(".")[0] in figures for k in board):
            continue
        t0 = time.monotonic()
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - reported in the table, the other groups still run
            say(f"{'/'.join(figures)} failed: {exc}")
            fail_rows(board, figures, exc)
        say(f"{'/'.join(figures)}: {time.monotonic() - t0:.0f} s")


def _only(board: dict[str, Measure], *figures: str) -> dict[str, Measure]:
    """The rows of ``figures`` (the same objects: the group fills the board's rows)."""
    return {k: v for k, v in board.items() if k.split(".")[0] in figures}


def render(board: dict[str, Measure], scale: Scale, runs: int, seconds: float) -> Table:
    judged = scale.name == "full"
    table = Table(title=f"Outpost bench — scale {scale.name}, median of {runs} run(s), {seconds / 60:.1f} min, "
                        f"{os.cpu_count()} cores" + ("" if judged else " (goals are for the full scale: not judged)"),
                  title_justify="left", show_lines=False)
    table.add_column("figure", overflow="fold", max_width=70)
    table.add_column("value", overflow="fold", max_width=60)
    for col in ("runs", "goal", "met"):
        table.add_column(col, overflow="fold")
    for row in board.values():
        if row.error:
            value, met = f"[red]{escape(row.error)}[/red]", "[red]no[/red]" if judged and row.limit is not None else "-"
        else:
            value = fmt(row.value, row.unit)
            met = "-" if row.met is None or not judged else "[green]yes[/green]" if row.met else "[red]no[/red]"
        table.add_row(escape(row.label), value, ", ".join(fmt(v, row.unit) for v in row.runs), escape(row.goal), met)
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scale = SCALES[args.scale]
    board = catalogue(scale, args.wanted)
    say(f"scale {scale.name}, {args.runs} run(s), figures: {', '.join(args.wanted)}")
    speed_before = machine.probe()
    say(f"machine speed at the start: {speed_before}")
    started = time.time()
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="outpost-bench-"))
    try:
        run_groups(scale, args.runs, board, work)
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - t0
    speed_after = machine.probe()
    console = Console(width=max(160, Console().width))
    console.print(render(board, scale, args.runs, seconds))
    console.print(f"  machine speed: {speed_before} at the start; {speed_after} at the end "
                  f"(docs/performance.md: the figures drift with it)")
    for row in board.values():
        if row.note:
            console.print(f"  [dim]{row.key}: {escape(row.note)}[/dim]")
    doc = {"scale": scale.name, "runs": args.runs, "started_at": started, "seconds": round(seconds, 1),
           "goals_judged": scale.name == "full",
           "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                       "python": platform.python_version(), "platform": platform.platform(),
                       "speed_at_start": speed_before.to_json(), "speed_at_end": speed_after.to_json()},
           "scale_parameters": scale.__dict__ | {"salt_minions": list(scale.salt_minions)},
           "figures": {k: v.to_json() for k, v in board.items()}}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
