"""Rotating the master key while the controller runs (`outpost controller rotate-master-key`), as
KMS rotates a key: new data is sealed under the new key at once, and the data keys sealed under the
old one are re-wrapped, never the data.

1. A new master key; the keyring file is written whole with it current and the old ones retired (a
   crash from here on leaves a keyring that opens everything).
2. The store seals with the new keyring from its next database job on (the swap runs as a job of the
   database's one thread, so no job seals under the old key after it).
3. Every sealed value whose data key is wrapped under another key is re-wrapped, a batch of rows
   per transaction, beside the command path (controller/store/rewrap.py).
4. The keyring file is written again without the retired keys, and the store given it.

A controller that stops in 2-4 finds retired keys in its keyring at start and goes on from 3
(``resume``). One rotation at a time. (Several controllers on one PostgreSQL would each hold the
keyring: rotating there needs them to reload it, which that design must add.)"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path

from controller.store.db import Db
from controller.store.rewrap import SEALED_COLUMNS
from controller.trust.sealed_records import RecordSealer
from controller.trust.sealing import Keyring, MasterKey, save_keyring
from plugins.sdk.errors import OutpostError

log = logging.getLogger(__name__)


class RotationUnderWay(OutpostError):
    """A master key rotation is already running."""


@dataclass(frozen=True)
class RotationResult:
    key_id: str  # the master key now current
    retired: tuple[str, ...]  # those it replaced, gone from the keyring
    rewrapped: int  # data keys re-wrapped


class MasterKeyRotation:
    def __init__(self, db: Db, keyring_file: Path, keyring: Keyring) -> None:
        self._db = db
        self._file = keyring_file
        self._keyring = keyring  # what the store seals with
        self._task: asyncio.Task[RotationResult] | None = None
        self._lock = asyncio.Lock()  # one rotation at a time, from its first step

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    async def rotate(self) -> RotationResult:
        """A new master key, every data key re-wrapped under it; RotationUnderWay when one runs."""
        if self._lock.locked() or (self._task is not None and not self._task.done()):
            raise RotationUnderWay("a master key rotation is under way; try again when it has ended")
        async with self._lock:
            return await self._rotate()

    async def _rotate(self) -> RotationResult:
        if self._keyring.retired:  # one that a stop cut short: end it first
            await self._run(self._finish())
        old = self._keyring
        rotated = Keyring(MasterKey.generate(), [old.current])
        await asyncio.to_thread(save_keyring, self._file, rotated)  # before anything is sealed under the new key
        await self._use(rotated)
        log.info("master key rotated: %s is current, %s retired; re-wrapping data keys",
                 rotated.current.key_id, old.current.key_id)
        return await self._run(self._finish())

    async def resume(self) -> RotationResult | None:
        """At start: end a rotation that a stop cut short (retired keys in the keyring). A failure is
        logged; the retired keys stay, and the next start or rotation tries again."""
        if not self._keyring.retired:
            return None
        log.warning("the keyring holds retired master keys (%s): a rotation was cut short; going on with it",
                    ", ".join(k.key_id for k in self._keyring.retired))
        try:
            return await self._run(self._finish())
        except (OutpostError, OSError) as exc:
            log.error("the cut-short master key rotation did not end: %s", exc)
            return None

    async def close(self) -> None:
        """Stop a rotation that is running (at the controller's stop); what it did is kept."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                log.info("master key rotation stopped with the controller; the next start goes on with it")
            except (OutpostError, OSError) as exc:
                log.error("master key rotation ended with the controller's stop: %s", exc)

    async def _run(self, work: Coroutine[object, object, RotationResult]) -> RotationResult:
        """Run ``work`` as the one rotation task, to its end even if the caller goes away."""
        self._task = asyncio.ensure_future(work)
        return await asyncio.shield(self._task)

    async def _use(self, keyring: Keyring) -> None:
        await self._db.run(self._db.store.use_sealer, RecordSealer(keyring))
        self._keyring = keyring

    async def _finish(self) -> RotationResult:
        retired = tuple(k.key_id for k in self._keyring.retired)
        store = self._db.store
        done = 0
        for which in range(len(SEALED_COLUMNS)):
            after = None
            while True:
                n, after = await self._db.run(store.rewrap_batch, which, after)
                done += n
                if after is None:
                    break
        final = Keyring(self._keyring.current)
        await asyncio.to_thread(save_keyring, self._file, final)
        await self._use(final)
        log.info("master key rotation ended: %d data key(s) re-wrapped under %s; %s dropped from the keyring",
                 done, final.current.key_id, ", ".join(retired) or "nothing")
        return RotationResult(final.current.key_id, retired, done)
