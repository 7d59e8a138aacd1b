"""``python -m controller.dev.chaos`` (``make chaos``): run the campaign, print a line per run, and
write the figures (``--doc``: docs/reliability.md's table; every run's findings to
``WORKDIR/results.json``). Exits 1 when any run has a finding, 0 otherwise."""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.dev.chaos.fleet import ChaosFleet
from controller.dev.chaos.machine import MachineWatch
from controller.dev.chaos.observe import Observer
from controller.dev.chaos.plan import SMOKE, Settings
from controller.dev.chaos.report import run_line, table, totals, write_doc, write_json
from controller.dev.chaos.runner import RunResult, run_campaign
from controller.dev.cluster import ROOT

WORKDIR = ROOT / ".chaos"


def _parser() -> argparse.ArgumentParser:
    full = Settings()
    p = argparse.ArgumentParser(prog="python -m controller.dev.chaos", description=__doc__)
    p.add_argument("--runs", type=int, default=full.runs)
    p.add_argument("--seed", type=int, default=None, help="the campaign's seed (default: from the clock, printed)")
    p.add_argument("--first-run", type=int, default=1, help="replay from this run of the seed")
    p.add_argument("--agents", type=int, default=None, help=f"real agents (default {full.agents})")
    p.add_argument("--swarm", type=int, default=None, help=f"simulated agents of the swarm (default {full.swarm})")
    p.add_argument("--smoke", action="store_true", help="the test suite's scaled-down settings")
    p.add_argument("--workdir", type=Path, default=WORKDIR, help="fleet, logs and results (emptied first)")
    p.add_argument("--doc", type=Path, default=None, help="write the table into this markdown file")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    base = SMOKE if args.smoke else Settings()
    changes: dict[str, int] = {"runs": args.runs, "first_run": args.first_run,
                               "seed": args.seed if args.seed is not None else int(time.time()) % 1_000_000}
    if args.agents is not None:
        changes["agents"] = args.agents
    if args.swarm is not None:
        changes["swarm"] = args.swarm
    return dataclasses.replace(base, **changes)


@dataclass(frozen=True)
class Campaign:
    results: list[RunResult]
    disk_full_unavailable: str | None  # why the disk could not be filled here (None: it was)
    seconds: float  # wall time, set-up included
    loads: list[float]  # the load average, every few seconds


def campaign(settings: Settings, workdir: Path, say: Callable[[str], None] = print) -> Campaign:
    """Set up a fleet in ``workdir``, run every run of ``settings``, stop everything."""
    shutil.rmtree(workdir, ignore_errors=True)
    began = time.time()
    machine = MachineWatch()
    fleet = ChaosFleet(workdir, settings)
    observer: Observer | None = None
    try:
        if fleet.disk_full_unavailable is not None:
            say(f"disk-full: not available here ({fleet.disk_full_unavailable})")
        fleet.set_up()
        say(f"fleet up in {time.time() - began:.0f} s: {len(fleet.node_of)} nodes")
        observer = Observer(fleet.cluster, settings.poll_seconds)
        results = run_campaign(fleet, observer, machine, say, lambda r: say(run_line(r)))
    finally:
        if observer is not None:
            observer.close()
        fleet.close()
        machine.close()
    return Campaign(results, fleet.disk_full_unavailable, time.time() - began, machine.loads())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = settings_from(args)
    given = list(sys.argv[1:] if argv is None else argv)
    if args.seed is None:  # the seed drawn goes into the command, so that it replays this campaign
        given += ["--seed", str(settings.seed)]
    command = "python -m controller.dev.chaos " + shlex.join(given)
    print(f"chaos: seed {settings.seed}, {settings.runs} run(s) from run {settings.first_run}, "
          f"{settings.agents} agents and a swarm of {settings.swarm}; workdir {args.workdir}", flush=True)
    done = campaign(settings, args.workdir, say=lambda line: print(line, flush=True))
    t = totals(done.results)
    write_json(args.workdir / "results.json", done.results)
    section = table(t, settings, command, done.seconds, done.disk_full_unavailable, done.loads)
    print(section)
    if args.doc is not None:
        write_doc(args.doc, section)
    return 0 if t.clean else 1


if __name__ == "__main__":
    sys.exit(main())
