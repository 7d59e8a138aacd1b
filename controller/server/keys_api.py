"""AdminService's call on the controller's own keys: the master key that seals documents and output
at rest rotated while the controller runs (controller/trust/key_rotation.py)."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from controller.trust.key_rotation import MasterKeyRotation, RotationUnderWay
from outpost.v1 import outpost_pb2 as pb

log = logging.getLogger(__name__)


class KeysApi:
    """Mixed into AdminService, which has these:"""
    _rotation: MasterKeyRotation | None
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
