"""``outpost swarm``: many protocol-complete agents in one process, to load a controller.

Each simulated agent is a real :class:`agent.connection.Agent` — its own key and certificate, its
own mutual-TLS channel and Connect stream, signature verification, ledger and outbox — whose state
lives in ``DIR/agent-NNNNNN/`` (the layout of a real agent's state dir). What real nodes would do
in parallel, each on its own disk and CPU, they share: one filesystem sync for their ledgers
(agent/swarm/groupcommit.py) and one verification of each batch signature (plugins/sdk/wire/batch.py); each
agent still checks its own envelope, proof and document. Identities are enrolled
once, 16 at a time, and reused by later runs. ``--action noop`` swaps the shell plugin for one
that succeeds at once (agent/swarm/plugins.py); ``--action subprocess`` runs the real plugins.

Streams are opened at ``--connect-rate`` per second, each at a random point of its slot, so the
controller's pending-call queue never sees the burst ../shared/reference/grpc-aio.md warns about.
A status line goes to stderr every ``--status-seconds``; SIGTERM or SIGINT closes every stream
(each Agent cancels its call before its channel closes) and ends the process.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import random
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from agent.args import amount, count, directory, seconds
from agent.connection import Agent, AgentOptions, Shared
from agent.facts import gather_facts
from agent.journal_file import JournalFile
from agent.runner import RunnerOptions
from agent.state import StateDir
from agent.stop import Stop
from agent.swarm.delays import Delays
from agent.swarm.groupcommit import GroupCommit
from agent.swarm.plugins import noop_registry
from plugins.sdk.errors import ConfigError, OutpostError
from plugins.sdk.facts import Facts
from plugins.sdk.host.gcfreeze import Freezer
from plugins.sdk.host.logs import install_scrubber
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.process import watch_children_by_pidfd
from plugins.sdk.wire.batch import VerifiedRoots

log = logging.getLogger(__name__)

ENROL_CONCURRENCY = 16
# descriptors besides one socket per agent: the loop, gRPC's pollers, logs, enrolment, slack
FD_MARGIN = 256
SHUTDOWN_SECONDS = 30.0
MAX_AGENTS = 1_000_000  # agent-NNNNNN
# Forgotten bytes below which the agents' shared journal is never rewritten. One agent's file is
# emptied whenever the controller has acknowledged all it holds; 10,000 agents' file never is while
# one fan-out's acknowledgements overlap the next's records, so it is compacted instead, on the event
# loop of all of them: at 8 MB (one agent's bound) that was every two or three fan-outs of the bench,
# about 0.1 s of the simulator's CPU each. Bounded all the same: about 64 MB beside what is held.
JOURNAL_COMPACT_MIN_BYTES = 64 * 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="outpost swarm",
                                description="Run many simulated agents in one process (load testing).")
    p.add_argument("--controller", required=True, help="HOST:PORT of the controller's mutual-TLS listener")
    p.add_argument("--enrolment-endpoint", help="HOST:PORT of the enrolment listener (default: controller port + 1)")
    p.add_argument("--agents", required=True, type=count(1, MAX_AGENTS), help="how many agents to run")
    p.add_argument("--activation-id", help="needed when some agent of the swarm is not enrolled yet")
    p.add_argument("--activation-code")
    p.add_argument("--ca-fingerprint", help="sha256:HEX printed with the activation")
    p.add_argument("--state-dir", required=True, type=directory, help="holds agent-000001/, agent-000002/, ...")
    p.add_argument("--action", choices=["noop", "subprocess"], default="noop",
                   help="noop: shell steps succeed at once; subprocess: the real plugins run them")
    p.add_argument("--connect-rate", type=amount(1_000_000), default=500.0, help="new streams per second (jittered)")
    p.add_argument("--heartbeat-seconds", type=seconds(), default=30.0)
    p.add_argument("--max-concurrent-documents", type=count(1, 1000), default=5)
    p.add_argument("--backoff-base-seconds", type=seconds(), default=1.0)
    p.add_argument("--status-seconds", type=seconds(), default=5.0)
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def agent_dirs(root: Path, count: int) -> list[StateDir]:
    return [StateDir(root / f"agent-{i:06d}") for i in range(1, count + 1)]


def facts_for(base: Facts, index: int) -> Facts:
    """Agent ``index``'s facts: this machine's, under the hostname ``swarm-NNNNNN``."""
    return dataclasses.replace(base, hostname=f"swarm-{index:06d}")


def raise_fd_limit(agents: int) -> str | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit: every agent holds a socket (its ledger holds
    nothing between records, see agent/ledger.py). A warning when that is still too low, else None."""
    try:
        import resource
    except ImportError:  # not a Unix: nothing to raise
        return None
    needed = agents + FD_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise RLIMIT_NOFILE to %s: %s", target, exc)
    if soft != resource.RLIM_INFINITY and soft < needed:
        return (f"the open-file limit is {soft} but {agents} agents need about {needed}; "
                f"raise the hard limit (ulimit -Hn, LimitNOFILE=) or run fewer agents")
    return None


def enroll_missing(args: argparse.Namespace, dirs: Sequence[StateDir], registry: PluginRegistry,
                   base: Facts, say: Callable[[str], None]) -> int:
    """Enrol every agent of ``dirs`` that has no identity yet, ``ENROL_CONCURRENCY`` at a time
    (enroll() is synchronous). Returns how many were enrolled; raises if any failed."""
    missing = [(i, d) for i, d in enumerate(dirs, start=1) if not d.exists()]
    if not missing:
        return 0
    if not (args.activation_id and args.activation_code and args.ca_fingerprint):
        raise ConfigError(f"{len(missing)} agent(s) are not enrolled yet: give --activation-id, "
                          f"--activation-code and --ca-fingerprint")
    from agent.enroll import default_enrolment_endpoint, enroll  # x509 and ssl: enrolment only

    endpoint = args.enrolment_endpoint or default_enrolment_endpoint(args.controller)

    def one(item: tuple[int, StateDir]) -> None:
        index, state = item
        enroll(controller=args.controller, endpoint=endpoint, activation_id=args.activation_id,
               activation_code=args.activation_code, ca_fingerprint=args.ca_fingerprint, state=state,
               registry=registry, facts=facts_for(base, index))

    say(f"swarm: enrolling {len(missing)} agent(s) with {args.controller}")
    done, errors = 0, []
    pool = ThreadPoolExecutor(max_workers=ENROL_CONCURRENCY, thread_name_prefix="enrol")
    try:
        for (index, _), fut in [(item, pool.submit(one, item)) for item in missing]:
            try:
                fut.result()
                done += 1
            except (OutpostError, OSError) as exc:
                errors.append(f"agent-{index:06d}: {exc}")
            if (done + len(errors)) % 100 == 0:
                say(f"swarm: enrolled {done}/{len(missing)}")
    finally:  # on Ctrl-C: finish the enrolments under way (their identities get saved), start no more
        pool.shutdown(wait=True, cancel_futures=True)
    if errors:
        raise ConfigError(f"{len(errors)} of {len(missing)} enrolment(s) failed ({done} succeeded; run again "
                          f"to enrol the rest); first: {errors[0]}")
    return done


class Swarm:
    def __init__(self, dirs: Sequence[StateDir], registry: PluginRegistry, base: Facts, options: AgentOptions,
                 runner_options: RunnerOptions, connect_rate: float, shared: Shared) -> None:
        self._dirs = dirs
        self._registry = registry
        self._base = base
        self._options = options
        self._runner_options = runner_options
        self._rate = connect_rate
        self._shared = shared
        self.agents: list[Agent] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.failed = 0

    def status(self) -> str:
        connected = sum(a.connected for a in self.agents)
        run = sum(a.commands_run for a in self.agents)
        rss = psutil.Process().memory_info().rss / 2**20
        failed = f", {self.failed} failed" if self.failed else ""
        return (f"swarm: {connected}/{len(self._dirs)} connected, {len(self.agents)} started{failed}, "
                f"{run} commands run, rss {rss:.0f} MiB")

    async def run(self, stop: Stop) -> None:
        """Start every agent at the connect rate, then wait for ``stop``; then stop them all."""
        try:
            await self._launch(stop)
            await stop.wait()
        finally:
            stop.set()
            if self._tasks:
                _, pending = await asyncio.wait(self._tasks, timeout=SHUTDOWN_SECONDS)
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _launch(self, stop: Stop) -> None:
        loop = asyncio.get_running_loop()
        shared = self._shared
        slot = 1.0 / self._rate
        t0 = loop.time()
        for index, state in enumerate(self._dirs, start=1):
            # a random point in this agent's slot: the rate holds on average, never in lockstep
            delay = t0 + (index - 1 + shared.rng.random()) * slot - loop.time()
            # always let the loop go, also when behind: the agents started so far connect meanwhile,
            # and a late start never turns into a burst of every agent at once (measured: starting
            # fell 23 s behind on a slow disk, then 7,000 streams opened together and 212 failed)
            await asyncio.sleep(max(0.0, delay))
            if stop.is_set():
                return
            try:
                agent = Agent(state.load_identity(), state, self._registry, self._options, self._runner_options,
                              facts=facts_for(self._base, index), shared=shared)
            except (OutpostError, OSError) as exc:
                self.failed += 1
                log.error("agent-%06d cannot start: %s", index, exc)
                continue
            self.agents.append(agent)
            task = asyncio.create_task(agent.run(stop), name=f"agent-{index:06d}")
            task.add_done_callback(self._ended)
            self._tasks.append(task)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.failed += 1
            log.error("%s stopped: %r", task.get_name(), task.exception())


async def _status_lines(swarm: Swarm, every: float, stop: Stop, say: Callable[[str], None]) -> None:
    while not await stop.pause(every):
        say(swarm.status())


async def _main(swarm: Swarm, status_seconds: float, say: Callable[[str], None]) -> None:
    stop = Stop()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watch_children_by_pidfd()  # --action subprocess: no thread per running child
    status = asyncio.create_task(_status_lines(swarm, status_seconds, stop, say))
    freezer = asyncio.create_task(Freezer().run())  # thousands of agents' objects out of the collector's way
    try:
        await swarm.run(stop)
    finally:
        status.cancel()
        freezer.cancel()
    say(swarm.status().replace("swarm:", "swarm stopped:", 1))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def say(line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)

    try:
        if (warning := raise_fd_limit(args.agents)) is not None:
            say(f"swarm: warning: {warning}")
        installed = PluginRegistry.discover()
        registry = noop_registry(installed) if args.action == "noop" else installed
        base = gather_facts(registry.infos())
        dirs = agent_dirs(args.state_dir, args.agents)
        t0 = time.monotonic()
        if enrolled := enroll_missing(args, dirs, registry, base, say):
            say(f"swarm: enrolled {enrolled} agent(s) in {time.monotonic() - t0:.1f} s")
        # a stopping swarm does not wait for acks: what is not acknowledged stays journaled, for its next run
        options = AgentOptions(heartbeat_seconds=args.heartbeat_seconds,
                               max_concurrent_documents=args.max_concurrent_documents,
                               backoff_base_seconds=args.backoff_base_seconds, stop_report_seconds=0.0)
        durable = GroupCommit(args.state_dir)
        # one journal file for all the agents, made durable with their ledgers (agent/journal_file.py)
        journal = JournalFile(args.state_dir / "journal", durable.sync_files, JOURNAL_COMPACT_MIN_BYTES)
        journal.open()
        swarm = Swarm(dirs, registry, base, options, RunnerOptions(), args.connect_rate,
                      Shared(random.Random(), durable, Delays().call_later, VerifiedRoots(), install_scrubber(),
                             durable.sync_files, journal))
        say(f"swarm: starting {args.agents} agent(s) ({args.action}) at {args.connect_rate:g} per second")
        try:
            asyncio.run(_main(swarm, args.status_seconds, say))
        finally:
            journal.close()
        return 0
    except OutpostError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the state directory or the swarm's journal file cannot be read or written
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # during enrolment (afterwards SIGINT stops the swarm cleanly)
        return 130


if __name__ == "__main__":
    sys.exit(main())
