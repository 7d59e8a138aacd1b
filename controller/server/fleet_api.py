"""AdminService's calls on who is in the fleet: activations (SSM's hybrid activations: a code and a
registration limit that enrol nodes) made, listed and deleted, and a node deregistered (SSM's
DeregisterManagedInstance): its certificates revoked and denied from that moment (its stream closed
at once, reconnects refused), its invocations that had not ended ended, the node removed."""
from __future__ import annotations

import base64
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from controller.dispatch.dispatcher import Dispatcher
from controller.fleet.sessions import Hub
from controller.model import ActivationRecord
from controller.server import convert
from controller.server.access_gate import AccessGate
from controller.server.enrolment_service import hash_activation_code
from controller.server.group_api import tags_problem
from controller.store import NotFound
from controller.store.db import Db
from controller.wire import tags_from_pb
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)

DEFAULT_ACTIVATION_LIMIT = 1
MAX_ACTIVATION_LIMIT = 1000
DEFAULT_ACTIVATION_SECONDS = 24 * 3600
MAX_ACTIVATION_SECONDS = 30 * 24 * 3600
MAX_ACTIVATION_DESCRIPTION = 256  # SSM's
MAX_ID_CHARS = 64


class FleetApi:
    """Mixed into AdminService, which has these:"""
    _db: Db
    _gate: AccessGate
    _hub: Hub
    _dispatcher: Dispatcher
    _ca_fingerprint: str
    _operator: Callable[[grpc.aio.ServicerContext, str, Message], Awaitable[str]]  # admits the call

    async def CreateActivation(self, request, context):  # noqa: N802
        who = await self._operator(context, "CreateActivation", request)
        limit = request.registration_limit or DEFAULT_ACTIVATION_LIMIT
        seconds = request.expires_seconds or DEFAULT_ACTIVATION_SECONDS
        if not 1 <= limit <= MAX_ACTIVATION_LIMIT:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"registration limit: must be 1..{MAX_ACTIVATION_LIMIT}, got {limit}")
        if not 1 <= seconds <= MAX_ACTIVATION_SECONDS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"expiry: must be at most 30 days ({MAX_ACTIVATION_SECONDS} s), got {seconds} s")
        if len(request.description) > MAX_ACTIVATION_DESCRIPTION:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"description: at most "
                                f"{MAX_ACTIVATION_DESCRIPTION} characters, got {len(request.description)}")
        if request.tags and (problem := tags_problem(list(request.tags), [])):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"tags: {problem}")
        aid = str(uuid.uuid4())
        code = base64.b32encode(secrets.token_bytes(20)).decode()  # 160 random bits, 32 of A-Z2-7
        created = now_ms()
        rec = ActivationRecord(aid, hash_activation_code(aid, code), tags_from_pb(request.tags), limit, 0,
                               created, created + seconds * 1000, request.description)
        await self._db.run(self._db.store.create_activation, rec)
        log.info("operator %s created activation %s (limit %d, %d s)", who, aid, limit, seconds)
        return pb.CreateActivationResponse(activation=convert.activation_to_pb(rec), activation_code=code,
                                           ca_fingerprint=self._ca_fingerprint)

    async def ListActivations(self, request, context):  # noqa: N802
        await self._operator(context, "ListActivations", request)
        recs = await self._db.run(self._db.store.list_activations)
        return pb.ListActivationsResponse(activations=[convert.activation_to_pb(a) for a in recs])

    async def _id(self, context: grpc.aio.ServicerContext, what: str, value: str) -> str:
        if not value or len(value) > MAX_ID_CHARS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"{what}: required, at most {MAX_ID_CHARS} characters (got {len(value)})")
        return value

    async def DeleteActivation(self, request, context):  # noqa: N802
        who = await self._operator(context, "DeleteActivation", request)
        aid = await self._id(context, "activation id", request.activation_id)
        try:
            rec = await self._db.run(self._db.store.delete_activation, aid)
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        log.info("operator %s deleted activation %s (%d registration(s) made)", who, aid, rec.registrations_count)
        return pb.DeleteActivationResponse(activation=convert.activation_to_pb(rec))

    async def DeregisterNode(self, request, context):  # noqa: N802
        who = await self._operator(context, "DeregisterNode", request)
        node_id = await self._id(context, "node id", request.node_id)
        try:
            serials = await self._db.run(self._db.store.deregister_node, node_id, now_ms())
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        self._gate.nodes_revoked(serials)  # before the stream closes: its reconnect is refused
        session = self._hub.get(node_id)
        if session is not None:
            session.close()
        ended = await self._dispatcher.deadlines.end_deregistered(node_id)
        log.info("operator %s deregistered node %s: certificate(s) %s revoked, %d invocation(s) ended", who,
                 node_id, ", ".join(serials) or "-", ended)
        return pb.DeregisterNodeResponse(node_id=node_id, serials=serials, ended_invocations=ended)
