"""The ``outpost`` command. Light on purpose: command groups that other packages provide (the
agent's ``outpost agent ...``) are found through the ``outpost.cli`` entry-point group and handed
the rest of the command line, so the controller never imports the agent, and running an agent
loads nothing of the controller's."""
from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Sequence

ENTRY_POINT_GROUP = "outpost.cli"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and not args[0].startswith("-"):
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
