"""controller/dev/chaos/plan.py: a run's plan is its seed's, and two faults never hold one thing at
the same planned time."""
from __future__ import annotations

from controller.dev.chaos.plan import SMOKE, FaultKind, Settings, plan_run

AGENTS = [f"a{i:02d}" for i in range(1, 21)]
ROUTES = [*AGENTS, "swarm"]
NODES = [f"mi-{i:017d}" for i in range(220)]


def test_the_same_seed_and_run_give_the_same_plan_and_another_run_another() -> None:
    s = Settings(seed=7)
    first = plan_run(s, 3, AGENTS, ROUTES, NODES, list(FaultKind))
    assert first == plan_run(s, 3, AGENTS, ROUTES, NODES, list(FaultKind))
    assert first.seed == "7:3"
    assert first != plan_run(s, 4, AGENTS, ROUTES, NODES, list(FaultKind))


def test_plans_stay_within_their_settings_and_faults_never_share_what_they_hold() -> None:
    s = Settings(seed=11)
    kinds = [k for k in FaultKind if k is not FaultKind.DISK_FULL]
    for index in range(1, 200):
        plan = plan_run(s, index, AGENTS, ROUTES, NODES, kinds)
        assert s.commands[0] <= len(plan.commands) <= s.commands[1]
        assert all(0 <= c.at <= s.send_window for c in plan.commands)
        assert 1 <= len(plan.faults) <= s.faults[1]
        assert all(f.kind in kinds and 0 <= f.at <= s.fault_window for f in plan.faults)
        for i, f in enumerate(plan.faults):
            for g in plan.faults[i + 1:]:
                if set(f.holds) & set(g.holds):
                    assert f.revive and f.at + f.seconds < g.at, (index, f, g)


def test_the_full_target_is_at_least_a_hundred_runs_and_the_smoke_is_smaller() -> None:
    full = Settings()
    assert full.runs >= 100
    assert SMOKE.agents < full.agents and SMOKE.swarm < full.swarm and SMOKE.runs < full.runs
