"""AdminService's agent releases: ``outpost agent-release publish | list | delete``. A release is an
Outpost wheel; its version is the wheel's own (file name and METADATA must agree), its sha256 goes
into each Outpost-UpdateAgent command (controller/documents/resolve.py) and its bytes to the agents
that fetch it over their streams (controller/server/content.py). Published signed by the
document-signing key, over its version and sha256."""
from __future__ import annotations

import hashlib
import io
import logging
import re
import zipfile
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.message import Message

from controller.store.db import Db
from controller.store.errors import NotFound, StoreError
from controller.store.releases import ReleaseRecord
from controller.trust.signing_keys import SigningKeys
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)

MAX_RELEASE_BYTES = 64 * 1024 * 1024
# PEP 427: {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl
_WHEEL = re.compile(r"^outpost-(?P<version>[0-9A-Za-z.+_]{1,64})(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


class ReleaseRefused(ValueError):
    """A file that is not an Outpost wheel of the version its name says."""


def release_of(filename: str, data: bytes) -> tuple[str, str]:
    """(version, sha256 hex) of an Outpost wheel; ReleaseRefused naming what is wrong."""
    m = _WHEEL.match(filename)
    if m is None:
        raise ReleaseRefused(f"{filename!r}: not an Outpost wheel's name (outpost-VERSION-PY-ABI-PLATFORM.whl)")
    version = m.group("version")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            metadata = [n for n in zf.namelist() if re.fullmatch(r"outpost-[^/]+\.dist-info/METADATA", n)]
            if len(metadata) != 1:
                raise ReleaseRefused(f"{filename}: no outpost-*.dist-info/METADATA in it: not an Outpost wheel")
            said = re.search(rb"^Version: *(\S+)", zf.read(metadata[0]), re.M)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReleaseRefused(f"{filename}: not a wheel (zip): {exc}") from None
    if said is None or said.group(1).decode(errors="replace") != version:
        found = said.group(1).decode(errors="replace") if said else "none"
        raise ReleaseRefused(f"{filename}: its METADATA says version {found}, its name {version}")
    return version, hashlib.sha256(data).hexdigest()


def release_to_pb(r: ReleaseRecord) -> pb.AgentRelease:
    return pb.AgentRelease(version=r.version, filename=r.filename, sha256=r.sha256, size=r.size,
                           published_at_ms=r.published_at_ms, published_by=r.published_by,
                           signing_key_id=r.signing_key_id, signature=r.signature)


class ReleasesApi:
    """Mixed into AdminService, which has these:"""
    _db: Db
    _signing_keys: SigningKeys | None
    _operator: Callable[[grpc.aio.ServicerContext, str, Message], Awaitable[str]]  # admits the call

    async def PublishAgentRelease(self, request_iterator, context):  # noqa: N802
        first = await anext(aiter(request_iterator), None)
        if first is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "publish: no wheel was sent")
        who = await self._operator(context, "PublishAgentRelease", first)
        if self._signing_keys is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this controller holds no signing key")
        parts, size = [first.data], len(first.data)
        async for part in request_iterator:
            size += len(part.data)
            if size > MAX_RELEASE_BYTES:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"{first.filename}: more than {MAX_RELEASE_BYTES} bytes; not published")
            parts.append(part.data)
        data = b"".join(parts)
        try:
            version, sha256 = release_of(first.filename, data)
        except ReleaseRefused as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        keys = self._signing_keys
        rec = ReleaseRecord(version, first.filename, sha256, len(data), now_ms(), who, keys.key_id,
                            keys.sign_release(version, sha256))
        try:
            await self._db.run(self._db.store.put_release, rec, data)
        except StoreError as exc:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))
        log.info("operator %s published agent release %s (%d bytes, sha256 %s)", who, version, len(data), sha256)
        return pb.PublishAgentReleaseResponse(release=release_to_pb(rec))

    async def ListAgentReleases(self, request, context):  # noqa: N802
        await self._operator(context, "ListAgentReleases", request)
        releases = await self._db.run(self._db.store.list_releases)
        return pb.ListAgentReleasesResponse(releases=[release_to_pb(r) for r in releases])

    async def DeleteAgentRelease(self, request, context):  # noqa: N802
        who = await self._operator(context, "DeleteAgentRelease", request)
        try:
            await self._db.run(self._db.store.delete_release, request.version)
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        log.info("operator %s deleted agent release %s", who, request.version)
        return pb.DeleteAgentReleaseResponse()
