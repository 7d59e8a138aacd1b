"""The plugin contract: what a plugin declares (PluginSpec), what it is given (RunContext), what
it returns (StepOutcome). The runner, never the plugin, validates inputs, enforces deadlines,
maps cancellation and exceptions to statuses and streams output."""
from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from plugins.sdk.facts import Platform
from plugins.sdk.schema import Alias
from plugins.sdk.status import Detail, detail_from_exit_code

if TYPE_CHECKING:
    from plugins.sdk.patching import PatchCompliance

API_VERSION = 1
SUPPORTED_APIS = frozenset({1})


@dataclass(frozen=True)
class PluginSpec:
    name: str  # equals the entry-point name
    version: str
    api: int
    summary: str
    inputs: type  # a frozen dataclass made with plugins.sdk.schema.param
    platforms: frozenset[Platform]
    aliases: tuple[Alias, ...] = ()
    supports_check_mode: bool = False
    cancel_grace_seconds: float = 10.0
    needs_workdir: bool = True  # the runner makes the command's scratch directory (ctx.workdir) before it runs


class OutputStreamKind(enum.Enum):
    STDOUT = "stdout"
    STDERR = "stderr"


class OutputSink(Protocol):
    async def write(self, stream: OutputStreamKind, data: bytes) -> None: ...


class ContentSource(Protocol):
    """Content a step fetches from the controller over its agent's own stream (an agent release)."""

    async def fetch(self, kind: str, name: str, sha256: str, dest: str, max_bytes: int) -> int:
        """Write the content to ``dest`` (made 0600, replaced); its size. PluginError when the
        controller has none, it is larger than ``max_bytes``, or its sha256 is not ``sha256`` (hex)."""
        ...


@dataclass(frozen=True)
class AgentInfo:
    """The agent that runs the step, for the plugins that act on it (agent self-update)."""
    version: str
    pid: int
    state_dir: str
    install_dir: str  # where the agent keeps the versions it installed for itself
    argv: tuple[str, ...]  # how this agent process was started: the next one starts so


@dataclass(frozen=True)
class RunContext:
    command_id: str
    node_id: str
    step_name: str
    step_index: int
    check_mode: bool
    workdir: str
    output: OutputSink
    logger: logging.LoggerAdapter
    cancel_grace_seconds: float
    environment: Mapping[str, str]  # the base environment for processes the step starts
    # Told the pid of each process group the step starts (run_process does it), so that an agent
    # that dies under the step can kill what it left when it starts again (agent/recovery.py).
    process_started: Callable[[int], None] = lambda _pid: None
    content: ContentSource | None = None  # None: this host fetches nothing (the controller's own checks)
    agent: AgentInfo | None = None

    def process_environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        """The environment of a process the step starts: the base environment, ``extra`` over it."""
        env = dict(self.environment)
        env.update(extra)
        return env


@dataclass(frozen=True)
class StepOutcome:
    """What a step came to. Plugins say Success or Failed (``from_exit_code``); the runner alone
    says ExecutionTimedOut, Cancelled or Skipped."""
    detail: Detail
    exit_code: int = 0
    error: str = ""
    changed: bool = True
    compliance: PatchCompliance | None = None  # a patch step's compliance (plugins/sdk/patching.py)
    # The plugin has arranged for the agent to be restarted (agent self-update's updater): the agent
    # stops, and its next life runs this step again, as after a reboot (docs/statuses.md).
    restart_agent: bool = False

    @classmethod
    def from_exit_code(cls, exit_code: int) -> StepOutcome:
        detail = detail_from_exit_code(exit_code)
        return cls(detail, exit_code, "" if detail is Detail.SUCCESS else f"exited with code {exit_code}")


@runtime_checkable
class Plugin(Protocol):
    spec: ClassVar[PluginSpec]

    async def run(self, ctx: RunContext, inputs: Any) -> StepOutcome: ...
