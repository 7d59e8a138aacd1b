"""Content a step fetches from the controller over the agent's own stream (RunContext.content): an
agent release for self-update. No other connection, no port: the stream the agent already holds.

One chunk at a time (plugins/sdk/wire/messages.py): ask for the next from an offset, write it, ask
again. An answer that does not come in ``chunk_timeout`` seconds (the stream dropped, the
controller restarted) is asked for again, a bounded number of times; an answer for another offset (a
late one for a chunk asked for again) is dropped. The whole is checked against the sha256 the
signed document names before anyone uses it; a mismatch, a refusal or an oversize removes the file.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
from collections.abc import Callable

from plugins.sdk.errors import PluginError
from plugins.sdk.wire.messages import AgentMessage, ContentChunk, FetchContent

log = logging.getLogger(__name__)

CHUNK_TIMEOUT_SECONDS = 30.0
MAX_ASKS = 10  # times one chunk is asked for before the fetch fails


class ContentFetcher:
    def __init__(self, send: Callable[[AgentMessage], None], chunk_timeout: float = CHUNK_TIMEOUT_SECONDS) -> None:
        """``send``: puts a message on the stream (the outbox's transient queue)."""
        self._send = send
        self._timeout = chunk_timeout
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Queue[ContentChunk]] = {}

    def on_chunk(self, chunk: ContentChunk) -> None:
        queue = self._waiting.get(chunk.request_id)
        if queue is not None:
            queue.put_nowait(chunk)

    async def fetch(self, kind: str, name: str, sha256: str, dest: str, max_bytes: int) -> int:
        request_id = next(self._ids)
        queue: asyncio.Queue[ContentChunk] = asyncio.Queue()
        self._waiting[request_id] = queue
        digest, offset, done = hashlib.sha256(), 0, False
        what = f"{kind} {name}"
        try:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                while not done:
                    chunk = await self._next(request_id, queue, kind, name, offset, what)
                    if chunk.error:
                        raise PluginError(f"fetching {what}: {chunk.error}")
                    if chunk.size > max_bytes or offset + len(chunk.data) > max_bytes:
                        raise PluginError(f"fetching {what}: {chunk.size} bytes; at most {max_bytes} are taken")
                    await asyncio.to_thread(out.write, chunk.data)
                    digest.update(chunk.data)
                    offset += len(chunk.data)
                    done = chunk.last
                await asyncio.to_thread(os.fsync, out.fileno())
            if digest.hexdigest() != sha256.lower():
                raise PluginError(f"fetching {what}: its sha256 is {digest.hexdigest()}, not the {sha256} "
                                  "its signed document names; not used")
            log.info("fetched %s: %d bytes", what, offset)
            return offset
        except BaseException:
            try:
                os.unlink(dest)
            except OSError:
                pass
            raise
        finally:
            self._waiting.pop(request_id, None)

    async def _next(self, request_id: int, queue: asyncio.Queue[ContentChunk], kind: str, name: str,
                    offset: int, what: str) -> ContentChunk:
        """The chunk at ``offset``, asked for again when no answer comes in time."""
        for _ask in range(MAX_ASKS):
            self._send(FetchContent(request_id, kind, name, offset))
            deadline = asyncio.get_running_loop().time() + self._timeout
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                try:
                    chunk = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
                if chunk.error or chunk.offset == offset:
                    return chunk
        raise PluginError(f"fetching {what}: no answer from the controller for the bytes from {offset} "
                          f"after {MAX_ASKS} asks of {self._timeout:g} s")
