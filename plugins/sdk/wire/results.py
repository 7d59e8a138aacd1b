"""What an agent reports about a command: output chunks, step results, the invocation's result.
Both sides use these types; plugins/sdk/wire/convert.py converts them to and from protobuf."""
from __future__ import annotations

from dataclasses import dataclass

from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.status import Detail

NO_EXIT_CODE = -1  # SSM's ResponseCode for "not started" or "no code" (timed out, cancelled, refused)


@dataclass(frozen=True)
class OutputChunk:
    command_id: str
    step_name: str
    stream: OutputStreamKind
    seq: int  # per (command, step, stream), from 0
    data: bytes


@dataclass(frozen=True)
class StepReport:
    command_id: str
    step_index: int
    step_name: str
    action: str
    detail: Detail
    exit_code: int
    started_at_ms: int
    ended_at_ms: int
    error: str = ""
    changed: bool = False  # the plugin said it changed the node (in check mode: that it would)
    compliance: bytes = b""  # a patch step's compliance summary (plugins/sdk/patching.py's JSON), as sent


@dataclass(frozen=True)
class InvocationReport:
    command_id: str
    detail: Detail
    exit_code: int
    started_at_ms: int
    ended_at_ms: int
    steps: tuple[StepReport, ...]
    error: str = ""


@dataclass(frozen=True)
class Refusal:
    """The agent refused a command before running anything."""
    command_id: str
    code: str
    detail: str
