"""Delivery: signed envelopes onto the agents' streams.

A fan-out's envelopes are signed a chunk at a time (one signature per chunk over the root of its
envelopes' Merkle tree, plugins/sdk/wire/batch.py), and each chunk is put on its sessions' queues
before the next is signed, with the event loop let go in between: the writers send the first
agents their command while the rest are still being signed. Measured at 10,000 nodes when each
envelope had a signature of its own, signing them all before sending any held every stream back
for 0.7-0.9 s. (Signing on a worker thread, which
Ed25519 allows, measured slower here: the thread and the loop fought over the GIL.)

A cancel waits for its command's deliveries to end (``until_sent``), so on every stream the Cancel
follows the Command it cancels.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from controller.fleet.sessions import Hub
from controller.model import CommandRecord
from controller.trust.signing import CommandSigner
from plugins.sdk.host.clock import Clock, now_ms
from plugins.sdk.wire.envelope import SignedCommand

log = logging.getLogger(__name__)

CHUNK = 256  # envelopes signed between two turns of the event loop


class Delivery:
    def __init__(self, signer: CommandSigner, hub: Hub, chunk: int = CHUNK, clock: Clock = now_ms) -> None:
        self._clock = clock
        self._signer = signer
        self._hub = hub
        self._chunk = chunk
        self._busy: dict[str, set[asyncio.Future[None]]] = {}  # command id -> deliveries under way

    def _sign(self, cmd: CommandRecord, document: bytes, node_ids: Sequence[str]) -> list[tuple[str, SignedCommand]]:
        now = self._clock()
        if cmd.expires_at_ms <= now:
            # Past the delivery deadline: a concurrency slot freed late, a restart's resume, a chunk
            # signed late. The envelope would expire before it left (the agent refuses those), so none is
            # made; the deadline sweep ends these invocations DeliveryTimedOut.
            log.info("command %s: its delivery deadline has passed; %d invocation(s) not sent", cmd.command_id,
                     len(node_ids))
            return []
        signed = self._signer.sign_commands(cmd.command_id, node_ids, document, now, cmd.expires_at_ms)
        return [(node_id, signed.command(i)) for i, node_id in enumerate(node_ids)]

    def _queue(self, signed: list[tuple[str, SignedCommand]]) -> None:
        for node_id, msg in signed:
            session = self._hub.get(node_id)
            if session is not None:  # gone meanwhile: the command waits for its next Hello
                session.send(msg)

    async def send(self, cmd: CommandRecord, document: bytes, node_ids: Sequence[str]) -> None:
        """Sign ``cmd`` for each node (the dispatcher's, each with a stream when it chose them) and
        queue it on the node's stream, in order."""
        if not node_ids:  # every target offline: theirs go when they connect
            return
        if len(node_ids) <= self._chunk:
            self._queue(self._sign(cmd, document, node_ids))
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._busy.setdefault(cmd.command_id, set()).add(done)
        try:
            for i in range(0, len(node_ids), self._chunk):
                if i:
                    await asyncio.sleep(0)  # the writers send the chunk before
                self._queue(self._sign(cmd, document, node_ids[i:i + self._chunk]))
        finally:
            done.set_result(None)
            busy = self._busy[cmd.command_id]
            busy.discard(done)
            if not busy:
                del self._busy[cmd.command_id]

    async def until_sent(self, command_id: str) -> None:
        """Return once no delivery of ``command_id`` is under way."""
        while busy := self._busy.get(command_id):
            await asyncio.wait(set(busy))
