"""What agents fetch over their own streams (plugins/sdk/wire/messages.py FetchContent), a chunk a
message: a slice of an agent release (any node may fetch any release: releases are not secret; what
it may do with one is decided by the signed command that names its sha256), or a chunk of a content
store file, asked for by its sha256 only, which a node learns from a signed command sent to it."""
from __future__ import annotations

from controller.store.db import Db
from controller.store.errors import NotFound
from plugins.sdk.wire.messages import CONTENT_CHUNK_BYTES, ContentChunk, FetchContent


class ContentServer:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def answer(self, fetch: FetchContent) -> ContentChunk:
        if fetch.kind == "file":
            return await self._file(fetch)
        if fetch.kind != "agent-release":
            return ContentChunk(fetch.request_id, b"", 0, True, f"unknown content kind {fetch.kind[:64]!r}",
                                fetch.offset)
        try:
            size, data = await self._db.run(self._db.store.release_slice, fetch.name, fetch.offset,
                                            CONTENT_CHUNK_BYTES)
        except NotFound as exc:
            return ContentChunk(fetch.request_id, b"", 0, True, str(exc), fetch.offset)
        if fetch.offset > size:
            return ContentChunk(fetch.request_id, b"", size, True, f"offset {fetch.offset} is past the end ({size})",
                                fetch.offset)
        return ContentChunk(fetch.request_id, data, size, fetch.offset + len(data) >= size, "", fetch.offset)

    async def _file(self, fetch: FetchContent) -> ContentChunk:
        """A chunk of a content store file, asked for by its sha256 (the name a copy step's signed
        document gives the agent)."""
        def refused(why: str) -> ContentChunk:
            return ContentChunk(fetch.request_id, b"", 0, True, why, fetch.offset)
        if fetch.offset % CONTENT_CHUNK_BYTES:
            return refused(f"offset {fetch.offset} is not a multiple of {CONTENT_CHUNK_BYTES}")
        try:
            rec, data = await self._db.run(self._db.store.content_chunk, fetch.name.lower(),
                                           fetch.offset // CONTENT_CHUNK_BYTES)
        except NotFound as exc:
            return refused(str(exc))
        return ContentChunk(fetch.request_id, data, rec.size, fetch.offset + len(data) >= rec.size, "", fetch.offset)
