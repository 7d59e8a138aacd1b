"""AdminService's calls on the controller's own keys, rotated while it runs: the master key that seals
documents and output at rest (controller/trust/key_rotation.py), and the document-signing key agents
pin (controller/trust/signing_keys.py), whose rotation every connected agent is told of at once."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from controller.fleet.sessions import Hub
from controller.server.key_notices import bring_up_to_date
from controller.trust.key_rotation import MasterKeyRotation, RotationUnderWay
from controller.trust.signing_keys import SigningKeys
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import OutpostError
from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)


class KeysApi:
    """Mixed into AdminService, which has these:"""
    _rotation: MasterKeyRotation | None
    _signing_keys: SigningKeys | None
    _hub: Hub
    _operator: Callable[[grpc.aio.ServicerContext, str, Message], Awaitable[str]]  # admits the call

    async def RotateMasterKey(self, request, context):  # noqa: N802
        who = await self._operator(context, "RotateMasterKey", request)
        if self._rotation is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this controller holds no master keyring")
        try:
            result = await self._rotation.rotate()
        except RotationUnderWay as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        log.info("operator %s rotated the master key: %s current, %d data key(s) re-wrapped", who, result.key_id,
                 result.rewrapped)
        return pb.RotateMasterKeyResponse(key_id=result.key_id, retired=list(result.retired),
                                          rewrapped=result.rewrapped)

    async def RotateSigningKey(self, request, context):  # noqa: N802
        who = await self._operator(context, "RotateSigningKey", request)
        if self._signing_keys is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this controller's signing key cannot rotate")
        keys = self._signing_keys
        previous = keys.key_id
        try:
            keys.rotate(now_ms())
        except (OSError, OutpostError) as exc:  # nothing changed: the old key stands
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"the signing key did not rotate: {exc}")
        told = 0  # in the same turn of the event loop as the swap: before any command the new key signs
        for node_id in self._hub.online():
            session = self._hub.get(node_id)
            if session is not None and bring_up_to_date(session, keys):
                told += 1
        log.info("operator %s rotated the document-signing key: %s replaces %s; %d connected agent(s) told", who,
                 keys.key_id, previous, told)
        return pb.RotateSigningKeyResponse(key_id=keys.key_id, previous=previous, agents_told=told)
