"""The command every chaos run sends: a shell script that counts its own executions.

Each execution appends ``start <command id> <node id> <uptime>`` to a file of its node's own in a
directory outside every agent's state, sleeps a while (its shell's pid picks how long, so the nodes
of one command end at different moments), prints a marker with the command id and, as its last act,
appends ``end ...``: a stop whose SIGTERM lands after that line stopped nothing still running, one
that lands before it stopped a script that had not ended (the line came after the marker once, and
a SIGTERM between the two was taken for a script stopped after its end). The checks read those
files afterwards: two ``start`` lines of one (command, node) are a command run twice; an ``end``
line is a run that got to its end, whose result must be stored.

The script costs two processes (the shell and ``sleep``): times come from ``/proc/uptime`` read by
the shell's own ``read``, turned into wall-clock time with :func:`uptime_offset`, because a swarm
of a few hundred agents runs every command a few hundred times at once on this machine.
"""
from __future__ import annotations

import enum
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DOCUMENT_NAME = "Chaos-Count"
MARKER = "chaos-marker"


def document(counts_dir: Path, execution_seconds: int, max_sleep_ms: int) -> str:
    """The document (YAML, schema 2.2): one shell step whose timeout is ``execution_seconds``."""
    lines = [
        f'f="{counts_dir}/$OUTPOST_NODE_ID"',
        "read up rest < /proc/uptime",
        'echo "start $OUTPOST_COMMAND_ID $OUTPOST_NODE_ID $up" >> "$f"',
        f"ms=$(( ($$ * 7919) % {max_sleep_ms} ))",
        "sleep $((ms / 1000)).$((ms / 100 % 10))",
        "read up rest < /proc/uptime",
        f'echo "{MARKER} $OUTPOST_COMMAND_ID"',
        'echo "end $OUTPOST_COMMAND_ID $OUTPOST_NODE_ID $up" >> "$f"',
    ]
    step = {"action": "aws:runShellScript", "name": "count", "timeoutSeconds": execution_seconds,
            "inputs": {"runCommand": lines}}
    return json.dumps({"schemaVersion": "2.2", "description": "chaos: count this execution", "mainSteps": [step]},
                      indent=1) + "\n"


def marker(command_id: str) -> str:
    return f"{MARKER} {command_id}"


def uptime_offset() -> float:
    """Wall-clock time minus ``/proc/uptime``'s first field, to turn the script's times into the
    harness's (both read here within microseconds of each other)."""
    before = time.time()
    up = float(Path("/proc/uptime").read_text().split()[0])
    return (before + time.time()) / 2 - up


class Mark(enum.Enum):
    START = "start"
    END = "end"


@dataclass(frozen=True)
class Record:
    mark: Mark
    command_id: str
    node_id: str
    at: float  # wall-clock seconds


@dataclass(frozen=True)
class Execution:
    """What the count files say of one (command, node)."""
    command_id: str
    node_id: str
    starts: tuple[float, ...]  # one per execution: more than one is a command run twice
    ends: tuple[float, ...]

    @property
    def ended_at(self) -> float | None:
        return self.ends[0] if self.ends else None


def read_records(counts_dir: Path, offset: float, command_ids: Iterable[str]) -> list[Record]:
    """Every record of the given commands in every node's file. A line cut short (its writer was
    killed mid-write, which an append this small should never be) is skipped, not trusted."""
    wanted = set(command_ids)
    out: list[Record] = []
    for path in sorted(counts_dir.glob("*")):
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) != 4 or parts[0] not in ("start", "end") or parts[1] not in wanted:
                continue
            try:
                at = float(parts[3]) + offset
            except ValueError:
                continue
            out.append(Record(Mark(parts[0]), parts[1], parts[2], at))
    return out


def executions(records: Iterable[Record]) -> dict[tuple[str, str], Execution]:
    """(command id, node id) -> its executions, from the records."""
    starts: dict[tuple[str, str], list[float]] = {}
    ends: dict[tuple[str, str], list[float]] = {}
    for r in records:
        (starts if r.mark is Mark.START else ends).setdefault((r.command_id, r.node_id), []).append(r.at)
    return {key: Execution(key[0], key[1], tuple(sorted(starts.get(key, ()))), tuple(sorted(ends.get(key, ()))))
            for key in starts.keys() | ends.keys()}
