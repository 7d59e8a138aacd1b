"""AdminService: what the operator CLI calls. Operator certificates only; the operator's name
comes from the verified certificate and is recorded with everything it does."""
from __future__ import annotations

import base64
import logging
import secrets
import uuid
from collections.abc import AsyncIterator

import grpc

from controller.db import Db
from controller.dispatch import CommandRejected, CommandRequest, Dispatcher, now_ms
from controller.events import CommandChanged, EventBus, OutputArrived
from controller.model import ActivationRecord
from controller.server import convert
from controller.server.agent_service import hash_activation_code
from controller.server.auth import require
from controller.store import NotFound
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.errors import DocumentError
from plugins.sdk.identity import Role

log = logging.getLogger(__name__)

DEFAULT_ACTIVATION_LIMIT = 1
MAX_ACTIVATION_LIMIT = 1000
DEFAULT_ACTIVATION_SECONDS = 24 * 3600
MAX_ACTIVATION_SECONDS = 30 * 24 * 3600


class AdminService(pbg.AdminServiceServicer):
    def __init__(self, db: Db, dispatcher: Dispatcher, events: EventBus, ca_fingerprint: str) -> None:
        self._db = db
        self._dispatcher = dispatcher
        self._events = events
        self._ca_fingerprint = ca_fingerprint

    async def _operator(self, context: grpc.aio.ServicerContext, method: str) -> str:
        return (await require(context, Role.OPERATOR, f"AdminService.{method}")).name

    async def CreateActivation(self, request, context):  # noqa: N802
        who = await self._operator(context, "CreateActivation")
        limit = request.registration_limit or DEFAULT_ACTIVATION_LIMIT
        seconds = request.expires_seconds or DEFAULT_ACTIVATION_SECONDS
        if not 1 <= limit <= MAX_ACTIVATION_LIMIT:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"registration limit: must be 1..{MAX_ACTIVATION_LIMIT}, got {limit}")
        if not 1 <= seconds <= MAX_ACTIVATION_SECONDS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"expiry: must be at most 30 days ({MAX_ACTIVATION_SECONDS} s), got {seconds} s")
        aid = str(uuid.uuid4())
        code = base64.b32encode(secrets.token_bytes(20)).decode()  # 160 random bits, 32 of A-Z2-7
        created = now_ms()
        rec = ActivationRecord(aid, hash_activation_code(aid, code), convert.tags_from_pb(request.tags), limit, 0,
                               created, created + seconds * 1000, request.description)
        await self._db.run(self._db.store.create_activation, rec)
        log.info("operator %s created activation %s (limit %d, %d s)", who, aid, limit, seconds)
        return pb.CreateActivationResponse(activation=convert.activation_to_pb(rec), activation_code=code,
                                           ca_fingerprint=self._ca_fingerprint)

    async def ListActivations(self, request, context):  # noqa: N802
        await self._operator(context, "ListActivations")
        recs = await self._db.run(self._db.store.list_activations)
        return pb.ListActivationsResponse(activations=[convert.activation_to_pb(a) for a in recs])

    async def ListNodes(self, request, context):  # noqa: N802
        await self._operator(context, "ListNodes")
        nodes = await self._db.run(self._db.store.list_nodes)
        return pb.ListNodesResponse(nodes=[convert.node_to_pb(n) for n in nodes])

    async def ResolveTargets(self, request, context):  # noqa: N802
        await self._operator(context, "ResolveTargets")
        targets = convert.targets_from_pb(request.targets)
        nodes = await self._db.run(self._db.store.list_nodes)
        return pb.ResolveTargetsResponse(nodes=[convert.node_to_pb(n) for n in nodes
                                                if targets.matches(n.node_id, n.tags)])

    async def SendCommand(self, request, context):  # noqa: N802
        who = await self._operator(context, "SendCommand")
        req = CommandRequest(document=request.document, targets=convert.targets_from_pb(request.targets),
                             comment=request.comment, requested_by=who, document_name=request.document_name,
                             timeout_seconds=request.timeout_seconds)
        try:
            cmd, invocations = await self._dispatcher.send(req)
        except (CommandRejected, DocumentError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return pb.SendCommandResponse(command=convert.command_to_pb(cmd),
                                      invocations=[convert.invocation_to_pb(i) for i in invocations])

    async def ListCommands(self, request, context):  # noqa: N802
        await self._operator(context, "ListCommands")
        cmds = await self._db.run(self._db.store.list_commands, request.limit or 50)
        return pb.ListCommandsResponse(commands=[convert.command_to_pb(c) for c in cmds])

    async def _command(self, context, command_id: str):
        try:
            return await self._db.run(self._db.store.get_command, command_id)
        except NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"command {command_id!r} does not exist")

    async def GetCommand(self, request, context):  # noqa: N802
        await self._operator(context, "GetCommand")
        cmd = await self._command(context, request.command_id)
        invs = await self._db.run(self._db.store.list_invocations, cmd.command_id)
        document = await self._db.run(self._db.store.get_document, cmd.document_sha256)
        return pb.GetCommandResponse(command=convert.command_to_pb(cmd),
                                     invocations=[convert.invocation_to_pb(i) for i in invs], document=document)

    async def GetOutput(self, request, context):  # noqa: N802
        await self._operator(context, "GetOutput")
        try:
            await self._db.run(self._db.store.get_invocation, request.command_id, request.node_id)
        except NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"no invocation of command {request.command_id!r} on node {request.node_id!r}")
        outputs = await self._db.run(self._db.store.get_output, request.command_id, request.node_id,
                                     request.step_name or None)
        return pb.GetOutputResponse(steps=[convert.output_to_pb(o) for o in outputs])

    async def WatchCommand(self, request, context) -> AsyncIterator[pb.CommandEvent]:  # noqa: N802
        """The command as it stands (invocations, every stored output chunk), then its live events
        until it is terminal. A watcher that starts late misses nothing and sees nothing twice."""
        await self._operator(context, "WatchCommand")
        queue = self._events.subscribe(request.command_id)  # before the snapshot: no event falls between
        try:
            cmd = await self._command(context, request.command_id)
            for inv in await self._db.run(self._db.store.list_invocations, cmd.command_id):
                yield pb.CommandEvent(invocation=convert.invocation_to_pb(inv), node_id=inv.node_id)
            replayed: set[tuple[str, str, str, int]] = set()
            for node_id, chunk in await self._db.run(self._db.store.output_chunks, cmd.command_id):
                replayed.add((node_id, chunk.step_name, chunk.stream.value, chunk.seq))
                yield convert.event_to_pb(OutputArrived(node_id, chunk))
            yield pb.CommandEvent(command=convert.command_to_pb(cmd))
            terminal = cmd.status.terminal
            while not terminal:
                event = await queue.get()
                if event is None:  # the controller is stopping
                    return
                if isinstance(event, OutputArrived) and (
                        event.node_id, event.chunk.step_name, event.chunk.stream.value, event.chunk.seq) in replayed:
                    continue
                yield convert.event_to_pb(event)
                terminal = isinstance(event, CommandChanged) and event.command.status.terminal
        finally:
            self._events.unsubscribe(request.command_id, queue)
