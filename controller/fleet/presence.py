"""Presence: what the controller stores about agents coming, staying and going (Hello, heartbeats,
stream ends), written in batches by one writer (controller/store/presence.py). While a batch is
being stored, the sightings that arrive gather into the next one, so a fleet connecting at once, or
heartbeating, costs a few transactions a second. A Hello waits for its batch: the stream goes on only
once the node is known to be registered and Online.

Heartbeats wait longer: each node's latest is held up to ``beat_hold_seconds`` and they are stored
together, so a fleet heartbeating every 30 s costs a transaction every few seconds instead of a
stream of small ones (measured at 10,000 agents: the database thread spent 15 % of a core on them,
a third of the machine's idle load with the streams' own work). The time stored is the heartbeat's
own; only its storing waits. A Hello or stream end of the node supersedes its held heartbeat, and
one writer stores every batch in order, so a late heartbeat never turns a node gone back Online."""
from __future__ import annotations

import asyncio
import logging

from controller.model import PingStatus
from controller.store.db import Db
from controller.store.presence import Sighting
from plugins.sdk.facts import Facts
from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)

BATCH = 2_000  # sightings stored per transaction at most
BEAT_HOLD_SECONDS = 5.0  # a heartbeat is stored at most this long after it came


class Presence:
    def __init__(self, db: Db, beat_hold_seconds: float = BEAT_HOLD_SECONDS) -> None:
        self._db = db
        self._queue: list[tuple[Sighting, asyncio.Future[bool] | None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._beat_hold = beat_hold_seconds
        self._beats: dict[str, int] = {}  # node id -> when its latest heartbeat came, not queued yet
        self._beat_timer: asyncio.TimerHandle | None = None

    async def hello(self, node_id: str, facts: Facts) -> bool:
        """Store the node Online with its facts; False when no such node is registered."""
        return await self._store_now(Sighting(node_id, PingStatus.ONLINE, now_ms(), facts))

    def heartbeat(self, node_id: str) -> None:
        """Held: stored with the others that come within ``beat_hold_seconds``."""
        self._beats[node_id] = now_ms()
        if self._beat_timer is None:
            self._beat_timer = asyncio.get_running_loop().call_later(self._beat_hold, self._queue_beats)

    async def gone(self, node_id: str) -> None:
        """The node's stream ended: ConnectionLost (waits until stored)."""
        await self._store_now(Sighting(node_id, PingStatus.CONNECTION_LOST, now_ms()))

    def _store_now(self, sighting: Sighting) -> asyncio.Future[bool]:
        self._beats.pop(sighting.node_id, None)  # this later sighting says more
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((sighting, done))
        self._kick()
        return done

    def _queue_beats(self) -> None:
        self._beat_timer = None
        beats, self._beats = self._beats, {}
        self._queue.extend((Sighting(n, PingStatus.ONLINE, at), None) for n, at in beats.items())
        self._kick()

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
