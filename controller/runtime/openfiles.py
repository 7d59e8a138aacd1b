"""The controller's open-file limit, and how it is shared out: stated once at start, never found out
by hitting it.

At the limit, gRPC's listener cannot accept a connection, an operator's included, and retries every
second ("File descriptor limit reached. Retrying"), while agents fail with "Too many open files" and
nobody is told why fewer nodes are Online. So at start the soft limit is raised to the hard one (a
distribution's default of 1,024 would cap the fleet at a thousand agents for no reason), and what
it leaves is shared out so that the listeners never reach it:

* what the process holds once started (counted: logs, the event loop, the listeners, the store);
* ``DATABASE``: SQLAlchemy's pool at its fullest (5 + 10 connections), three files each on SQLite
  (the database, its -wal and -shm), one socket each on PostgreSQL;
* ``ENROLMENT`` connections on the enrolment listener at once, its own cap, and ``SLACK`` for the
  webhooks' connections (one per webhook) and files opened now and then;
* the rest is the mutual-TLS listener's: gRPC closes a connection beyond it as soon as it is
  accepted (``grpc.max_allowed_incoming_connections``), so the process never runs out;
* of those connections, ``OPERATORS`` and ``IN_FLIGHT_SHARE`` of the limit are kept from agents:
  operators' calls and watchers, TLS handshakes, agents refused until their idle connection is
  closed (serve.py's ``grpc.max_connection_idle_ms``, 10 s: a tenth of the limit holds the refused
  agents of a fleet a quarter over its room that retry once a minute or so). The rest is how many
  agent streams this controller holds (controller/fleet/capacity.py admits them).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DATABASE = 48
ENROLMENT = 32
SLACK = 16
OPERATORS = 64
IN_FLIGHT_SHARE = 0.10


@dataclass(frozen=True)
class OpenFiles:
    limit: int  # the soft limit in force
    in_use: int  # open when counted, at start
    connections: int  # the mutual-TLS listener's connections at most
    agent_streams: int  # the most agent streams the limit leaves room for

    def summary(self) -> str:
        return (f"open-file limit {self.limit}: room for about {self.agent_streams} agent streams "
                f"(raise LimitNOFILE to hold more)")


def raise_soft_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit in force afterwards."""
    import resource  # Unix only, like the controller

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if resource.RLIM_INFINITY in (soft, hard):  # the kernel still caps what is open: fs.nr_open
        try:
            nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            nr_open = 1_048_576  # Linux's default
        soft = nr_open if soft == resource.RLIM_INFINITY else soft
        hard = nr_open if hard == resource.RLIM_INFINITY else hard
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, hard, exc)
    return soft


def open_file_count() -> int:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the listing's own
    except OSError:
        return 0


def share_out(limit: int, in_use: int) -> OpenFiles:
    connections = max(1, limit - in_use - DATABASE - ENROLMENT - SLACK)
    streams = max(0, connections - OPERATORS - int(limit * IN_FLIGHT_SHARE))
    return OpenFiles(limit, in_use, connections, streams)
