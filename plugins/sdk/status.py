"""Statuses of steps, invocations and commands, as one state machine.

The names follow AWS SSM Run Command. The next issue extends this set (Delayed, Cancelling,
DeliveryTimedOut, ...) by adding members and edges here, and nowhere else.
"""
from __future__ import annotations

import enum


class Status(enum.Enum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    SUCCESS = "Success"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_error(self) -> bool:
        """Counts toward max-errors (SSM: Failed and ExecutionTimedOut)."""
        return self in (Status.FAILED, Status.TIMED_OUT)


TERMINAL = frozenset({Status.SUCCESS, Status.FAILED, Status.TIMED_OUT, Status.CANCELLED})

_EDGES: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.IN_PROGRESS, Status.SUCCESS, Status.FAILED, Status.TIMED_OUT,
                               Status.CANCELLED}),
    Status.IN_PROGRESS: frozenset({Status.SUCCESS, Status.FAILED, Status.TIMED_OUT, Status.CANCELLED}),
    Status.SUCCESS: frozenset(),
    Status.FAILED: frozenset(),
    Status.TIMED_OUT: frozenset(),
    Status.CANCELLED: frozenset(),
}


class InvalidTransition(ValueError):
    pass


def can_transition(current: Status, new: Status) -> bool:
    return new is current or new in _EDGES[current]


def transition(current: Status, new: Status) -> Status:
    """Return ``new`` if the move is allowed; a repeated status is a no-op."""
    if not can_transition(current, new):
        raise InvalidTransition(f"{current.value} -> {new.value} is not allowed")
    return new


def status_from_exit_code(exit_code: int) -> Status:
    """A process's exit code as a step status: 0 is Success, anything else Failed."""
    return Status.SUCCESS if exit_code == 0 else Status.FAILED


def aggregate(step_statuses: list[Status]) -> Status:
    """An invocation's status from its steps' (ignored failures already mapped to Success)."""
    if not step_statuses:
        return Status.SUCCESS
    for s in (Status.CANCELLED, Status.TIMED_OUT, Status.FAILED):
        if s in step_statuses:
            return s
    if all(s is Status.SUCCESS for s in step_statuses):
        return Status.SUCCESS
    return Status.IN_PROGRESS
