"""The agent's life: one outbound mutual-TLS stream to the controller, kept open for good.

It reconnects with exponential backoff and full jitter (the first retry included), verifies
every command before anything runs, records it in the ledger (fsynced) before the first step,
runs up to ``max_concurrent_documents`` documents at once and queues the rest in order.

What it holds of each command is journaled (agent/journal.py) until the controller acknowledges
the result: a new life of the agent replays it, and reports a command its previous life died under
as interrupted, after killing what that life left running (agent/recovery.py). On a stop (SIGTERM)
it stops what runs, reports how each ended and waits a bounded time for the controller to
acknowledge before it closes its stream.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from agent.facts import gather_facts
from agent.journal import Journal, SyncFiles, fsync_in_thread
from agent.ledger import Ledger, LedgerWrite, fsync_each
from agent.outbox import CallLater, Outbox, loop_call_later
from agent.recovery import ends, recover
from agent.runner import NotRecorded, Runner, RunnerOptions
from agent.state import AgentIdentity, StateDir
from agent.stop import Stop
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.errors import VerificationError
from plugins.sdk.facts import Facts
from plugins.sdk.host.clock import now_ms
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.secrets import ScrubFilter
from plugins.sdk.status import Detail
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.batch import VerifiedRoots
from plugins.sdk.wire.envelope import VerifiedCommand, is_command_id, signing_key, verify_command
from plugins.sdk.wire.messages import Accepted, AgentMessage, CancelAck, Heartbeat, Hello
from plugins.sdk.wire.results import NO_EXIT_CODE, InvocationReport, Refusal, StepReport

log = logging.getLogger(__name__)

# ../shared/reference/grpc-aio.md §3: keep pinging a quiet stream so dead peers are noticed. No BDP
# probing (a PING and its ACK for data received; see controller/runtime/serve.py's SERVER_OPTIONS).
KEEPALIVE_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 30_000),
    ("grpc.http2.bdp_probe", 0),
)


@dataclass(frozen=True)
class AgentOptions:
    heartbeat_seconds: float = 30.0
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 60.0
    max_concurrent_documents: int = 5
    # a command that ends sooner is reported by its result alone (agent/outbox.py)
    accept_delay_seconds: float = 0.25
    # how long a stream waits for an unreachable controller before one that fails at once says why
    unreachable_report_seconds: float = 60.0
    # how long a stopping agent waits for the controller to acknowledge what it reports (0: not at all;
    # what is not acknowledged stays journaled and goes with the next life's first stream)
    stop_report_seconds: float = 5.0
    # the least wait after the controller refused a stream for want of open files (RESOURCE_EXHAUSTED)
    exhausted_backoff_seconds: float = 30.0


class _Session(enum.Enum):
    ANSWERED = "answered"  # the controller said something: a healthy stream, however it ended
    FAILED = "failed"  # it ended without a word from the controller
    WAITED = "waited"  # still no word after unreachable_report_seconds: given up to say why


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]; attempt 0 is the first retry."""
    return rng.uniform(0.0, min(cap, base * (2 ** min(attempt, 30))))


def _journal_bytes(msg: AgentMessage) -> bytes:
    return wire.agent_message_to_pb(msg).SerializeToString()


def _journal_message(data: bytes) -> AgentMessage:
    return wire.agent_message_from_pb(pb.AgentMessage.FromString(data))


def _settles(msg: AgentMessage) -> bool:
    """A step's or the command's result: its journal is made durable with the next batch."""
    return isinstance(msg, (StepReport, InvocationReport, Refusal))


def _untrusted_command_id(msg: pb.Command) -> str:
    """The command id an unverified envelope claims, if it is well-formed: for the refusal report
    only, never trusted."""
    try:
        claimed = pb.Envelope.FromString(msg.envelope).command_id
    except Exception:  # noqa: BLE001 - a garbage envelope has no id to report
        return ""
    return claimed if is_command_id(claimed) else ""


@dataclass(frozen=True)
class Shared:
    """What the agents of one process share. An agent alone takes the defaults; ``outpost swarm``
    gives its thousands of agents one of each: one Random, their ledgers made durable together
    (agent/swarm/groupcommit.py), their held acceptances on one timer (agent/swarm/delays.py), each
    batch signature verified once for all of them (plugins/sdk/wire/batch.py)."""
    rng: random.Random = field(default_factory=random.Random)
    ledger_write: LedgerWrite = fsync_each
    call_later: CallLater = loop_call_later
    verified_roots: VerifiedRoots | None = None
    scrubber: ScrubFilter = field(default_factory=ScrubFilter)  # the process's log scrubber
    sync_files: SyncFiles = fsync_in_thread  # how journals reach the disk


class Agent:
    def __init__(self, identity: AgentIdentity, state: StateDir, registry: PluginRegistry,
                 options: AgentOptions, runner_options: RunnerOptions, facts: Facts | None = None,
                 shared: Shared | None = None) -> None:
        """``facts``: what Hello reports (default: gathered from this machine; ``outpost swarm`` gives
        each of its agents its own hostname)."""
        shared = shared or Shared()
        self._identity = identity
        self._signing_key = signing_key(identity.signing_public_key)
        self._verified_roots = shared.verified_roots
        self._registry = registry
        self._options = options
        self._rng = shared.rng
        state.create()
        self._ledger = Ledger(state.ledger_path)
        self._ledger_write = shared.ledger_write
        self._journal: Journal[AgentMessage] = Journal(state.commands_dir, _journal_bytes, _journal_message,
                                                       _settles, shared.sync_files)
        self._outbox: Outbox[AgentMessage] = Outbox(shared.call_later, wire.agent_message_to_pb, self._journal)
        self._facts = facts or gather_facts(registry.infos())
        self._hello = Hello(self._facts)  # every stream's first
        self._runner = Runner(registry, identity.node_id, self._facts.platform, state.work_dir, self._outbox,
                              runner_options, shared.scrubber, self._journal)
        self._recovered = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_requested: set[str] = set()
        self._slots = asyncio.Semaphore(options.max_concurrent_documents)
        self._connected = False
        self._refused: grpc.StatusCode | None = None  # how the controller ended the last stream, if it did
        self._ending = False  # this side is ending the current stream (stopping, or to say why it waits)
        self.commands_run = 0  # documents run to their end by this process (for status lines)

    @property
    def node_id(self) -> str:
        return self._identity.node_id

    @property
    def connected(self) -> bool:
        """Whether the current stream has heard from the controller."""
        return self._connected

    # ------------------------------------------------------------------ connection loop

    async def run(self, stop: Stop) -> None:
        """Streams to the controller, one after another, over one channel, until ``stop``.

        The channel lives as long as the agent and connects on its own (gRPC's connection backoff,
        ``KEEPALIVE_OPTIONS``). A stream waits for it to be ready rather than failing while the
        controller is down or restarting, so an agent then costs nothing but gRPC's connection
        attempts, and its stream opens as soon as one gets through. (Measured before, with a
        channel per stream and every stream failing at once: in a controller restart under 10,000
        swarm agents, their failed attempts kept the swarm's event loop busy for 25 s after the
        controller was back, and none got through meanwhile.)

        So that an unreachable controller is still reported with its reason (connection refused,
        a certificate the controller refused, ...), the first stream, and one after each
        ``unreachable_report_seconds`` of waiting in vain, fails at once instead; its error is
        logged. Between streams, the backoff below: full jitter, reset by a stream the controller
        answered."""
        attempt = 0
        report = True  # the next stream fails at once if the controller cannot be reached
        await self.recover()
        creds = grpc.ssl_channel_credentials(root_certificates=self._identity.ca_pem,
                                              private_key=self._identity.key_pem,
                                              certificate_chain=self._identity.cert_pem)
        channel = grpc.aio.secure_channel(self._identity.controller, creds, options=KEEPALIVE_OPTIONS)
        stub = pbg.AgentServiceStub(channel)
        try:
            while not stop.is_set():
                self._refused = None
                outcome = await self._session(stub, stop, wait=not report)
                if stop.is_set():
                    break
                report = outcome is _Session.WAITED
                if outcome is _Session.WAITED:
                    continue  # no backoff: the stream that reports why comes right away
                attempt = 0 if outcome is _Session.ANSWERED else attempt + 1
                delay = backoff_delay(attempt, self._options.backoff_base_seconds,
                                      self._options.backoff_cap_seconds, self._rng)
                if self._refused is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    # The controller is at its open-file limit. Let go of the connection (it holds one of
                    # the controller's descriptors while open) and come back later than usual.
                    await channel.close()
                    channel = grpc.aio.secure_channel(self._identity.controller, creds, options=KEEPALIVE_OPTIONS)
                    stub = pbg.AgentServiceStub(channel)
                    least = self._options.exhausted_backoff_seconds
                    delay = max(delay, self._rng.uniform(least, 2 * least))
                log.info("reconnecting to %s in %.2f s", self._identity.controller, delay)
                await stop.pause(delay)
        finally:
            await self._shutdown()
            await self._journal.synced()
            await channel.close()

    async def recover(self) -> None:
        """Take up what a previous life of the agent held (agent/recovery.py): replayed on the first
        stream. Once per agent, before its first stream."""
        if self._recovered:
            return
        self._recovered = True
        entries = await asyncio.to_thread(self._journal.read_all)
        for entry in entries:
            if entry.messages and ends(entry.messages[-1]):
                self._outbox.restore(entry.command_id, entry.messages)
                continue
            recovered = await asyncio.to_thread(recover, entry)  # kills leftovers: seconds, off the loop
            self._journal.message(entry.command_id, recovered.messages[-1])
            self._outbox.restore(entry.command_id, recovered.messages)
        if entries:
            log.info("%d command(s) of a previous life to report", len(entries))

    async def _session(self, stub: pbg.AgentServiceStub, stop: Stop, *, wait: bool) -> _Session:
        """One stream. ``wait``: it waits for the channel to be ready, up to
        ``unreachable_report_seconds`` (less a random quarter at most) for the controller's first
        message; otherwise it fails at once while the controller cannot be reached.

        The stream is read here, not in a task of its own, and a stop or the end of that patience
        cancels the call from a callback: a swarm reconnecting 10,000 agents at once sets up and
        tears down 10,000 of these, on one event loop."""
        call = stub.Connect(self._outbox.stream(self._hello), wait_for_ready=wait)
        self._ending = False

        def end() -> None:  # this side ends the stream: the reader sees it end, then the session
            self._ending = True
            call.cancel()
        def give_up() -> None:  # still no word from the controller: end the stream to say why
            if not self._connected:
                end()
        stopping: list[asyncio.Task[None]] = []
        on_stop = stop.on_set(lambda: stopping.append(asyncio.ensure_future(self._stop_then_end(end))))
        # jittered, so that agents waiting since the same moment (a controller restart that takes
        # long) do not all give up at once
        patience = self._options.unreachable_report_seconds * self._rng.uniform(0.75, 1.0)
        timer = asyncio.get_running_loop().call_later(patience, give_up) if wait else None
        try:
            answered = await self._read(call)
        finally:
            self._connected = False  # a stop reporting meanwhile waits no longer for acks
            for task in stopping:  # the stream ended while the stop was reporting: the stop goes on
                await asyncio.shield(task)
            stop.forget(on_stop)
            if timer is not None:
                timer.cancel()
            call.cancel()
            self._outbox.disconnect()
            self._connected = False
        if answered:
            return _Session.ANSWERED
        return _Session.WAITED if self._ending and not stop.is_set() else _Session.FAILED

    async def _read(self, call: grpc.aio.StreamStreamCall) -> bool:
        """Handle the stream's messages until it ends, heartbeating from its first one; returns
        whether there was one."""
        heartbeat: asyncio.Task[None] | None = None
        try:
            async for msg in call:
                if heartbeat is None:
                    log.info("connected to %s as %s", self._identity.controller, self.node_id)
                    self._connected = True
                    heartbeat = asyncio.create_task(self._heartbeats())
                try:
                    self._dispatch(msg)
                except Exception:  # a bug in handling one message must not take the agent down
                    log.exception("could not handle a %s message", msg.WhichOneof("body"))
        except grpc.aio.AioRpcError as exc:
            self._refused = exc.code()
            if not (self._ending and exc.code() is grpc.StatusCode.CANCELLED):  # not when this side ended it
                log.warning("stream to %s ended: %s %s", self._identity.controller, exc.code().name, exc.details())
        except asyncio.CancelledError:
            # gRPC raises this for a call cancelled here; a cancellation of this task goes on up
            task = asyncio.current_task()
            if not self._ending or (task is not None and task.cancelling()):
                raise
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
        return heartbeat is not None

    def _dispatch(self, msg: pb.ControllerMessage) -> None:
        kind = msg.WhichOneof("body")
        if kind == "command":
            self._on_command(msg.command)
        elif kind == "cancel":
            self._on_cancel(msg.cancel.command_id)
        elif kind == "result_ack":
            for command_id in msg.result_ack.command_ids:
                self._outbox.acknowledged(command_id)
        elif kind == "ping" and msg.ping.answer:  # the controller asks whether this stream is alive
            self._outbox.transient(Heartbeat(now_ms(), tuple(sorted(self._tasks))))

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._options.heartbeat_seconds)
            self._outbox.transient(Heartbeat(now_ms(), tuple(sorted(self._tasks))))

    # ------------------------------------------------------------------ commands

    def _on_command(self, msg: pb.Command) -> None:
        try:
            vc = verify_command(wire.command_from_pb(msg), public_key=self._signing_key,
                                node_id=self.node_id, now_ms=now_ms(), verified_roots=self._verified_roots)
        except VerificationError as exc:
            self._refuse(Refusal(_untrusted_command_id(msg), exc.code, exc.detail), verified=False)
            return
        cid = vc.envelope.command_id
        if cid in self._tasks or (cid in self._ledger and self._outbox.holds(cid)):
            log.info("command %s redelivered while still known; not running it again", cid)
            return
        if cid in self._ledger:
            # Taken before, and its result acknowledged since (the controller has it, and keeps it) or lost
            # with the machine's crash along with the journal: never run twice, and say so as a result
            # (a redelivery of a command that ran is no refusal).
            log.warning("command %s was taken before by this node; not running it again", cid)
            at = now_ms()
            self._outbox.about(cid, InvocationReport(
                cid, Detail.FAILED, NO_EXIT_CODE, at, at, (),
                "this node took this command before and does not run a command twice; it holds no result "
                "of it any more (acknowledged already, or lost with a crash of the machine)"), final=True)
            return
        self._journal.taken(cid, now_ms())
        # in the ledger before it is accepted and before its first step starts: the record's task is
        # scheduled first, so the fsync is under way (on a thread) while the run is set up
        recorded = asyncio.ensure_future(self._record(cid))
        self._tasks[cid] = asyncio.create_task(self._execute(vc, recorded))

    def _refuse(self, refusal: Refusal, *, verified: bool) -> None:
        """Report a refusal. One about an unverified envelope is filed under the id it claims only
        when that id means nothing here yet, so a forged id can never disturb a real command."""
        log.warning("refused command %s: %s: %s", refusal.command_id or "(unknown)", refusal.code, refusal.detail)
        cid = refusal.command_id
        known = cid in self._ledger or cid in self._tasks or self._outbox.holds(cid)
        if cid and (verified or not known):
            self._outbox.about(cid, refusal)
        else:
            self._outbox.transient(refusal)

    async def _record(self, cid: str) -> bool:
        """Record the command in the ledger (fsynced, off the event loop), then accept it; False when
        the ledger cannot take it: the command is refused."""
        try:
            await self._ledger_write(self._ledger, cid)
        except OSError as exc:
            self._refuse(Refusal(cid, "ledger_unwritable", f"cannot record the command in the ledger: {exc}"),
                         verified=True)
            return False
        self._outbox.accept(cid, Accepted(cid), self._options.accept_delay_seconds)
        return True

    async def _execute(self, vc: VerifiedCommand, recorded: asyncio.Future[bool]) -> None:
        """Run a command once it has a slot; meanwhile ``recorded`` is written and the first step set
        up (the runner awaits ``recorded`` just before starting it)."""
        cid = vc.envelope.command_id
        try:
            try:
                await self._slots.acquire()  # FIFO: documents beyond the limit wait in order
            except asyncio.CancelledError:
                if cid not in self._cancel_requested:  # stopping
                    if recorded.done() and not recorded.cancelled() and recorded.result():
                        self._runner.report_not_started(vc, Detail.FAILED, "the agent was stopped before this "
                                                        "command started; it did not run and is not run again")
                    raise  # the finally below cancels a record under way (the next life reports it)
                if await asyncio.shield(recorded):
                    self._runner.report_not_started(vc, Detail.CANCELLED, "cancelled before it started")
                return
            try:
                await self._runner.run(vc, lambda: cid in self._cancel_requested, recorded)
                self.commands_run += 1
            except NotRecorded:
                return  # refused by _record
            finally:
                self._slots.release()
        finally:
            if not recorded.done():  # stopping: the runner ended without waiting for it
                recorded.cancel()
            self._tasks.pop(cid, None)
            self._cancel_requested.discard(cid)

    def _on_cancel(self, command_id: str) -> None:
        task = self._tasks.get(command_id)
        self._outbox.transient(CancelAck(command_id, running=task is not None))
        if task is not None and command_id not in self._cancel_requested:
            log.info("cancelling command %s", command_id)
            self._cancel_requested.add(command_id)
            task.cancel()

    async def _stop_then_end(self, end: Callable[[], None]) -> None:
        """Stopping: stop what runs (each command reports how it ended, journaled), give the controller
        ``stop_report_seconds`` to acknowledge what is unacknowledged, then end the stream. Heartbeats
        go every half second meanwhile: the controller sends its acks in answer to one."""
        try:
            await self._shutdown()
            pending = self._outbox.unacknowledged()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._options.stop_report_seconds
            while pending and self._connected and (left := deadline - loop.time()) > 0:
                self._outbox.transient(Heartbeat(now_ms(), ()))
                if await self._outbox.until_acknowledged(pending, min(0.5, left)):
                    break
        finally:
            end()

    async def _shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._ledger.close()
