"""AdminService's content store: ``outpost content put | list | delete``, the files copy steps send
to nodes (``copy: {src: NAME, dest: ...}``). The controller puts a file's sha256 into each copy step
that names it when the command is sent (controller/documents/resolve.py), and the agent fetches it by
that sha256 over its own stream (controller/server/content.py); stored sealed, a chunk a row."""
from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from controller.store.content_files import ContentRecord
from controller.store.db import Db
from controller.store.errors import NotFound
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)

MAX_CONTENT_BYTES = 64 * 1024 * 1024
CONTENT_NAME = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,255}$")
NAME_RULE = "1 to 256 letters, digits and . _ / -, starting with a letter or digit, without '..'"


def content_to_pb(r: ContentRecord) -> pb.ContentFile:
    return pb.ContentFile(name=r.name, sha256=r.sha256, size=r.size, stored_at_ms=r.stored_at_ms,
                          stored_by=r.stored_by)


class ContentApi:
    """Mixed into AdminService, which has these:"""
    _db: Db
    _operator: Callable[[grpc.aio.ServicerContext, str, Message], Awaitable[str]]  # admits the call

    async def PutContent(self, request_iterator, context):  # noqa: N802
        first = await anext(aiter(request_iterator), None)
        if first is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "content put: no file was sent")
        who = await self._operator(context, "PutContent", first)
        if not CONTENT_NAME.match(first.name):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"name: {NAME_RULE}, got {first.name[:300]!r}")
        parts, size = [first.data], len(first.data)
        async for part in request_iterator:
            size += len(part.data)
            if size > MAX_CONTENT_BYTES:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"{first.name}: more than {MAX_CONTENT_BYTES} bytes; not stored")
            parts.append(part.data)
        rec = await self._db.run(self._db.store.put_content, first.name, b"".join(parts), now_ms(), who)
        log.info("operator %s stored content %s (%d bytes, sha256 %s)", who, rec.name, rec.size, rec.sha256)
        return pb.PutContentResponse(file=content_to_pb(rec))

    async def ListContent(self, request, context):  # noqa: N802
        await self._operator(context, "ListContent", request)
        return pb.ListContentResponse(files=[content_to_pb(r) for r in await self._db.run(self._db.store.list_content)])

    async def DeleteContent(self, request, context):  # noqa: N802
        who = await self._operator(context, "DeleteContent", request)
        try:
            await self._db.run(self._db.store.delete_content, request.name)
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        log.info("operator %s deleted content %s", who, request.name)
        return pb.DeleteContentResponse()
