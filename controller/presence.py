"""Presence: what the controller stores about agents coming, staying and going (Hello, heartbeats,
stream ends), written in batches by one writer (controller/store/presence.py). While a batch is
being stored, the sightings that arrive gather into the next one, so a fleet connecting at once, or
heartbeating, costs a few transactions a second. A Hello waits for its batch: the stream goes on only
once the node is known to be registered and Online."""
from __future__ import annotations

import asyncio
import logging

from controller.clock import now_ms
from controller.db import Db
from controller.model import PingStatus
from controller.store.presence import Sighting
from plugins.sdk.facts import Facts

log = logging.getLogger(__name__)

BATCH = 2_000  # sightings stored per transaction at most


class Presence:
    def __init__(self, db: Db) -> None:
        self._db = db
        self._queue: list[tuple[Sighting, asyncio.Future[bool] | None]] = []
        self._writer: asyncio.Task[None] | None = None

    async def hello(self, node_id: str, facts: Facts) -> bool:
        """Store the node Online with its facts; False when no such node is registered."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((Sighting(node_id, PingStatus.ONLINE, now_ms(), facts), done))
        self._kick()
        return await done

    def heartbeat(self, node_id: str) -> None:
        self._queue.append((Sighting(node_id, PingStatus.ONLINE, now_ms()), None))
        self._kick()

    async def gone(self, node_id: str) -> None:
        """The node's stream ended: ConnectionLost (waits until stored)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((Sighting(node_id, PingStatus.CONNECTION_LOST, now_ms()), done))
        self._kick()
        await done

    def _kick(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
            try:
                known = await self._db.run(self._db.store.record_sightings, [s for s, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiter hears of it; heartbeats come again
                log.exception("storing %d node sighting(s) failed", len(batch))
                for _, done in batch:
                    if done is not None and not done.done():
                        done.set_exception(exc)
                continue
            for s, done in batch:
                if done is not None and not done.done():
                    done.set_result(s.node_id in known)
