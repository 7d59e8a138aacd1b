"""AdminService's output calls: one node's output as views (GetOutput) or whole, in pieces
(StreamOutput). AdminService checks the operator's certificate and then hands the call here.

A command, node or step that does not exist is NOT_FOUND with one line naming it and what there is
instead: an operator who mistyped a step name would otherwise read an empty output as "the step
printed nothing"."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc

from controller.model import CommandRecord, InvocationRecord
from controller.server import convert
from controller.server.document_api import abort
from controller.store import NotFound, Store, StoreError
from controller.store.db import Db
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import OutpostError
from plugins.sdk.wire.document import document_from_bytes

log = logging.getLogger(__name__)

NODES_NAMED = 10  # in an error about a node the command does not have: a fan-out may have thousands


def _steps_of(store: Store, cmd: CommandRecord, inv: InvocationRecord) -> list[str]:
    """The command's step names: its document's in order, then any the node reported besides."""
    try:
        names = [s.name for s in document_from_bytes(store.get_document(cmd.document_sha256)).steps]
    except (NotFound, OutpostError) as exc:  # it was checked before it was stored; the reports still name them
        log.warning("command %s: its document does not name its steps: %s", cmd.command_id, exc)
        names = []
    return names + [r.report.step_name for r in inv.steps if r.report.step_name not in names]


def missing(store: Store, command_id: str, node_id: str, step_name: str) -> str | None:
    """What of the command, its invocation on the node and the step (when named) does not exist, with
    what does, in one line; None when all of them do. One database job."""
    try:
        cmd = store.get_command(command_id)
    except NotFound:
        return f"command {command_id!r} does not exist"
    try:
        inv = store.get_invocation(command_id, node_id)
    except NotFound:
        ids, total = store.invocation_nodes(command_id, NODES_NAMED)
        more = f" and {total - len(ids)} more" if total > len(ids) else ""
        there = f"its nodes are {', '.join(ids)}{more}" if ids else "it has no invocations"
        return f"command {command_id} has no invocation on node {node_id!r}; {there}"
    if step_name:
        steps = _steps_of(store, cmd, inv)
        if step_name not in steps:
            return f"command {command_id} has no step {step_name!r}; its steps are {', '.join(steps)}"
    return None


class OutputApi:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def _check(self, context: grpc.aio.ServicerContext,
                     request: pb.GetOutputRequest | pb.StreamOutputRequest) -> None:
        problem = await self._db.run(missing, self._db.store, request.command_id, request.node_id,
                                     request.step_name)
        if problem is not None:
            await abort(context, grpc.StatusCode.NOT_FOUND, problem)

    async def GetOutput(self, request: pb.GetOutputRequest, context: grpc.aio.ServicerContext  # noqa: N802
                        ) -> pb.GetOutputResponse:
        await self._check(context, request)
        store = self._db.store
        if request.full:  # one message: a caller whose output may pass gRPC's 4 MB uses StreamOutput
            outputs = await self._db.run(store.get_output, request.command_id, request.node_id,
                                         request.step_name or None)
            return pb.GetOutputResponse(steps=[convert.output_to_pb(o) for o in outputs])
        views = await self._db.run(store.output_views, request.command_id, request.node_id)
        return pb.GetOutputResponse(steps=[
            pb.StepOutput(step_name=v.step_name, stdout=v.stdout.encode(), stderr=v.stderr.encode(),
                          stdout_truncated=v.stdout_truncated, stderr_truncated=v.stderr_truncated)
            for v in views.values() if not request.step_name or v.step_name == request.step_name])

    async def StreamOutput(self, request: pb.StreamOutputRequest,  # noqa: N802
                           context: grpc.aio.ServicerContext) -> AsyncIterator[pb.OutputPiece]:
        """Each piece read by a database job of its own and sent before the next is read: gRPC's flow
        control holds this loop while a slow reader catches up, so a piece or two is all it keeps."""
        await self._check(context, request)
        pieces = self._db.store.output_pieces(request.command_id, request.node_id, request.step_name or None)
        try:
            while (piece := await self._db.run(next, pieces, None)) is not None:
                yield convert.piece_to_pb(piece)
        except StoreError as exc:
            log.warning("reading the output of command %s on node %s: %s", request.command_id, request.node_id,
                        exc)
            await abort(context, grpc.StatusCode.INTERNAL, f"reading the output: {exc}")
