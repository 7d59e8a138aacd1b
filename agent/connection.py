"""The agent's life: one outbound mutual-TLS stream to the controller, kept open for good.

It reconnects with exponential backoff and full jitter (the first retry included) and hands what
the controller sends to its commands (agent/commands.py: verified, recorded, run, journaled until
acknowledged). On a stop (SIGTERM) it has them stop, and waits a bounded time for the controller to
acknowledge how each ended before it closes its stream.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import grpc

from agent.certificate import CertificateRenewal
from agent.commands import Commands, CommandsSetup
from agent.durable import SyncFiles, fsync_in_thread
from agent.facts import AGENT_VERSION, gather_facts
from agent.journal_file import JournalFile
from agent.ledger import LedgerWrite, fsync_each
from agent.outbox import CallLater, loop_call_later
from agent.reboot import RebootPolicy
from agent.runner import RunnerOptions
from agent.state import AgentIdentity, StateDir
from agent.stop import Stop
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.contract import AgentInfo
from plugins.sdk.errors import VerificationError
from plugins.sdk.facts import Facts
from plugins.sdk.host.clock import now_ms
from plugins.sdk.host.handshake import connection_failure
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.secrets import ScrubFilter
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.batch import VerifiedRoots
from plugins.sdk.wire.envelope import key_id_of, signing_key
from plugins.sdk.wire.key_rotation import follow_chain
from plugins.sdk.wire.messages import Heartbeat, Hello, SigningKeyRotated

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
    # what a step's reboot request (exit 194 / 3010) runs; empty: the platform's (agent/reboot.py)
    reboot_command: tuple[str, ...] = ()
    # how this agent was started (``outpost agent ARGS``): an update's updater starts the next one so
    start_argv: tuple[str, ...] = ()


def _connect_call(channel: grpc.aio.Channel) -> grpc.aio.StreamStreamMultiCallable:
    """AgentService.Connect, its requests sent as the outbox encoded them (protobuf's bytes, once:
    agent/outbox.py), its answers decoded as the generated stub decodes them."""
    service = pb.DESCRIPTOR.services_by_name["AgentService"]
    return channel.stream_stream(f"/{service.full_name}/Connect", request_serializer=None,
                                 response_deserializer=pb.ControllerMessage.FromString)


class _Session(enum.Enum):
    ANSWERED = "answered"  # the controller said something: a healthy stream, however it ended
    FAILED = "failed"  # it ended without a word from the controller
    WAITED = "waited"  # still no word after unreachable_report_seconds: given up to say why


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]; attempt 0 is the first retry."""
    return rng.uniform(0.0, min(cap, base * (2 ** min(attempt, 30))))


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
    sync_files: SyncFiles = fsync_in_thread  # how an agent's own journal file reaches the disk
    journal_file: JournalFile | None = None  # shared by all (with its own sync); None: each agent its own


class Agent:
    def __init__(self, identity: AgentIdentity, state: StateDir, registry: PluginRegistry,
                 options: AgentOptions, runner_options: RunnerOptions, facts: Facts | None = None,
                 shared: Shared | None = None) -> None:
        """``facts``: what Hello reports (default: gathered from this machine; ``outpost swarm`` gives
        each of its agents its own hostname)."""
        shared = shared or Shared()
        self._identity = identity
        self._options = options
        self._rng = shared.rng
        self._facts = facts or gather_facts(registry.infos())
        self._state = state
        self._hello = Hello(self._facts, identity.signing_key_id)  # every stream's first
        self._commands = Commands(state, registry, runner_options, CommandsSetup(
            identity.node_id, signing_key(identity.signing_public_key), self._facts.platform,
            options.max_concurrent_documents, options.accept_delay_seconds, shared.ledger_write, shared.call_later,
            shared.verified_roots, shared.scrubber, shared.sync_files, shared.journal_file,
            RebootPolicy(options.reboot_command) if options.reboot_command else None,
            AgentInfo(AGENT_VERSION, os.getpid(), str(state.path), str(state.install_dir), options.start_argv)))
        self._outbox = self._commands.outbox
        self._certificate = CertificateRenewal(state, identity)
        self._renewed = False  # a new certificate came on this stream: the next one opens with it
        self._end_stream: Callable[[], None] | None = None
        self._connected = False
        self._refused: grpc.StatusCode | None = None  # how the controller ended the last stream, if it did
        self._ending = False  # this side is ending the current stream (stopping, or to say why it waits)

    @property
    def node_id(self) -> str:
        return self._identity.node_id

    @property
    def commands_run(self) -> int:
        """Documents run to their end by this process (for status lines and the idle trim)."""
        return self._commands.commands_run

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
        self._commands.on_restart = stop.set  # a step handed over to the agent's next start (an update)
        attempt = 0
        report = True  # the next stream fails at once if the controller cannot be reached
        await self._commands.recover()
        channel = self._channel()
        connect = _connect_call(channel)
        try:
            while not stop.is_set():
                self._refused = None
                outcome = await self._session(connect, stop, wait=not report)
                if stop.is_set():
                    break
                if self._renewed:  # the next stream presents the new certificate
                    self._renewed = False
                    await channel.close()
                    channel = self._channel()
                    connect = _connect_call(channel)
                    continue
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
                    channel = self._channel()
                    connect = _connect_call(channel)
                    least = self._options.exhausted_backoff_seconds
                    delay = max(delay, self._rng.uniform(least, 2 * least))
                log.info("reconnecting to %s in %.2f s", self._identity.controller, delay)
                await stop.pause(delay)
        finally:
            await self._commands.stop()
            await self._commands.synced()
            self._commands.close()
            await channel.close()

    def _channel(self) -> grpc.aio.Channel:
        """A channel presenting this agent's certificate as it is now."""
        creds = grpc.ssl_channel_credentials(root_certificates=self._identity.ca_pem,
                                              private_key=self._identity.key_pem,
                                              certificate_chain=self._identity.cert_pem)
        return grpc.aio.secure_channel(self._identity.controller, creds, options=KEEPALIVE_OPTIONS)

    async def _session(self, connect: grpc.aio.StreamStreamMultiCallable, stop: Stop, *, wait: bool) -> _Session:
        """One stream. ``wait``: it waits for the channel to be ready, up to
        ``unreachable_report_seconds`` (less a random quarter at most) for the controller's first
        message; otherwise it fails at once while the controller cannot be reached.

        The stream is read here, not in a task of its own, and a stop or the end of that patience
        cancels the call from a callback: a swarm reconnecting 10,000 agents at once sets up and
        tears down 10,000 of these, on one event loop."""
        call = connect(self._outbox.stream(self._hello), wait_for_ready=wait)
        self._ending = False

        def end() -> None:  # this side ends the stream: the reader sees it end, then the session
            self._ending = True
            call.cancel()
        def give_up() -> None:  # still no word from the controller: end the stream to say why
            if not self._connected:
                end()
        self._end_stream = end
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
            self._end_stream = None
            self._certificate.unanswered()
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
                    self._state.note_connected(AGENT_VERSION)  # what an update's updater waits for
                    self._commands.connected()
                    heartbeat = asyncio.create_task(self._heartbeats())
                    self._renew_if_due()
                try:
                    self._dispatch(msg)
                except Exception:  # a bug in handling one message must not take the agent down
                    log.exception("could not handle a %s message", msg.WhichOneof("body"))
        except grpc.aio.AioRpcError as exc:
            self._refused = exc.code()
            if not (self._ending and exc.code() is grpc.StatusCode.CANCELLED):  # not when this side ended it
                ident = self._identity
                why = connection_failure(exc.code().name, exc.details() or "", ident.controller,
                                         cert_pem=ident.cert_pem, ca_pem=ident.ca_pem)
                log.warning("stream to %s ended: %s", ident.controller,
                            why or f"{exc.code().name} {exc.details()}")
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
            self._commands.on_command(wire.command_from_pb(msg.command))
        elif kind == "cancel":
            self._commands.on_cancel(msg.cancel.command_id)
        elif kind == "result_ack":
            for command_id in msg.result_ack.command_ids:
                self._outbox.acknowledged(command_id)
        elif kind == "ping" and msg.ping.answer:  # the controller asks whether this stream is alive
            self._outbox.transient(Heartbeat(now_ms(), self._commands.running()))
        elif kind == "content":
            self._commands.content.on_chunk(wire.content_from_pb(msg.content))
        elif kind == "signing_key":
            self._pin_signing_key(wire.rotated_from_pb(msg.signing_key))
        elif kind == "renewed":
            renewed = self._certificate.answered(wire.renewed_from_pb(msg.renewed))
            if renewed is not None:  # (the signing key pinned is this agent's, not the renewal's copy)
                self._identity = replace(renewed, signing_public_key=self._identity.signing_public_key,
                                         signing_key_id=self._identity.signing_key_id)
                self._renewed = True
                if self._end_stream is not None:
                    self._end_stream()

    def _pin_signing_key(self, msg: SigningKeyRotated) -> None:
        """The controller's document-signing key rotated: pin the new one if each step from the key
        pinned now is signed by the key it replaces; else keep the pinned key (and so refuse what the
        new one signs)."""
        try:
            new = follow_chain(msg.steps, self._identity.signing_public_key)
        except VerificationError as exc:
            log.error("signing key rotation refused, %s still pinned: %s", self._identity.signing_key_id, exc)
            return
        ident = replace(self._identity, signing_public_key=new, signing_key_id=key_id_of(new))
        try:
            self._state.save_signing_key(ident)
        except OSError as exc:
            log.error("signing key rotation to %s not pinned: %s", ident.signing_key_id, exc)
            return
        self._commands.use_signing_key(signing_key(new))
        self._identity = ident
        self._hello = Hello(self._facts, ident.signing_key_id)
        log.info("document-signing key rotated: %s pinned", ident.signing_key_id)

    def _renew_if_due(self) -> None:
        if self._certificate.due():
            self._outbox.transient(self._certificate.request())

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._options.heartbeat_seconds)
            self._outbox.transient(Heartbeat(now_ms(), self._commands.running()))
            self._renew_if_due()

    async def _stop_then_end(self, end: Callable[[], None]) -> None:
        """Stopping: stop what runs (each command reports how it ended, journaled), give the controller
        ``stop_report_seconds`` to acknowledge what is unacknowledged, then end the stream. Heartbeats
        go every half second meanwhile: the controller sends its acks in answer to one."""
        try:
            await self._commands.stop()
            pending = self._outbox.unacknowledged()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._options.stop_report_seconds
            while pending and self._connected and (left := deadline - loop.time()) > 0:
                self._outbox.transient(Heartbeat(now_ms(), ()))
                if await self._outbox.until_acknowledged(pending, min(0.5, left)):
                    break
        finally:
            end()
