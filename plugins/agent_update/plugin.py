"""The ``agent_update`` plugin (also SSM's ``aws:updateSsmAgent``): the agent updates itself to a
release published on the controller (``outpost agent-release publish``).

The agent never replaces itself in place:

1. the wheel is fetched over the agent's own stream and checked against the sha256 the signed
   document names (the controller fills it in at send from the release);
2. it is unpacked side by side, ``STATE/install/versions/VERSION/lib`` (a directory per version);
3. ``STATE/install/update.json`` records the handover and a small separate process, the updater
   (``plugins/agent_update/updater.py``), is started; the step then asks the agent to stop and to
   run it again in its next life (``restart_agent``, the journal's reboot record);
4. the updater waits for the agent to exit, points ``STATE/install/current`` at the new version and
   starts the agent as it was started (an agent starting with a ``current`` link runs that
   version); it keeps the new version once that agent has connected to the controller, and
   otherwise, after ``reconnect_timeout_seconds``, stops it, points ``current`` back and starts the
   old one: a rollback;
5. the agent's next life runs this step again, once connected: it reads what the updater left and
   ends Success (the agent now runs the new version) or Failed (rolled back, saying why).
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from plugins.agent_update.install import install_wheel
from plugins.agent_update.updater import alive, write_state
from plugins.sdk import (
    API_VERSION,
    Alias,
    Detail,
    InputError,
    OutputStreamKind,
    Platform,
    PluginError,
    PluginSpec,
    RunContext,
    StepOutcome,
    newer,
    param,
)

STATE_FILE = "update.json"
POLL_SECONDS = 0.2
VERDICT_SLACK_SECONDS = 30.0
MAX_WHEEL_BYTES = 256 * 1024 * 1024
_STEP_ENV = ("OUTPOST_COMMAND_ID", "OUTPOST_NODE_ID", "OUTPOST_STEP_NAME")  # the updater is no step's process


@dataclass(frozen=True)
class AgentUpdateInputs:
    version: str = param("The agent version to run: a release published on the controller (`outpost "
                         "agent-release list`). Empty: the latest published, chosen when the command is sent.",
                         default="")
    allow_downgrade: bool = param("Allow a version older than the one running.", default=False)
    sha256: str = param("The release's sha256 (hex). Filled in by the controller when the command is sent, "
                        "from the published release; a document or playbook leaves it out.", default="")
    reconnect_timeout_seconds: int = param("How long the new version has to connect to the controller before "
                                           "the updater rolls back to the running one.", default=300,
                                           minimum=10, maximum=3600)


@dataclass(frozen=True)
class UpdateSsmAgentInputs:
    """SSM's aws:updateSsmAgent parameters."""
    agentName: str = param("The agent's name (SSM's `amazon-ssm-agent`); any value means Outpost's agent.",
                           default="amazon-ssm-agent")
    allowDowngrade: bool = param("Allow a version older than the one running.", default=False)
    targetVersion: str = param("The version to run; empty: the latest published release.", default="")
    source: str = param("Where SSM downloads from; Outpost takes releases from its controller only, so "
                        "this must be left empty.", default="")


def convert_update_ssm_agent(inputs: UpdateSsmAgentInputs) -> AgentUpdateInputs:
    if inputs.source:
        raise InputError("source", "Outpost's agent updates from releases on its controller only: publish the "
                                   "build with `outpost agent-release publish FILE.whl` and leave source empty")
    return AgentUpdateInputs(version=inputs.targetVersion, allow_downgrade=inputs.allowDowngrade)


def _say(ctx: RunContext, line: str) -> object:
    return ctx.output.write(OutputStreamKind.STDOUT, (line + "\n").encode())


class AgentUpdatePlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="agent_update",
        version="1.0.0",
        api=API_VERSION,
        summary="Update the Outpost agent to a release published on the controller, with rollback "
                "(also aws:updateSsmAgent).",
        inputs=AgentUpdateInputs,
        platforms=frozenset({Platform.LINUX, Platform.MACOS}),
        aliases=(Alias("aws:updateSsmAgent", UpdateSsmAgentInputs, convert_update_ssm_agent),),
        supports_check_mode=True,
        needs_workdir=False,
    )

    async def run(self, ctx: RunContext, inputs: AgentUpdateInputs) -> StepOutcome:
        agent, content = ctx.agent, ctx.content
        if agent is None or content is None:
            raise PluginError("agent_update: runs only in an Outpost agent connected to its controller")
        install = Path(agent.install_dir)
        state_path = install / STATE_FILE
        handover = _read_state(state_path)
        if handover is not None and handover.get("command_id") == ctx.command_id:
            return await self._after_handover(ctx, agent.version, handover, install)
        if not inputs.version or not inputs.sha256:
            raise PluginError("agent_update: no version or sha256: send it through the controller, which fills "
                              "them from the published release")
        if inputs.version == agent.version:
            await _say(ctx, f"ok: the agent runs {agent.version} already")
            return StepOutcome(Detail.SUCCESS, changed=False)
        if not newer(inputs.version, agent.version) and not inputs.allow_downgrade:
            raise PluginError(f"agent_update: {inputs.version} is older than the running {agent.version}; "
                              "set allow_downgrade to go back")
        if ctx.check_mode:
            await _say(ctx, f"would change: update the agent from {agent.version} to {inputs.version}")
            return StepOutcome(Detail.SUCCESS)
        if handover is not None and _alive(int(handover.get("updater_pid", 0))):
            raise PluginError(f"agent_update: another update (command {handover.get('command_id')}) is handing "
                              "over; try again when it has ended")
        version_dir = await install_wheel(ctx, content, install, inputs.version, inputs.sha256, MAX_WHEEL_BYTES)
        await _say(ctx, f"installed {inputs.version} in {version_dir}")
        current = install / "current"
        state = {"command_id": ctx.command_id, "target": inputs.version, "previous": agent.version,
                 "previous_link": os.readlink(current) if current.is_symlink() else "",
                 "agent_pid": agent.pid, "argv": list(agent.argv), "state_dir": agent.state_dir,
                 "timeout_seconds": inputs.reconnect_timeout_seconds, "phase": "handover",
                 "started_at": time.time()}
        write_state(state_path, state)
        env = {k: v for k, v in ctx.environment.items() if k not in _STEP_ENV}
        with open(install / "updater.log", "ab") as log:
            updater = subprocess.Popen([sys.executable, "-m", "plugins.agent_update.updater", str(state_path)],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True, close_fds=True)
        write_state(state_path, {**state, "updater_pid": updater.pid})
        await _say(ctx, f"handing over to {inputs.version} (updater pid {updater.pid}); this step runs again in "
                        "the agent's next start")
        return StepOutcome(Detail.SUCCESS, restart_agent=True)

    async def _after_handover(self, ctx: RunContext, running: str, state: dict, install: Path) -> StepOutcome:
        target, previous = str(state.get("target")), str(state.get("previous"))
        # the updater's word decides: it keeps the new version once it has seen it connected (this run
        # starts as it connects, so a moment), or rolls back
        deadline = time.monotonic() + float(state.get("timeout_seconds", 300)) + VERDICT_SLACK_SECONDS
        while state.get("phase") == "handover" and time.monotonic() < deadline:
            if not _alive(int(state.get("updater_pid", 0))):
                break
            await asyncio.sleep(POLL_SECONDS)
            state = _read_state(install / STATE_FILE) or state
        for name in (STATE_FILE, "connected"):
            (install / name).unlink(missing_ok=True)
        if running == target and state.get("phase") == "done":
            await _say(ctx, f"changed: the agent was updated from {previous} to {target}")
            return StepOutcome(Detail.SUCCESS)
        if running == target:
            raise PluginError(f"agent_update: the agent runs {target}, but its updater ended without keeping it "
                              f"(phase {state.get('phase')!r}); see {install / 'updater.log'}")
        reason = state.get("reason") or f"the agent runs {running} after the handover, not {target}"
        raise PluginError(f"agent_update: {reason}")


def _read_state(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise PluginError(f"agent_update: {path} cannot be read ({exc}); remove it to update again") from None
    return data if isinstance(data, dict) else None


def _alive(pid: int) -> bool:
    return pid > 0 and alive(pid)
