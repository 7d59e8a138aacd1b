"""The controller's history pruner: commands and their output, and the fleet's status events
(``outpost events``), are kept for the retention period (default 30 days, `retention_days` in
controller.yaml), then deleted in small batches off the
event loop, with a pause between batches so dispatch never waits behind it."""
from __future__ import annotations

import asyncio
import logging

from controller.store.db import Db
from plugins.sdk.errors import OutpostError
from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000


class Pruner:
    def __init__(self, db: Db, retention_days: int, batch: int = 200, pause_seconds: float = 0.05) -> None:
        self._db = db
        self._retention_ms = retention_days * DAY_MS
        self._batch = batch
        self._pause = pause_seconds

    async def prune_once(self) -> int:
        cutoff = now_ms() - self._retention_ms
        total = 0
        while n := await self._db.run(self._db.store.prune_commands, cutoff, self._batch):
            total += n
            await asyncio.sleep(self._pause)
        if total:
            log.info("pruned %d command(s) older than %d day(s)", total, self._retention_ms // DAY_MS)
        events = 0
        while n := await self._db.run(self._db.store.prune_events, cutoff, self._batch * 5):
            events += n
            await asyncio.sleep(self._pause)
        if events:
            log.info("pruned %d status event(s) older than %d day(s)", events, self._retention_ms // DAY_MS)
        return total

    async def run_forever(self, interval_seconds: float) -> None:
        while True:
            try:
                await self.prune_once()
            except OutpostError:
                log.exception("pruning history failed")
            await asyncio.sleep(interval_seconds)
