"""The commands being dispatched, in memory: one ``ActiveCommand`` each, from its sending to its
end, and the ends of those recently ended (so a late report announces nothing twice).

Reports (controller/dispatch/reports.py) read it to forecast a batch of results before storing them
and tell it what they stored; the dispatcher owns every other change. Nothing here awaits: each
change is whole between two steps of the event loop."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from controller.dispatch.jobs import Forecast
from controller.dispatch.ratecontrol import CommandRun
from controller.model import CommandRecord, InvocationRecord
from plugins.sdk.status import Detail
from plugins.sdk.wire.document import DEFAULT_EXECUTION_TIMEOUT_SECONDS

ENDED_MEMORY = 10_000  # ended commands remembered, so a late report announces nothing twice
COMMAND = ""  # the key of the command's own detail among its nodes' in ``ActiveCommand.announced``


@dataclass(eq=False)
class ActiveCommand:
    """A command between its sending and its end."""
    run: CommandRun  # rate control: queue, in flight, errors, every target's detail
    record: CommandRecord  # as last stored (counters included)
    document: bytes  # the canonical document its envelopes carry
    execution_seconds: int = DEFAULT_EXECUTION_TIMEOUT_SECONDS  # how long its steps may run on a node, at most
    announced: dict[str, Detail] = field(default_factory=dict)  # last detail told the fleet, per node
    fresh: dict[str, InvocationRecord] = field(default_factory=dict)  # stored just now, to announce unread

    @property
    def command_id(self) -> str:
        return self.run.command_id


@dataclass(frozen=True)
class Settlement:
    """What a batch of reports (or an operator's cancel, or a deadline) settled for one command:
    invocations that reached a terminal detail, and others stored meanwhile with their detail now
    (None: it stayed, as on acceptance). The dispatcher takes it from there (frees slots, applies
    max-errors, dispatches, announces)."""
    command_id: str
    finished: tuple[tuple[str, Detail], ...] = ()
    changed: tuple[tuple[str, Detail | None], ...] = ()


class ActiveCommands:
    def __init__(self, ended_memory: int = ENDED_MEMORY) -> None:
        self._active: dict[str, ActiveCommand] = {}
        self._ended: dict[str, Detail] = {}  # recently ended commands and their end, oldest first
        self._ended_memory = ended_memory

    def get(self, command_id: str) -> ActiveCommand | None:
        return self._active.get(command_id)

    def __iter__(self) -> Iterator[ActiveCommand]:
        return iter(self._active.values())

    def __len__(self) -> int:
        return len(self._active)

    def start(self, command: ActiveCommand) -> None:
        self._active[command.command_id] = command

    def end(self, command_id: str, detail: Detail) -> None:
        """The command reached ``detail``, a terminal one: it is no longer active, and its end is
        remembered (the oldest ends are forgotten past the memory's size)."""
        self._active.pop(command_id, None)
        self.remember_end(command_id, detail)

    def ended(self, command_id: str) -> Detail | None:
        """The end of a recently ended command, or None."""
        return self._ended.get(command_id)

    def remember_end(self, command_id: str, detail: Detail) -> None:
        self._ended[command_id] = detail
        while len(self._ended) > self._ended_memory:
            del self._ended[next(iter(self._ended))]

    def forecast(self, results: Sequence[tuple[str, str, Detail]]) -> list[Forecast]:
        """For each active command among ``results`` (command id, node id, detail reported): its record
        once they are stored, so that the job storing them stores its counters too (one database job
        per batch of results, not two)."""
        reported: dict[str, list[tuple[str, Detail]]] = {}
        for command_id, node_id, detail in results:
            reported.setdefault(command_id, []).append((node_id, detail))
        out = []
        for command_id, items in reported.items():
            active = self._active.get(command_id)
            if active is not None:
                moved, detail, counts = active.run.forecast(items)
                out.append(Forecast(active.record, active.record.with_counts(detail, counts),
                                    tuple(moved.items())))
        return out

    def counted(self, forecasts: Sequence[Forecast], stored: Sequence[InvocationRecord]) -> None:
        """These forecasts' counters and these invocations were just stored: the next announcement of
        their commands neither stores nor reads them again. A forecast whose command had other counters
        stored meanwhile is not taken: its next announcement stores the counters as they are then."""
        for f in forecasts:
            active = self._active.get(f.record.command_id)
            if active is not None and active.record is f.base:
                active.record = f.record
        for inv in stored:
            active = self._active.get(inv.command_id)
            if active is not None:
                active.fresh[inv.node_id] = inv
