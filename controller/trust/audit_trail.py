"""The audit trail's writer: every record goes through here, into the store's chain
(controller/store/audit.py), in batches (one transaction for all that arrived meanwhile, as a group
commit), and the chain's head is signed with the controller's audit key every
``sign_every_records`` records or ``sign_every_seconds``, whichever comes first, and at close.

Two ways in:
- ``await record(entry)``: returns once the record is stored. An admin call is recorded so before
  it acts or answers (a refusal too); when the trail cannot be written, it raises AuditUnavailable
  (DatabaseFailed when the database itself failed) and the call is refused: nothing happens
  unaudited.
- ``submit(entry)``: stored with the next batch, not awaited (a command's status changes, from the
  event bus, which never waits; reads): such records gather for up to ``GATHER_SECONDS`` (or until
  an awaited one comes), so that they cost a transaction now and then, not one each. At most
  ``MAX_PENDING`` wait; beyond that they are counted, dropped and logged (a database that stopped
  answering).

Secret values are kept as keyed hashes (``secret``): the key is derived from the audit key, so equal
values show equal within one controller's trail and none can be read back or guessed offline.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from controller.model import AuditEntry, AuditRecord
from controller.store.db import Db
from controller.store.errors import DatabaseFailed
from controller.trust.audit import keyed_hash, sign_head
from plugins.sdk.errors import ConfigError, OutpostError
from plugins.sdk.host.clock import now_ms
from plugins.sdk.host.files import write_private, write_public

log = logging.getLogger(__name__)

SIGN_EVERY_RECORDS = 1000
SIGN_EVERY_SECONDS = 60.0
MAX_PENDING = 100_000
GATHER_SECONDS = 0.2  # how long records nobody waits for gather before they are stored
AUDIT_KEY = "audit.key"
AUDIT_PUBLIC_KEY = "audit.pub"


class AuditUnavailable(OutpostError):
    """The trail could not be written: what was to be recorded does not happen."""


def create_audit_key(directory: Path) -> Ed25519PrivateKey:
    """A new audit key in ``directory`` (``audit.key`` 0600, ``audit.pub`` for whoever verifies)."""
    key = Ed25519PrivateKey.generate()
    write_private(directory / AUDIT_KEY, key.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
    write_public(directory / AUDIT_PUBLIC_KEY, public_pem(key.public_key()))
    return key


def load_audit_key(directory: Path) -> Ed25519PrivateKey:
    """The controller's audit key; made on first use in a directory from before the trail."""
    path = directory / AUDIT_KEY
    if not path.exists():
        log.warning("no audit key in %s: making one (%s); its public half is %s", directory, path,
                    directory / AUDIT_PUBLIC_KEY)
        return create_audit_key(directory)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: the audit key does not load: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: the audit key must be Ed25519, got {type(key).__name__}")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_pem(pem: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{where}: the audit key must be Ed25519, got {type(key).__name__}")
    return key


class AuditTrail:
    def __init__(self, db: Db, key: Ed25519PrivateKey, *, record_reads: bool = True,
                 sign_every_records: int = SIGN_EVERY_RECORDS, sign_every_seconds: float = SIGN_EVERY_SECONDS,
                 clock: Callable[[], int] = now_ms) -> None:
        self._db = db
        self._key = key
        self._hash_key = HKDF(hashes.SHA256(), 32, salt=None, info=b"outpost audit secret values").derive(
            key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                              serialization.NoEncryption()))
        self.record_reads = record_reads
        self._sign_records = max(1, sign_every_records)
        self._sign_seconds = sign_every_seconds
        self._clock = clock
        self._pending: list[tuple[AuditEntry, asyncio.Future[None] | None]] = []
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()  # an awaited record, or the close: no gathering
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._unsigned: AuditRecord | None = None  # the last record no head covers yet
        self._unsigned_count = 0
        self.dropped = 0

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def secret(self, value: str) -> str:
        return keyed_hash(self._hash_key, value)

    def _start(self) -> None:
        if self._writer is None:  # on the first record: in the loop that serves
            self._writer = asyncio.create_task(self._write_forever(), name="audit-writer")

    async def record(self, entry: AuditEntry) -> None:
        """Store ``entry``; returns once it is (AuditUnavailable when it cannot be)."""
        if self._closing:
            raise AuditUnavailable("the audit trail is closed")
        self._start()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entry.storable(), fut))
        self._wake.set()
        self._urgent.set()
        await asyncio.shield(fut)

    def submit(self, entry: AuditEntry) -> None:
        """Store ``entry`` with the next batch; never waits."""
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("the audit trail is %d records behind its database; %d dropped so far (%s %s)",
                          MAX_PENDING, self.dropped, entry.action, entry.resource)
            return
        if self._closing:
            log.error("not recorded (the audit trail is closed): %s %s", entry.action, entry.resource)
            return
        self._start()
        self._pending.append((entry.storable(), None))
        self._wake.set()

    async def close(self) -> None:
        """Store what waits, sign the head, stop."""
        self._closing = True
        self._wake.set()
        self._urgent.set()
        if self._writer is not None:
            await asyncio.wait({self._writer}, timeout=30)
            if not self._writer.done():
                self._writer.cancel()
                log.error("the audit trail did not finish writing within 30 s; %d record(s) not stored",
                          len(self._pending))

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        signed_at = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._sign_seconds)
            self._wake.clear()
            if self._pending and not self._urgent.is_set():
                # only records nobody waits for: gather more for a moment (one transaction for a
                # command's status changes and the reads around it, not one each)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), GATHER_SECONDS)
            self._urgent.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._store(batch)
            due = (self._unsigned_count >= self._sign_records or loop.time() - signed_at >= self._sign_seconds
                   or (self._closing and not self._pending))
            if self._unsigned is not None and due:
                await self._sign(self._unsigned)
                signed_at = loop.time()
            if self._closing and not self._pending:
                return

    async def _store(self, batch: list[tuple[AuditEntry, asyncio.Future[None] | None]]) -> None:
        try:
            last = await self._db.run(self._db.store.append_audit, [e for e, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiter hears why; the trail goes on
            log.error("the audit trail could not store %d record(s): %s", len(batch), exc)
            for _, fut in batch:  # a failed database is told as one (the servers answer it in one line)
                if fut is not None and not fut.done():
                    fut.set_exception(exc if isinstance(exc, DatabaseFailed)
                                      else AuditUnavailable(f"the audit trail cannot be written: {exc}"))
            return
        for _, fut in batch:
            if fut is not None and not fut.done():
                fut.set_result(None)
        self._unsigned = last
        self._unsigned_count += len(batch)

    async def _sign(self, last: AuditRecord) -> None:
        head = sign_head(self._key, last, self._clock())
        try:
            await self._db.run(self._db.store.add_audit_head, head)
        except Exception as exc:  # noqa: BLE001 - the next head covers these records too
            log.error("the audit trail's head (record %d) could not be stored: %s", last.seq, exc)
            return
        if self._unsigned is last:
            self._unsigned = None
        self._unsigned_count = 0
