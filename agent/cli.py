"""``outpost agent enroll|run``: the agent's command line (argparse: the agent needs no click).

Reached as ``outpost agent ...`` (the ``outpost`` entry hands ``agent`` over through the
``outpost.cli`` entry-point group) or as ``outpost-agent ...`` on a node.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from agent.args import amount, command_line, count, directory, seconds
from agent.connection import Agent, AgentOptions, Shared
from agent.runner import RunnerOptions
from agent.state import StateDir
from agent.stop import Stop
from agent.trim import trim_when_idle
from plugins.sdk.errors import OutpostError
from plugins.sdk.host.gcfreeze import Freezer
from plugins.sdk.host.logs import install_scrubber
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.process import watch_children_by_pidfd

log = logging.getLogger(__name__)
VERSION_DIR_ENV = "OUTPOST_AGENT_VERSION_DIR"  # set when this process runs a version the agent installed


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="outpost agent", description="The Outpost agent.")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("enroll", help="register this node with an activation")
    e.add_argument("--controller", required=True, help="HOST:PORT of the controller's mutual-TLS listener")
    e.add_argument("--enrolment-endpoint", help="HOST:PORT of the enrolment listener (default: controller port + 1)")
    e.add_argument("--activation-id", required=True)
    e.add_argument("--activation-code", required=True)
    e.add_argument("--ca-fingerprint", required=True, help="sha256:HEX printed with the activation")
    e.add_argument("--state-dir", required=True, type=directory)

    r = sub.add_parser("run", help="connect to the controller and run commands")
    r.add_argument("--state-dir", required=True, type=directory)
    r.add_argument("--heartbeat-seconds", type=seconds(), default=30.0)
    r.add_argument("--max-concurrent-documents", type=count(1, 1000), default=5)
    r.add_argument("--backoff-base-seconds", type=seconds(), default=1.0)
    r.add_argument("--output-cap-mb", type=amount(1024), default=16.0,
                   help="output kept per step and stream before it is truncated with a marker")
    r.add_argument("--accept-delay-seconds", type=seconds(60, zero=True), default=0.25,
                   help="a command that ends sooner is reported by its result alone, without an acceptance first")
    r.add_argument("--unreachable-report-seconds", type=seconds(), default=60.0,
                   help="while the controller cannot be reached, say why this often (streams wait for it meanwhile)")
    r.add_argument("--reboot-command", type=command_line, default=(),
                   help="what a step that asks for a reboot (exit 194; 3010 on Windows) runs, as one string "
                        "(default: shutdown -r +1; on Windows shutdown /r /t 60)")
    r.add_argument("--no-memory-trim", dest="memory_trim", action="store_false",
                   help="keep what start-up and commands touched resident instead of giving it back when idle")
    return p


async def _run(state: StateDir, options: AgentOptions, runner_options: RunnerOptions,
               memory_trim: bool = True) -> None:
    identity = state.load_identity()
    agent = Agent(identity, state, PluginRegistry.discover(), options, runner_options,
                  shared=Shared(scrubber=install_scrubber()))  # logging is set up by now
    stop = Stop()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("agent %s starting; controller %s", identity.node_id, identity.controller)
    watch_children_by_pidfd()
    # What start-up made (modules, the plugin registry, the agent) lives as long as the process: set
    # it apart from the collector, so no later collection, the idle trim's included, walks it again
    # (about 34,000 objects, 7-10 ms a full collection here).
    Freezer.refresh()
    trimmer = asyncio.create_task(trim_when_idle(agent, stop)) if memory_trim else None
    try:
        await agent.run(stop)
    finally:
        if trimmer is not None:
            trimmer.cancel()
    log.info("agent %s stopped", identity.node_id)


def _run_current_version(state: StateDir, raw: Sequence[str]) -> None:
    """Run the agent version ``STATE/install/current`` names (agent self-update, plugins/agent_update),
    when this process is not it already: exec the same interpreter on the same arguments, with that
    version's code first on the path (its dependencies are this installation's)."""
    current = state.install_dir / "current"
    try:
        chosen = current.resolve(strict=True) if current.is_symlink() else None
    except OSError:  # a link to a version that is gone: run as installed, and say so
        log.error("%s points to a version that is not there; running the installed agent", current)
        return
    if chosen is None or os.environ.get(VERSION_DIR_ENV) == str(chosen):
        return
    path = os.pathsep.join(p for p in (str(chosen / "lib"), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, VERSION_DIR_ENV: str(chosen)}
    # -P: the working directory is not put first on the path (it would shadow the version's code)
    os.execve(sys.executable, [sys.executable, "-P", "-m", "agent.cli", *raw], env)


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "enroll":
            from agent.enroll import default_enrolment_endpoint, enroll  # x509 and ssl: enrolment only

            identity = enroll(controller=args.controller,
                              endpoint=args.enrolment_endpoint or default_enrolment_endpoint(args.controller),
                              activation_id=args.activation_id, activation_code=args.activation_code,
                              ca_fingerprint=args.ca_fingerprint, state=StateDir(args.state_dir),
                              registry=PluginRegistry.discover())
            print(f"enrolled: node id {identity.node_id}")
            return 0
        _run_current_version(StateDir(args.state_dir), raw)
        options = AgentOptions(heartbeat_seconds=args.heartbeat_seconds,
                               max_concurrent_documents=args.max_concurrent_documents,
                               backoff_base_seconds=args.backoff_base_seconds,
                               accept_delay_seconds=args.accept_delay_seconds,
                               unreachable_report_seconds=args.unreachable_report_seconds,
                               reboot_command=args.reboot_command,
                               start_argv=(sys.executable, *sys.orig_argv[1:]))
        asyncio.run(_run(StateDir(args.state_dir), options,
                         RunnerOptions(output_cap_bytes=int(args.output_cap_mb * 1024 * 1024)), args.memory_trim))
        return 0
    except OutpostError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
