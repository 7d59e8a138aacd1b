"""What happens after each step of a document: SSM 2.2's rules with Ansible's ``ignore_errors``.

Pure logic, no I/O: the runner asks ``should_run`` before a step, tells ``skipped_step`` of a step
that does not apply to the node and ``record`` a run step's outcome, and reads ``detail`` and
``exit_code`` at the end.

- A step whose precondition is false, or whose action does not run on this platform, is Skipped;
  when every step is skipped the invocation is InvalidPlatform.
- Exit code 168: the step succeeded, skip the rest. 169: it failed, skip the rest. ``onSuccess: exit``
  skips the rest after a success.
- A failure (Failed or ExecutionTimedOut) fails the invocation unless the step has
  ``ignore_errors``; then ``onFailure`` decides what follows: ``exit`` skips the rest,
  ``successAndExit`` skips the rest and does not fail the invocation, ``continue`` runs the next.
- The ``finallyStep`` runs whatever happened before it, except after a cancel.
- A cancel stops everything: the invocation is Cancelled.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from plugins.sdk.status import EXIT_FAILURE_AND_STOP, EXIT_SUCCESS_AND_STOP, Detail
from plugins.sdk.wire.document import OnFailure, Step
from plugins.sdk.wire.results import NO_EXIT_CODE


@dataclass
class Flow:
    stopped: bool = False
    cancelled: bool = False
    ran_any: bool = False
    failure: Detail | None = None
    failure_exit_code: int = 0
    skipped: list[str] = field(default_factory=list)

    def should_run(self, step: Step) -> bool:
        if self.cancelled:
            return False
        return step.finally_step or not self.stopped

    def skipped_step(self, step: Step) -> None:
        self.skipped.append(step.name)

    def record(self, step: Step, detail: Detail, exit_code: int) -> Detail:
        """Take a step's outcome; returns the detail to report for the step (169 makes it Failed)."""
        self.ran_any = True
        if exit_code == EXIT_FAILURE_AND_STOP:
            detail = Detail.FAILED
        if detail is Detail.CANCELLED:
            self.cancelled = self.stopped = True
            return detail
        if detail is Detail.SUCCESS:
            if exit_code == EXIT_SUCCESS_AND_STOP or step.on_success_exit:
                self.stopped = True
            return detail
        if step.ignore_errors and detail is Detail.FAILED and exit_code != EXIT_FAILURE_AND_STOP:
            return detail
        if step.on_failure is OnFailure.SUCCESS_AND_EXIT:
            self.stopped = True
            return detail
        if self.failure is None:
            self.failure, self.failure_exit_code = detail, exit_code
        if step.on_failure is OnFailure.EXIT or exit_code == EXIT_FAILURE_AND_STOP:
            self.stopped = True
        return detail

    @property
    def detail(self) -> Detail:
        if self.cancelled:
            return Detail.CANCELLED
        if not self.ran_any:
            return Detail.INVALID_PLATFORM
        return self.failure or Detail.SUCCESS

    @property
    def exit_code(self) -> int:
        """The failing step's exit code, 0 for a success, -1 when nothing ran to the end (SSM)."""
        if self.cancelled or not self.ran_any:
            return NO_EXIT_CODE
        return self.failure_exit_code if self.failure is not None else 0
