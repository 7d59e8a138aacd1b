"""Rate control and command status, exactly as SSM Run Command does them (pure logic, no I/O).

- ``max_concurrency``: never more invocations in flight (dispatched and not finished) than this:
  a count, or a percent of the targets (rounded up, at least 1). Default 50.
- ``max_errors``: once more invocations than this have ended Failed or ExecutionTimedOut (a count,
  or a percent of the targets, rounded down), no new invocation starts; those never started end
  Terminated, those running finish, and the command ends Failed. Default 0. DeliveryTimedOut,
  Undeliverable, InvalidPlatform and AccessDenied never count.
"""
from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from controller.model import Counts
from plugins.sdk.status import Detail, can_transition


@dataclass
class CommandRun:
    """One active command's dispatch state. Every decision is synchronous, so interleaved events on
    the event loop can never dispatch past the limits or miscount errors."""
    command_id: str
    max_concurrency: int
    max_errors: int
    queue: deque[str] = field(default_factory=deque)  # never dispatched, in order
    in_flight: set[str] = field(default_factory=set)  # dispatched, not finished
    delayed: set[str] = field(default_factory=set)  # dispatched to offline nodes: in flight, never started
    errors: int = 0
    stopped: bool = False  # max-errors passed: nothing new starts
    cancelling: bool = False
    details: dict[str, Detail] = field(default_factory=dict)  # every target's detail as last stored
    tally: Counter[Detail] = field(default_factory=Counter)  # how many targets have each detail

    def track(self, node_id: str, detail: Detail) -> None:
        """Record a target's stored detail; the command's counters follow in O(1)."""
        old = self.details.get(node_id)
        if old is detail:
            return
        if old is not None:
            self.tally[old] -= 1
        self.details[node_id] = detail
        self.tally[detail] += 1

    def command_detail(self) -> Detail:
        return detail_from_tally(self.tally, max_errors=self.max_errors, cancel_requested=self.cancelling)

    def forecast(self, reported: Iterable[tuple[str, Detail]]) -> tuple[dict[str, Detail], Detail, Counts]:
        """What the run will count once these reported details are stored, each moved only along
        an allowed edge as the store's state machine moves it (nothing here changes): the nodes that
        move and to what, the command's detail, and its counters."""
        tally = self.tally.copy()
        moved: dict[str, Detail] = {}
        for node_id, detail in reported:
            now = moved.get(node_id, self.details.get(node_id))
            if now is None or not can_transition(now, detail):
                continue
            tally[now] -= 1
            tally[detail] += 1
            moved[node_id] = detail
        return (moved, detail_from_tally(tally, max_errors=self.max_errors, cancel_requested=self.cancelling),
                counts_from_tally(tally))

    def counts(self) -> Counts:
        return counts_from_tally(self.tally)

    def next_batch(self) -> list[str]:
        """Node ids to dispatch now; they count as in flight from this moment."""
        if self.stopped or self.cancelling:
            return []
        batch = []
        while self.queue and len(self.in_flight) < self.max_concurrency:
            node_id = self.queue.popleft()
            self.in_flight.add(node_id)
            batch.append(node_id)
        return batch

    def delivered(self, node_id: str) -> None:
        """A Delayed invocation went to its agent after all."""
        self.delayed.discard(node_id)

    def finished(self, node_id: str, detail: Detail) -> None:
        """An invocation reached a terminal detail (each node is told once)."""
        self.in_flight.discard(node_id)
        self.delayed.discard(node_id)
        if detail.is_error:
            self.errors += 1
            if self.errors > self.max_errors:
                self.stopped = True

    def never_to_start(self) -> list[str]:
        """After max-errors or a cancel: the node ids that never started (queued, or Delayed for an
        offline node), taken out of the run."""
        if not (self.stopped or self.cancelling):
            return []
        out = list(self.queue) + sorted(self.delayed)
        self.queue.clear()
        self.in_flight -= self.delayed
        self.delayed.clear()
        return out

    @classmethod
    def resume(cls, command_id: str, max_concurrency: int, max_errors: int, cancelling: bool,
               invocations: Iterable[tuple[str, Detail]]) -> CommandRun:
        """Rebuild the state of a command from its stored invocations (after a controller restart)."""
        run = cls(command_id, max_concurrency, max_errors, cancelling=cancelling)
        for node_id, detail in sorted(invocations):
            run.track(node_id, detail)
            if detail is Detail.PENDING:
                run.queue.append(node_id)
            elif not detail.terminal:
                run.in_flight.add(node_id)
                if detail is Detail.DELAYED:
                    run.delayed.add(node_id)
            elif detail.is_error:
                run.errors += 1
        run.stopped = run.errors > max_errors
        return run


def counts(details: Sequence[Detail]) -> Counts:
    return counts_from_tally(Counter(details))


def counts_from_tally(tally: Counter[Detail]) -> Counts:
    return Counts(sum(tally.values()), sum(n for d, n in tally.items() if d.terminal),
                  sum(n for d, n in tally.items() if d.is_error), tally[Detail.DELIVERY_TIMED_OUT])


_HARMLESS = (Detail.SUCCESS, Detail.UNDELIVERABLE, Detail.INVALID_PLATFORM)


def command_detail(details: Sequence[Detail], *, max_errors: int, cancel_requested: bool) -> Detail:
    """A command's detail from its invocations' (docs/statuses.md has the table)."""
    return detail_from_tally(Counter(details), max_errors=max_errors, cancel_requested=cancel_requested)


def detail_from_tally(tally: Counter[Detail], *, max_errors: int, cancel_requested: bool) -> Detail:
    """``command_detail`` from the number of invocations in each detail (O(number of details))."""
    total = sum(tally.values())
    if not total:
        return Detail.NO_INSTANCES_IN_TAG
    if any(n and not d.terminal for d, n in tally.items()):
        if cancel_requested:
            return Detail.CANCELLING
        return Detail.PENDING if tally[Detail.PENDING] == total else Detail.IN_PROGRESS
    if cancel_requested:
        return Detail.CANCELLED
    errors = sum(n for d, n in tally.items() if d.is_error)
    if errors > max_errors:
        return Detail.EXECUTION_TIMED_OUT if tally[Detail.EXECUTION_TIMED_OUT] == errors else Detail.FAILED
    successes = tally[Detail.SUCCESS]
    if successes and sum(tally[d] for d in _HARMLESS) == total:
        return Detail.SUCCESS
    if not successes:
        if tally[Detail.DELIVERY_TIMED_OUT] == total:
            return Detail.DELIVERY_TIMED_OUT
        if tally[Detail.CANCELLED] == total:
            return Detail.CANCELLED
        return Detail.FAILED
    return Detail.INCOMPLETE
