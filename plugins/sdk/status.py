"""Statuses of steps, invocations and commands: SSM Run Command's model, as one state machine.

``Status`` is SSM's Status (what a command, an invocation or a step is broadly doing);
``Detail`` is SSM's StatusDetails, the finer state that everything records. Every detail implies
exactly one status (``Detail.status``), so only details are stored and moved; statuses are derived.
docs/statuses.md describes each one and Outpost's deliberate differences from SSM.
"""
from __future__ import annotations

import enum


class Status(enum.Enum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    DELAYED = "Delayed"
    SUCCESS = "Success"
    CANCELLED = "Cancelled"
    CANCELLING = "Cancelling"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"


class Detail(enum.Enum):
    PENDING = "Pending"                       # not sent yet (rate control), or not received
    IN_PROGRESS = "InProgress"                # sent, or running
    DELAYED = "Delayed"                       # the node is offline; sent when it returns, until the deadline
    SUCCESS = "Success"
    CANCELLED = "Cancelled"
    CANCELLING = "Cancelling"                 # a cancel is on its way to the agent
    FAILED = "Failed"                         # a step failed (non-zero exit), or the agent refused it
    DELIVERY_TIMED_OUT = "DeliveryTimedOut"   # not delivered before the command's delivery deadline
    EXECUTION_TIMED_OUT = "ExecutionTimedOut"  # started, and ran past a step's timeout
    UNDELIVERABLE = "Undeliverable"           # the node cannot take it (deregistered, or lacks the action)
    TERMINATED = "Terminated"                 # never started: the command passed its max-errors
    INVALID_PLATFORM = "InvalidPlatform"      # no step of the document applies to the node's platform
    ACCESS_DENIED = "AccessDenied"            # the operator may not run on that node (policies)
    INCOMPLETE = "Incomplete"                 # command only: done, some not Success, within max-errors
    NO_INSTANCES_IN_TAG = "NoInstancesInTag"  # command only: the targets matched no node
    SKIPPED = "Skipped"                       # step only: its precondition was false, or an earlier exit
    AGENT_LOST = "AgentLost"                  # the agent went and did not come back by the invocation's deadline

    @property
    def status(self) -> Status:
        return _STATUS_OF[self]

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_error(self) -> bool:
        """Counts toward max-errors: Failed and ExecutionTimedOut (SSM), and AgentLost (Outpost's: what
        became of the command on that node is not known, which must stop a careful rollout)."""
        return self in (Detail.FAILED, Detail.EXECUTION_TIMED_OUT, Detail.AGENT_LOST)


_STATUS_OF = {
    Detail.PENDING: Status.PENDING,
    Detail.IN_PROGRESS: Status.IN_PROGRESS,
    Detail.DELAYED: Status.DELAYED,
    Detail.SUCCESS: Status.SUCCESS,
    Detail.CANCELLED: Status.CANCELLED,
    Detail.CANCELLING: Status.CANCELLING,
    Detail.FAILED: Status.FAILED,
    Detail.DELIVERY_TIMED_OUT: Status.TIMED_OUT,
    Detail.EXECUTION_TIMED_OUT: Status.TIMED_OUT,
    Detail.UNDELIVERABLE: Status.FAILED,
    Detail.TERMINATED: Status.CANCELLED,
    Detail.INVALID_PLATFORM: Status.FAILED,
    Detail.ACCESS_DENIED: Status.FAILED,
    Detail.INCOMPLETE: Status.SUCCESS,
    Detail.NO_INSTANCES_IN_TAG: Status.FAILED,
    Detail.SKIPPED: Status.SUCCESS,
    Detail.AGENT_LOST: Status.FAILED,
}

TERMINAL = frozenset({
    Detail.SUCCESS, Detail.CANCELLED, Detail.FAILED, Detail.DELIVERY_TIMED_OUT, Detail.EXECUTION_TIMED_OUT,
    Detail.UNDELIVERABLE, Detail.TERMINATED, Detail.INVALID_PLATFORM, Detail.ACCESS_DENIED, Detail.INCOMPLETE,
    Detail.NO_INSTANCES_IN_TAG, Detail.SKIPPED, Detail.AGENT_LOST,
})
# What an invocation's report from its agent can say: the outcome of running it, or Undeliverable
# when the node lacks a plugin one of its steps needs (nothing ran: plugins/sdk/host/capabilities.py).
RAN = frozenset({Detail.SUCCESS, Detail.FAILED, Detail.EXECUTION_TIMED_OUT, Detail.CANCELLED,
                 Detail.INVALID_PLATFORM, Detail.UNDELIVERABLE})
NOT_STARTED = frozenset({Detail.PENDING, Detail.DELAYED})

_EDGES: dict[Detail, frozenset[Detail]] = {
    # never sent: may be sent, held for an offline node, or end without running
    Detail.PENDING: frozenset({Detail.IN_PROGRESS, Detail.DELAYED, Detail.CANCELLED, Detail.TERMINATED,
                               Detail.DELIVERY_TIMED_OUT, Detail.UNDELIVERABLE, Detail.ACCESS_DENIED,
                               Detail.INVALID_PLATFORM, Detail.FAILED} | RAN),
    Detail.DELAYED: frozenset({Detail.PENDING, Detail.IN_PROGRESS, Detail.CANCELLED, Detail.TERMINATED,
                               Detail.DELIVERY_TIMED_OUT, Detail.UNDELIVERABLE, Detail.FAILED} | RAN),
    Detail.IN_PROGRESS: frozenset({Detail.CANCELLING, Detail.DELAYED, Detail.DELIVERY_TIMED_OUT,
                                   Detail.AGENT_LOST} | RAN),
    # a cancel of an invocation whose agent is away ends it at once (Cancelled), not here
    Detail.CANCELLING: RAN,
    # The agent's own report of having run it outranks a delivery timeout declared while it was
    # unreachable (SSM's "DeliveryTimedOut although the command ran" is a known pain).
    Detail.DELIVERY_TIMED_OUT: RAN,
    # so does an agent's report after it was given up for lost
    Detail.AGENT_LOST: RAN,
}


class InvalidTransition(ValueError):
    pass


def can_transition(current: Detail, new: Detail) -> bool:
    return new is current or new in _EDGES.get(current, frozenset())


def transition(current: Detail, new: Detail) -> Detail:
    """Return ``new`` if the move is allowed; a repeated detail is a no-op."""
    if not can_transition(current, new):
        raise InvalidTransition(f"{current.value} -> {new.value} is not allowed")
    return new


# Exit codes with a meaning of their own (SSM, amazon-ssm-agent contracts/model.go)
EXIT_SUCCESS_AND_STOP = 168  # the step succeeded; skip the remaining steps (a finallyStep still runs)
EXIT_FAILURE_AND_STOP = 169  # the step failed; skip the remaining steps (a finallyStep still runs)
EXIT_REBOOT = 194  # reboot the node, then run this step again (Linux, macOS)
EXIT_REBOOT_WINDOWS = 3010  # the same on Windows


def detail_from_exit_code(exit_code: int) -> Detail:
    """A process's exit code as a step's detail: 0 and 168 are Success, anything else Failed."""
    return Detail.SUCCESS if exit_code in (0, EXIT_SUCCESS_AND_STOP) else Detail.FAILED
