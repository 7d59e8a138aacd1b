"""AgentService: Enroll (on the enrolment listener, TLS with server authentication only) and
Connect (on the mutual-TLS listener, node certificates only)."""
from __future__ import annotations

import asyncio
import logging
from typing import NoReturn

import grpc

from controller.dispatch.dispatcher import Dispatcher
from controller.dispatch.reports import Reports
from controller.events.bus import EventBus, iso_utc_ms
from controller.fleet.capacity import StreamCapacity
from controller.fleet.facts import kept_facts
from controller.fleet.presence import Presence
from controller.fleet.sessions import AgentSession, Hub
from controller.model import AuditEntry, AuditOutcome
from controller.server.access_gate import source_ip
from controller.server.auth import PeerIdentities
from controller.server.content import ContentServer
from controller.server.key_notices import bring_up_to_date
from controller.server.rate_limit import RateLimiter
from controller.server.renewal import NodeRenewal
from controller.trust.audit_trail import AuditTrail
from controller.trust.revocation import Denylist
from controller.trust.signing_keys import SigningKeys
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.host.clock import now_ms
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.convert import WireError
from plugins.sdk.wire.identity import Role
from plugins.sdk.wire.messages import CertificateRenewed, ContentChunk, FetchContent, Ping

log = logging.getLogger(__name__)

HELLO_TIMEOUT_SECONDS = 30.0
CONNECT = "node:Connect"  # the audit trail's action for a refused stream
# How long a node's stream has to answer when a second stream of the same node comes: one that
# answers is alive (the second is refused); one that does not is a dead connection not noticed yet
# (the agent came back after a network cut, or a crash of its machine): it is closed, the second stays.
PROBE_SECONDS = 3.0


class AgentStreamService(pbg.AgentServiceServicer):
    """Served on the mutual-TLS listener: Connect, for node certificates only."""

    def __init__(self, hub: Hub, reports: Reports, dispatcher: Dispatcher, presence: Presence,
                 heartbeat_timeout_seconds: float, capacity: StreamCapacity, events: EventBus | None = None,
                 denylist: Denylist | None = None, renewal: NodeRenewal | None = None,
                 trail: AuditTrail | None = None, signing_keys: SigningKeys | None = None,
                 content: ContentServer | None = None) -> None:
        self._signing_keys = signing_keys  # None: no rotations to tell
        self._content = content  # None: fetches are answered "not offered"
        self._trail = trail  # refusals go on record (None: logged only)
        self._refusals = RateLimiter(rate=1 / 600, burst=1)
        self._renewal = renewal  # None: renewals are answered "not offered"
        self._presence = presence
        self._denylist = denylist if denylist is not None else Denylist()  # (an empty one is falsy)
        self._capacity = capacity
        self._events = events or EventBus()
        self._hub = hub
        self._reports = reports
        self._dispatcher = dispatcher
        self._heartbeat_timeout = heartbeat_timeout_seconds
        self._identities = PeerIdentities(limit=0)  # a node's certificate comes once a stream: nothing to keep

    async def Enroll(self, request, context):  # noqa: N802
        await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                            "Enroll is served on the enrolment listener, not the mutual-TLS one")

    async def Connect(self, request_iterator, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        if not self._capacity.admit():  # first: a refusal costs nothing, and the agent backs off
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, self._capacity.refusal())
        context.add_done_callback(self._capacity.release)  # counted until the call ends, however it ends
        peer = self._identities.peer(context)
        if peer is None or peer.identity.role is not Role.NODE:  # an operator's certificate, say
            who = peer.identity.uri if peer is not None else "an unidentified peer"
            actor = f"{peer.identity.role.value}/{peer.identity.name}" if peer is not None else "unidentified/-"
            await self._refuse(context, actor, f"{actor}:{peer.serial if peer else ''}",
                               f"AgentService.Connect is not allowed for {who}; it needs a node certificate")
            raise AssertionError("abort raises")
        node_id = peer.identity.name
        if peer.serial in self._denylist:  # deregistered: gRPC Python has no CRL hook
            await self._refuse(context, f"node/{node_id}", peer.serial,
                               f"the certificate of node {node_id} (serial {peer.serial}) is revoked: "
                               "the node was deregistered; enrol it anew with an activation")
        try:
            first = await asyncio.wait_for(context.read(), HELLO_TIMEOUT_SECONDS)
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "no Hello")
        if first is grpc.aio.EOF or first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be Hello")
        try:
            facts = kept_facts(wire.facts_from_pb(first.hello.facts))
        except WireError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"hello.facts: {exc}")
        old = self._hub.get(node_id)
        if old is not None and await old.answers(PROBE_SECONDS):
            await self._refuse_second_stream(context, node_id, old)
        try:
            known = await self._presence.hello(node_id, facts)  # stored Online in the next presence batch
        except asyncio.CancelledError:
            # the agent went while its Hello was being stored: store that too (the Hello is stored
            # anyway), unless a newer stream of the node is attached by now
            if self._hub.get(node_id) is None:
                await asyncio.shield(self._presence.gone(node_id))
            raise
        if not known:
            log.warning("unknown node %s tried to connect", node_id)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"node {node_id} is not registered")
        session = self._hub.attach(node_id, context.peer())
        session.signing_key_id = first.hello.signing_key_id
        writer = asyncio.create_task(self._write(session, context))
        reader: asyncio.Task[None] | None = None
        try:
            if self._signing_keys is not None:
                bring_up_to_date(session, self._signing_keys)  # before any command the new key signs
            await self._dispatcher.on_hello(node_id)  # what waited for the node, and cancels it missed
            session.send(Ping(now_ms()))
            log.info("node %s connected from %s", node_id, context.peer())
            reader = asyncio.create_task(self._read(session, context))
            # ends when the agent goes (reader) or the session is closed: replaced, or shutdown (writer)
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            current = self._hub.detach(session)
            writer.cancel()
            if reader is not None:
                reader.cancel()
            if current:
                log.info("node %s disconnected", node_id)
                await asyncio.shield(self._presence.gone(node_id))

    async def _refuse(self, context: grpc.aio.ServicerContext, actor: str, key: str, why: str) -> NoReturn:
        """Refuse the stream, logged, and on the audit trail once per ``key`` (a certificate) every ten
        minutes: a revoked agent that keeps retrying costs a line, not a record a try."""
        log.warning("stream refused to %s (%s): %s", actor, context.peer(), why)
        if self._trail is not None and self._refusals.wait(key) == 0:
            self._refusals.charge(key)
            self._trail.submit(AuditEntry.event(now_ms(), actor, source_ip(context.peer()) or "", CONNECT,
                                                AuditOutcome.DENIED, actor, why))
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, why)
        raise AssertionError("abort raises")

    async def _refuse_second_stream(self, context: grpc.aio.ServicerContext, node_id: str,
                                    first: AgentSession) -> NoReturn:
        """One live stream per node identity: a second agent with the same identity (a copied state
        directory: a VM snapshot, a golden image, a restored backup) is refused while the first
        answers, so a command never reaches two machines. Noted on the node (``node list``) and logged."""
        peer = context.peer()
        note = (f"{iso_utc_ms(now_ms())}: a second agent with this identity connected from {peer} while the "
                f"agent at {first.peer} answered; refused (a copied state directory?)")
        self._hub.note(node_id, note)
        self._events.notice(node_id, note)
        log.error("node %s: %s", node_id, note)
        await context.abort(grpc.StatusCode.ALREADY_EXISTS,
                            f"node {node_id} already has a live stream, from another agent with this identity "
                            f"({first.peer}); this one is refused so that no command runs twice. A copied state "
                            "directory (VM snapshot, golden image, restored backup) must be enrolled anew")
        raise AssertionError("abort raises")

    async def _write(self, session, context: grpc.aio.ServicerContext) -> None:
        while True:
            msg = await session.outbound.get()
            if msg is None:
                return
            try:
                await context.write(wire.controller_message_to_pb(msg))
            except grpc.aio.UsageError:  # the call already ended: the agent went, or the controller is stopping
                return

    async def _read(self, session: AgentSession, context: grpc.aio.ServicerContext) -> None:
        node_id = session.node_id
        limit = self._heartbeat_timeout
        loop = asyncio.get_running_loop()
        heard = loop.time()

        def check_silence() -> None:
            """A stream silent for ``limit`` is closed: its writer ends, and with it the stream. One
            timer a stream, moved on only when it comes due (a timeout around each read made and
            cancelled a timer handle per message: 3.5 % of the event loop in a 10,000-node fan-out)."""
            nonlocal timer
            if loop.time() - heard >= limit:
                log.warning("node %s sent nothing for %.0f s; closing its stream", node_id, limit)
                session.close()
            else:
                timer = loop.call_at(heard + limit, check_silence)

        timer = loop.call_at(heard + limit, check_silence)
        try:
            while True:
                try:
                    msg = await context.read()
                except grpc.aio.UsageError:  # the call already ended (the controller is stopping)
                    return
                if msg is grpc.aio.EOF:
                    return
                heard = loop.time()
                session.heard()
                await self._handle(session, msg)
        finally:
            timer.cancel()

    async def _renew(self, session: AgentSession, csr_pem: bytes) -> None:
        """A certificate renewal: once a stream (the agent's next stream opens with the new one)."""
        if self._renewal is None:
            session.send(CertificateRenewed(b"", "this controller does not renew certificates"))
        elif session.renewed:
            session.send(CertificateRenewed(b"", "one renewal a stream"))
        else:
            session.renewed = True
            session.send(await self._renewal.renew(session.node_id, source_ip(session.peer) or "", csr_pem))

    async def _handle(self, session: AgentSession, msg: pb.AgentMessage) -> None:
        d, node_id = self._reports, session.node_id
        kind = msg.WhichOneof("body")
        try:
            if kind == "output":
                await d.on_output(node_id, wire.chunk_from_pb(msg.output))
            elif kind == "ack":
                if msg.ack.accepted:
                    await d.on_accepted(node_id, msg.ack.command_id)
                else:
                    await d.on_refused(node_id, wire.refusal_from_pb(msg.ack))
            elif kind == "step_result":
                await d.on_step(node_id, wire.step_from_pb(msg.step_result))
            elif kind == "invocation_result":
                await d.on_result(node_id, wire.invocation_from_pb(msg.invocation_result))
            elif kind == "heartbeat":
                self._presence.heartbeat(node_id)
                session.flush_acks()
            elif kind == "cancel_ack":
                await d.on_cancel_ack(node_id, wire.cancel_ack_from_pb(msg.cancel_ack))
            elif kind == "renew":
                await self._renew(session, msg.renew.csr_pem)
            elif kind == "fetch":
                fetch = wire.agent_message_from_pb(msg)
                assert isinstance(fetch, FetchContent)
                session.send(await self._content.answer(fetch) if self._content is not None else ContentChunk(
                    fetch.request_id, b"", 0, True, "this controller serves no content", fetch.offset))
        except WireError as exc:
            log.warning("node %s sent a message this controller cannot read: %s", node_id, exc)
