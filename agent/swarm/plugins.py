"""Plugins for ``outpost swarm --action noop``: the installed ``shell`` action (and its alias
``aws:runShellScript``) with the real plugin's name, version, inputs and alias, so the controller
and the runner treat it exactly as the shell plugin (inputs are validated and converted the same
way), but every step succeeds at once without starting a process: thousands of simulated agents
measure the controller and the protocol, not this machine's fork rate. The shell plugin is found
as the agent finds every plugin (its entry point), never imported."""
from __future__ import annotations

import dataclasses
from typing import Any

from plugins.sdk.contract import PluginSpec, RunContext, StepOutcome
from plugins.sdk.host.registry import PluginRegistry


class NoopPlugin:
    def __init__(self, spec: PluginSpec) -> None:
        self.spec = dataclasses.replace(
            spec, summary="Succeed at once without running anything (outpost swarm --action noop).",
            needs_workdir=False)

    async def run(self, ctx: RunContext, inputs: Any) -> StepOutcome:
        return StepOutcome.from_exit_code(0)


def noop_registry(installed: PluginRegistry) -> PluginRegistry:
    """The installed shell plugin's spec, run by a plugin that does nothing."""
    return PluginRegistry([NoopPlugin(installed.spec("shell"))])
