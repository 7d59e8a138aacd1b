"""AdminService's parameter store: ``outpost parameter put | get | list | delete``, the values
``{{ssm:NAME}}`` and ``{{ssm-secure:NAME}}`` references are filled from when a command is sent
(controller/documents/ssmref.py). Every value is sealed at rest (controller/store/parameters.py); a
SecureString's is answered only to a get that asks ``with_decryption``, never listed, and no value
is ever logged or put in the audit trail (which records the call and the parameter's name)."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from controller.store.db import Db
from controller.store.errors import Conflict, NotFound
from controller.store.parameters import SECURE, ParameterRecord, name_problem, value_problem
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)


def parameter_to_pb(r: ParameterRecord, *, with_decryption: bool = False) -> pb.Parameter:
    shown = r.value is not None and (not r.secure or with_decryption)
    return pb.Parameter(name=r.name, type=r.type, value=r.value if shown else "", version=r.version,
                        description=r.description, last_modified_at_ms=r.modified_at_ms,
                        last_modified_by=r.modified_by)


class ParametersApi:
    """Mixed into AdminService, which has these:"""
    _db: Db
    _operator: Callable[[grpc.aio.ServicerContext, str, Message], Awaitable[str]]  # admits the call

    async def _name(self, context: grpc.aio.ServicerContext, name: str) -> None:
        if problem := name_problem(name):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"name: {problem}")

    async def PutParameter(self, request, context):  # noqa: N802
        who = await self._operator(context, "PutParameter", request)
        await self._name(context, request.name)
        type_ = request.type or "String"
        if problem := value_problem(type_, request.value, request.description):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{request.name}: {problem}")
        try:
            rec = await self._db.run(self._db.store.put_parameter, request.name, type_, request.value,
                                     request.description, overwrite=request.overwrite, at_ms=now_ms(), by=who)
        except Conflict as exc:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))
        log.info("operator %s put parameter %s (%s, version %d)", who, rec.name, rec.type, rec.version)
        return pb.PutParameterResponse(version=rec.version)

    async def GetParameter(self, request, context):  # noqa: N802
        who = await self._operator(context, "GetParameter", request)
        try:
            rec = await self._db.run(self._db.store.get_parameter, request.name)
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        if rec.type == SECURE and request.with_decryption:
            log.info("operator %s read SecureString parameter %s decrypted", who, rec.name)
        return pb.GetParameterResponse(parameter=parameter_to_pb(rec, with_decryption=request.with_decryption))

    async def ListParameters(self, request, context):  # noqa: N802
        await self._operator(context, "ListParameters", request)
        if request.path and (not request.path.startswith("/") or name_problem(request.path.rstrip("/") or "/x")):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"path: a hierarchy such as /app/db (beginning with /), got {request.path[:80]!r}")
        records = await self._db.run(self._db.store.list_parameters, request.path)
        return pb.ListParametersResponse(parameters=[parameter_to_pb(r) for r in records])

    async def DeleteParameter(self, request, context):  # noqa: N802
        who = await self._operator(context, "DeleteParameter", request)
        try:
            await self._db.run(self._db.store.delete_parameter, request.name)
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        log.info("operator %s deleted parameter %s", who, request.name)
        return pb.DeleteParameterResponse()
