"""The ``outpost`` command. Light on purpose: command groups that other packages provide (the
agent's ``outpost agent ...``) are found through the ``outpost.cli`` entry-point group and handed
the rest of the command line, so the controller never imports the agent, and running an agent
loads nothing of the controller's."""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

ENTRY_POINT_GROUP = "outpost.cli"


def _stopped_while_starting(signum: int, _frame: object) -> None:
    """A SIGTERM that comes before the agent's (or the swarm's) event loop has its own handler
    (start-up takes a second or more: imports, the state directory, the journal read back). Nothing
    has been taken yet, and what the journal holds waits for the next start: it stops as asked, with
    status 0, instead of dying by the signal (found by `make chaos`: an agent restarted after a
    kill -9 and sent SIGTERM at once; seed 642267 run 30, a swarm SIGTERMed while it started).

    It exits at once, as a kill -9 would but with status 0: what start-up writes survives that, and
    a SystemExit would wait for start-up's threads (an enrolment blocked on a controller that does
    not answer held a swarm 20 s)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:2] == ["agent", "run"] or args[:1] == ["swarm"]:  # until their loops handle SIGTERM themselves
        signal.signal(signal.SIGTERM, _stopped_while_starting)
    if args and not args[0].startswith("-"):
        import importlib.metadata  # after the handler above: this import is half of the start-up before it

        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == args[0]:
                return int(ep.load()(args[1:]) or 0)
    if not ("controller" in args and "serve" in args):
        # A command's stderr is its one error line: gRPC's core would add its own log line about a
        # failed TLS handshake (printed at its default verbosity), which this CLI says in words
        # instead. The controller keeps them in its log.
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from controller.cli.app import run  # the operator CLI (click, rich, grpc)

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
