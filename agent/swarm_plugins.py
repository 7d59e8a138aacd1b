"""Plugins for ``outpost swarm --action noop``: the ``shell`` action (and its alias
``aws:runShellScript``) with the real plugin's name, version, inputs and alias, so the controller
and the runner treat it exactly as the shell plugin (inputs are validated and converted the same
way), but every step succeeds at once without starting a process: thousands of simulated agents
measure the controller and the protocol, not this machine's fork rate."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

from plugins.sdk.contract import PluginSpec, RunContext, StepOutcome
from plugins.sdk.registry import PluginRegistry
from plugins.shell.plugin import ShellInputs, ShellPlugin


class NoopShellPlugin:
    spec: ClassVar[PluginSpec] = dataclasses.replace(
        ShellPlugin.spec, summary="Succeed at once without running anything (outpost swarm --action noop).",
        needs_workdir=False)

    async def run(self, ctx: RunContext, inputs: ShellInputs) -> StepOutcome:
        return StepOutcome.from_exit_code(0)


def noop_registry() -> PluginRegistry:
    return PluginRegistry([NoopShellPlugin()])
