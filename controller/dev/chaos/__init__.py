"""``make chaos``: randomized fault-injection runs on real Outpost processes on 127.0.0.1.

A controller (on a small tmpfs of its own), real agents and an ``outpost swarm`` run commands whose
script counts its own executions, while the controller and agents are killed (kill -9, SIGTERM),
the network between them is cut, stalled or slowed (a TCP proxy, proxy.py), and the controller's
disk fills. After each run the checks (checks.py) ask: did every invocation end within the bound
the rules give it, did any (command, node) run twice, was any result an agent had lost.

- plan.py: the settings and each run's seeded plan (commands and faults);
- fleet.py: the processes, their lives, the tmpfs and the routes;
- proxy.py: the fault proxy;
- script.py: the counting document and its count files;
- observe.py: terminal times and final states, through the CLI;
- checks.py: the invariants and the bound formula;
- runner.py: a run from heal to verdict, and the campaign;
- report.py: the figures, docs/reliability.md's table.

``python -m controller.dev.chaos --help``; docs/reliability.md explains the figures.
"""
