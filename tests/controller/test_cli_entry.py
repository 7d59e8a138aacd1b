"""controller/cli/entry.py: ``outpost``'s entry, as a process."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from controller.dev.cluster import ROOT

# The agent's CLI replaced by one that is sent SIGTERM while it "starts" (before any event loop
# handles the signal), then would go on starting; the entry is the real one, run as `outpost`.
_STARTING = textwrap.dedent("""
    import os, signal, sys, time
    import agent.cli
    from controller.cli import entry

    def starting(argv):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the rest of start-up: never reached
        return 3

    agent.cli.main = starting
    sys.exit(entry.main(sys.argv[1:]))
""")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _STARTING, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_an_agent_sent_sigterm_while_it_starts_stops_with_status_0_not_by_the_signal() -> None:
    proc = run("agent", "run", "--state-dir", "/nonexistent")
    assert proc.returncode == 0, proc.stderr


def test_other_commands_keep_sigterms_default() -> None:
    proc = run("agent", "enroll")  # not `agent run`: nothing waits for a stop, the signal ends it
    assert proc.returncode == -15, proc.stderr


def test_outpost_help_lists_every_command_the_agent_and_the_swarm_included() -> None:
    proc = subprocess.run([sys.executable, "-m", "controller.cli.entry", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ") and line.split()}
    assert {"agent", "swarm", "command", "playbook", "agent-release", "content", "baseline"} <= listed
