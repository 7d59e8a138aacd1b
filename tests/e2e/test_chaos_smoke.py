"""``make chaos`` scaled down: a randomized run on real processes (a controller on its own tmpfs,
4 agents and a swarm of 10, all through the fault proxy), faults drawn from the seed, and every
invariant asserted: nothing ran twice, nothing an agent had was lost, every invocation and every
command ended within its bound. The seed is random unless OUTPOST_CHAOS_SEED is set, and every
failure names it, with the command that replays it."""
from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

import pytest

from controller.dev.chaos.__main__ import campaign
from controller.dev.chaos.checks import Problem
from controller.dev.chaos.plan import SMOKE
from controller.dev.chaos.report import totals


@pytest.mark.timeout(280)
def test_randomized_fault_runs_keep_every_invariant(tmp_path: Path) -> None:
    seed = int(os.environ.get("OUTPOST_CHAOS_SEED") or random.SystemRandom().randrange(1_000_000))
    lines: list[str] = []
    results = campaign(dataclasses.replace(SMOKE, seed=seed), tmp_path / "chaos", say=lines.append).results
    t = totals(results)
    context = (f"seed {seed}; replay with: python -m controller.dev.chaos --smoke --runs {SMOKE.runs} --seed {seed}\n"
               + "\n".join(lines) + "\nlogs: " + str(tmp_path / "chaos"))
    assert len(results) == SMOKE.runs, context
    assert t.invocations > 0 and sum(t.faults.values()) >= SMOKE.runs * SMOKE.faults[0], context
    for problem in Problem:
        assert t.problems[problem] == 0, f"{problem.value}: {t.problems[problem]}\n{context}"
    assert t.unsettled == 0 and not t.notes, context
    assert all(r.ok for r in results), context
