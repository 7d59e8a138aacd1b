"""AdminService: what the operator CLI calls. Operator certificates only; the operator's name
comes from the verified certificate and is recorded with everything it does."""
from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import AsyncIterator, Callable, Sequence, Set
from dataclasses import replace
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from controller.dispatch.dispatcher import Dispatcher
from controller.dispatch.request import CommandRejected, CommandRequest
from controller.documents.catalog import DocumentCatalog, DocumentSummary, masked_document
from controller.events.bus import CommandChanged, CommandEvent, EventBus, OutputArrived
from controller.fleet.capacity import StreamCapacity
from controller.fleet.sessions import Hub
from controller.model import (
    CommandRecord,
    InvocationPage,
    InvocationRecord,
    ReplayPage,
    new_command_id,
)
from controller.server import convert, page_token
from controller.server.access_api import AccessApi, AccessSetup
from controller.server.access_gate import AccessDenied, source_ip
from controller.server.audit_api import AuditApi
from controller.server.baselines_api import BaselinesApi
from controller.server.call_audit import Caller, targets_text
from controller.server.content_api import ContentApi
from controller.server.document_api import DocumentApi
from controller.server.events_api import EventsApi
from controller.server.fleet_api import FleetApi
from controller.server.group_api import GroupApi
from controller.server.keys_api import KeysApi
from controller.server.output_api import OutputApi
from controller.server.parameters_api import ParametersApi
from controller.server.permissions import sent_document
from controller.server.releases_api import ReleasesApi
from controller.server.strings import nul_field
from controller.store import NotFound, Store
from controller.store.db import Db
from controller.trust.key_rotation import MasterKeyRotation
from controller.trust.signing_keys import SigningKeys
from controller.wire import targets_from_pb
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.errors import DocumentError, InputError
from plugins.sdk.limits import NUL_PROBLEM

log = logging.getLogger(__name__)
T = TypeVar("T")

# Nodes or invocations in one page at most (and by default): 1,000 nodes are about 260 KB and 25 ms of
# the loop to convert here. A page of invocations also ends at PAGE_BYTES (their output previews),
# well under gRPC's 4 MB default for a received message.
MAX_PAGE = 1000
PAGE_BYTES = 2 * 1024 * 1024
# Invocations a watcher that starts late is replayed per database job, with all of their stored
# output (up to 16 MB a step and stream each): memory bounded by the page, not by the command.
WATCH_PAGE = 200


def _replay_start(store: Store, command_id: str) -> tuple[CommandRecord, ReplayPage]:
    """The command and the first page of its replay (WatchCommand), in one database job."""
    return store.get_command(command_id), store.replay_page(command_id, "", WATCH_PAGE)


def _command_page(store: Store, command_id: str, after: str, limit: int
                  ) -> tuple[CommandRecord, InvocationPage, bytes]:
    """The command, a page of its invocations and its document (GetCommand), in one database job."""
    cmd = store.get_command(command_id)
    return cmd, store.invocation_page(command_id, after, limit), store.get_document(cmd.document_sha256)


class AdminService(AccessApi, AuditApi, BaselinesApi, ContentApi, EventsApi, FleetApi, KeysApi, ParametersApi,
                   ReleasesApi, pbg.AdminServiceServicer):
    def __init__(self, db: Db, dispatcher: Dispatcher, events: EventBus, ca_fingerprint: str,
                 documents: DocumentCatalog, capacity: StreamCapacity, access: AccessSetup, hub: Hub | None = None,
                 *, require_safe_parameters: bool = False, rotation: MasterKeyRotation | None = None,
                 signing_keys: SigningKeys | None = None) -> None:
        self._db = db
        self._rotation = rotation
        self._signing_keys = signing_keys
        self._capacity = capacity
        self._hub = hub or Hub()
        self._access = access
        self._gate = access.gate
        self._document_api = DocumentApi(db, self._check_document, documents.describe,
                                         require_safe_parameters=require_safe_parameters)
        self._group_api = GroupApi(db)
        self._output_api = OutputApi(db)
        self._dispatcher = dispatcher
        self._documents = documents
        self._events = events
        self._ca_fingerprint = ca_fingerprint

    def _check_document(self, content: bytes, fmt: str | None) -> DocumentSummary:
        """What `document create|update` stores: a document that passes what a send of it would
        pass (the catalogue renders it, the dispatcher checks the result, as for a send)."""
        summary = self._documents.validate(content, fmt)
        self._dispatcher.check_document(summary.rendered)
        return summary

    async def _operator(self, context: grpc.aio.ServicerContext, method: str, request: Message) -> str:
        """The operator calling ``method``, from the verified certificate, if its policies allow the
        call (server/access_gate.py); and its request's strings checked (server/strings.py), before the
        method reads any of them."""
        who = (await self._gate.admit(context, method, request)).operator
        if (field := nul_field(request)) is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {NUL_PROBLEM}")
        return who

    async def _page(self, context: grpc.aio.ServicerContext,
                    request: pb.ListNodesRequest | pb.GetCommandRequest | pb.ResolveTargetsRequest) -> tuple[str, int]:
        """(the key the page starts after, its size) from a request's next_token and max_results."""
        limit = request.max_results or MAX_PAGE
        if not 1 <= limit <= MAX_PAGE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"max_results: must be 1..{MAX_PAGE}, got {request.max_results}")
        try:
            return page_token.decode(request.next_token), limit
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"next_token: {exc}")
            raise AssertionError("abort raises") from None

    async def ListNodes(self, request, context):  # noqa: N802
        await self._operator(context, "ListNodes", request)
        after, limit = await self._page(context, request)
        nodes = await self._db.run(self._db.store.list_nodes, after, limit + 1)  # one more: is there a next page?
        page = nodes[:limit]
        return pb.ListNodesResponse(nodes=[convert.node_to_pb(n, self._hub.note(n.node_id)) for n in page],
                                    next_token=page_token.encode(page[-1].node_id) if len(nodes) > limit else "",
                                    stream_capacity=convert.capacity_to_pb(self._capacity.state()))

    async def ResolveTargets(self, request, context):  # noqa: N802
        await self._operator(context, "ResolveTargets", request)
        after, limit = await self._page(context, request)
        try:
            # sorted here, as bisect compares: the database's collation may order ids otherwise
            chosen = sorted(await self._dispatcher.resolve(targets_from_pb(request.targets)))
        except CommandRejected as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        rest = chosen[bisect.bisect_right(chosen, after):]
        nodes = await self._db.run(self._db.store.get_nodes, rest[:limit])
        return pb.ResolveTargetsResponse(nodes=[convert.node_to_pb(n) for n in nodes],
                                         next_token=page_token.encode(rest[limit - 1]) if len(rest) > limit else "")

    async def SendCommand(self, request, context):  # noqa: N802
        who = await self._operator(context, "SendCommand", request)
        cmd, invocations = await self._send(context, request, who)
        return pb.SendCommandResponse(command=convert.command_to_pb(cmd),
                                      invocations=[convert.invocation_to_pb(i) for i in invocations])

    async def RunCommand(self, request, context) -> AsyncIterator[pb.CommandEvent]:  # noqa: N802
        """SendCommand and WatchCommand in one call: the watcher is there before the command exists,
        so its first event is the command as sent and nothing needs replaying."""
        who = await self._operator(context, "RunCommand", request)
        command_id = new_command_id()
        queue = self._events.subscribe(command_id)
        try:
            await self._send(context, request, who, command_id)
            async for event in self._follow(queue):
                yield event
        finally:
            self._events.unsubscribe(command_id, queue)

    async def _send(self, context: grpc.aio.ServicerContext, request: pb.SendCommandRequest, who: str,
                    command_id: str | None = None) -> tuple[CommandRecord, list[InvocationRecord]]:
        """Check, store and dispatch a command; a bad request aborts the call naming what is wrong. The
        command goes on even when the caller goes away meanwhile: once stored, it is sent."""
        caller = Caller(who, source_ip(context.peer()))
        try:
            req = await self._command_request(context, request, who)

            document = sent_document(request)

            async def admit(node_ids: Sequence[str]) -> None:
                await self._gate.admit_nodes(caller, document, node_ids)
            audit = self._gate.audit.with_command(context)
            return await asyncio.shield(self._dispatcher.send(replace(req, admit=admit, audit=audit), command_id))
        except AccessDenied as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except (CommandRejected, DocumentError, InputError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        raise AssertionError("abort raises")

    async def _command_request(self, context: grpc.aio.ServicerContext, request: pb.SendCommandRequest,
                               who: str) -> CommandRequest:
        """An inline document (a playbook's play) as it is; a stored one rendered with its parameters."""
        targets = targets_from_pb(request.targets)
        self._gate.audit.annotate(context, targets=targets_text(targets))
        common = dict(targets=targets, comment=request.comment, requested_by=who,
                      timeout_seconds=request.timeout_seconds, max_concurrency=request.max_concurrency or "50",
                      max_errors=request.max_errors or "0", notification=convert.notification_from_pb(request))
        if len(request.comment) > 100:
            raise CommandRejected(f"comment: at most 100 characters, got {len(request.comment)}")
        if request.document:
            if request.parameters or request.document_version or request.document_hash:
                raise CommandRejected("an inline document takes no parameters, version or hash")
            document = await self._documents.expand(request.document)  # its aws:runDocument steps
            document = await self._documents.resolve(document)  # the agent release an update installs
            return CommandRequest(document=document, document_name=request.document_name, **common)
        if not request.document_name:
            raise CommandRejected("document: give a document name (or an inline document)")
        given = convert.parameters_from_pb(request.parameters)
        rendered = await self._documents.render(request.document_name, request.document_version,
                                                request.document_hash, given)
        self._gate.audit.annotate(context, parameters=self._gate.audit.parameters(given, rendered.secret_names))
        return CommandRequest(document=await self._documents.resolve(rendered.document), document_name=rendered.name,
                              document_version=rendered.version, parameters=rendered.shown_parameters, **common)

    async def ExpandDocument(self, request, context):  # noqa: N802
        """What SendCommand would run of an inline document: its aws:runDocument steps expanded, what
        only the controller knows filled in (controller/documents/resolve.py), and the whole checked as
        a send checks it. Nothing is stored or sent."""
        await self._operator(context, "ExpandDocument", request)
        try:
            expanded = await self._documents.resolve(await self._documents.expand(request.document))
            return pb.ExpandDocumentResponse(document=self._dispatcher.check_document(expanded))
        except (CommandRejected, DocumentError, InputError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        raise AssertionError("abort raises")

    async def CancelCommand(self, request, context):  # noqa: N802
        who = await self._operator(context, "CancelCommand", request)
        try:
            cmd = await self._dispatcher.cancel(request.command_id, tuple(request.node_ids))
        except NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"command {request.command_id!r} does not exist")
        except CommandRejected as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        log.info("operator %s cancelled command %s%s", who, request.command_id,
                 f" on {', '.join(request.node_ids)}" if request.node_ids else "")
        return pb.CancelCommandResponse(command=convert.command_to_pb(cmd))

    async def ListCommands(self, request, context):  # noqa: N802
        await self._operator(context, "ListCommands", request)
        if request.command_id:
            cmds = [await self._about_command(context, request.command_id, Store.get_command)]
        else:
            if request.limit > MAX_PAGE:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"limit: must be 1..{MAX_PAGE}, got {request.limit}")
            cmds = await self._db.run(self._db.store.list_commands, request.limit or 50)
        return pb.ListCommandsResponse(commands=[convert.command_to_pb(c) for c in cmds])

    async def _about_command(self, context: grpc.aio.ServicerContext, command_id: str,
                             job: Callable[..., T], *args: object) -> T:
        """``job(store, command_id, *args)`` as one database job; a command that does not exist is
        NOT_FOUND."""
        try:
            return await self._db.run(job, self._db.store, command_id, *args)
        except NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"command {command_id!r} does not exist")
            raise AssertionError("abort raises") from None

    async def GetCommand(self, request, context):  # noqa: N802
        await self._operator(context, "GetCommand", request)
        after, limit = await self._page(context, request)
        cmd, page, document = await self._about_command(context, request.command_id, _command_page, after,
                                                        limit + 1)
        invocations, size = [], 0
        for inv in page.invocations[:limit]:  # and at most PAGE_BYTES of them (output previews are up to 32 KB a step)
            msg = convert.invocation_to_pb(inv, page.views.get(inv.node_id, {}))
            size += msg.ByteSize()
            if invocations and size > PAGE_BYTES:
                break
            invocations.append(msg)
        more = len(invocations) < len(page.invocations)
        return pb.GetCommandResponse(command=convert.command_to_pb(cmd), invocations=invocations,
                                     document=masked_document(document),
                                     next_token=page_token.encode(invocations[-1].node_id) if more else "")

    async def GetOutput(self, request, context):  # noqa: N802
        await self._operator(context, "GetOutput", request)
        return await self._output_api.GetOutput(request, context)

    async def StreamOutput(self, request, context) -> AsyncIterator[pb.OutputPiece]:  # noqa: N802
        await self._operator(context, "StreamOutput", request)
        async for piece in self._output_api.StreamOutput(request, context):
            yield piece

    async def WatchCommand(self, request, context) -> AsyncIterator[pb.CommandEvent]:  # noqa: N802
        """The command as it stands (invocations, every stored output chunk), then its live events
        until it is terminal. A watcher that starts late misses nothing and sees nothing twice."""
        await self._operator(context, "WatchCommand", request)
        queue = self._events.subscribe(request.command_id)  # before the replay: no event falls between
        try:
            cmd, page = await self._about_command(context, request.command_id, _replay_start)
            replayed: set[tuple[str, str, str, int]] = set()
            whole: set[tuple[str, str, str]] = set()  # settled steps' output, replayed in one piece
            while True:  # a page of invocations and their output at a time: a big command's output is big
                for inv in page.invocations:
                    yield pb.CommandEvent(invocation=convert.invocation_to_pb(inv), node_id=inv.node_id)
                for node_id, chunk in page.output:
                    if chunk.seq < 0:
                        whole.add((node_id, chunk.step_name, chunk.stream.value))
                        chunk = replace(chunk, seq=0)
                    else:
                        replayed.add((node_id, chunk.step_name, chunk.stream.value, chunk.seq))
                    yield convert.event_to_pb(OutputArrived(node_id, chunk))
                if len(page.invocations) < WATCH_PAGE:
                    break
                page = await self._db.run(self._db.store.replay_page, cmd.command_id,
                                          page.invocations[-1].node_id, WATCH_PAGE)
            yield pb.CommandEvent(command=convert.command_to_pb(cmd))  # as it was before the replay:
            if not cmd.detail.terminal:  # any change since is in the queue
                async for event in self._follow(queue, replayed, whole):
                    yield event
        finally:
            self._events.unsubscribe(request.command_id, queue)

    async def _follow(self, queue: asyncio.Queue[CommandEvent | None],
                      replayed: Set[tuple[str, str, str, int]] = frozenset(),
                      whole: Set[tuple[str, str, str]] = frozenset()) -> AsyncIterator[pb.CommandEvent]:
        """A command's live events until it is terminal (or the controller stops), without the output
        a replay sent already: chunks by (node, step, stream, seq) in ``replayed``, and every chunk of
        the streams in ``whole``. The end says whether this watcher lost none (``complete``)."""
        while (event := await queue.get()) is not None:
            if isinstance(event, OutputArrived):
                key = (event.node_id, event.chunk.step_name, event.chunk.stream.value)
                if key in whole or (*key, event.chunk.seq) in replayed:
                    continue
            if isinstance(event, CommandChanged) and event.command.detail.terminal:
                end = convert.event_to_pb(event)
                end.complete = self._events.lost(queue) == 0
                yield end
                return
            yield convert.event_to_pb(event)

    # ---- documents and groups: the operator check here, the work in document_api / group_api

    async def PutDocument(self, request, context):  # noqa: N802
        who = await self._operator(context, "PutDocument", request)
        return await self._document_api.PutDocument(request, context, who)

    async def ListDocuments(self, request, context):  # noqa: N802
        who = await self._operator(context, "ListDocuments", request)
        return await self._document_api.ListDocuments(request, context, who)

    async def GetDocument(self, request, context):  # noqa: N802
        who = await self._operator(context, "GetDocument", request)
        return await self._document_api.GetDocument(request, context, who)

    async def DeleteDocument(self, request, context):  # noqa: N802
        who = await self._operator(context, "DeleteDocument", request)
        return await self._document_api.DeleteDocument(request, context, who)

    async def ListDocumentVersions(self, request, context):  # noqa: N802
        who = await self._operator(context, "ListDocumentVersions", request)
        return await self._document_api.ListDocumentVersions(request, context, who)

    async def SetDefaultVersion(self, request, context):  # noqa: N802
        who = await self._operator(context, "SetDefaultVersion", request)
        return await self._document_api.SetDefaultVersion(request, context, who)

    async def PutGroup(self, request, context):  # noqa: N802
        who = await self._operator(context, "PutGroup", request)
        return await self._group_api.PutGroup(request, context, who)

    async def ListGroups(self, request, context):  # noqa: N802
        who = await self._operator(context, "ListGroups", request)
        return await self._group_api.ListGroups(request, context, who)

    async def GetGroup(self, request, context):  # noqa: N802
        who = await self._operator(context, "GetGroup", request)
        return await self._group_api.GetGroup(request, context, who)

    async def DeleteGroup(self, request, context):  # noqa: N802
        who = await self._operator(context, "DeleteGroup", request)
        return await self._group_api.DeleteGroup(request, context, who)

    async def TagNode(self, request, context):  # noqa: N802
        who = await self._operator(context, "TagNode", request)
        return await self._group_api.TagNode(request, context, who)
