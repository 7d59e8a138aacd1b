"""Envelope encryption at rest, as KMS does it (issue 18, point 4): a fresh 256-bit data key per
record encrypts it with AES-256-GCM; the data key is kept only wrapped (AES-256-GCM again) under a
master key that never reaches the database. Rotating the master key re-wraps the small wrapped keys,
never the data.

The master keys live in a keyring file (``master.key`` in the controller's directory, 0600, made by
``controller init``; or the file named by ``OUTPOST_MASTER_KEY_FILE``): one current key, which wraps
new data keys, and the retired ones a rotation has not finished re-wrapping from. Each key has an
id, stored with every wrapped key, so a record names the master key it needs.

A wrapped data key: ``b"W1"``, the master key id's length (one byte) and id, a 12-byte nonce, the
48 bytes of the encrypted data key and its tag; the master key id is its associated data. How a
record is sealed under a data key is controller/trust/sealed_records.py's."""
from __future__ import annotations

import base64
import json
import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from plugins.sdk.errors import ConfigError, OutpostError
from plugins.sdk.host.files import write_private

log = logging.getLogger(__name__)

MASTER_KEY_FILE = "master.key"
MASTER_KEY_ENV = "OUTPOST_MASTER_KEY_FILE"
KEY_BYTES = 32
NONCE_BYTES = 12
_WRAPPED = b"W1"
_MAX_KEYS = 16  # a keyring past this is not one this code wrote


class SealError(OutpostError):
    """A sealed record or wrapped key that does not open: wrong key, moved, cut short, or altered."""


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    secret: bytes

    def __repr__(self) -> str:
        return f"MasterKey({self.key_id!r}, ********)"

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(f"mk-{secrets.token_hex(8)}", AESGCM.generate_key(bit_length=256))


@dataclass(frozen=True)
class DataKey:
    plain: bytes  # used, then forgotten
    wrapped: bytes  # what is stored

    def __repr__(self) -> str:
        return f"DataKey(wrapped={len(self.wrapped)} bytes)"


class Keyring:
    """The current master key and the retired ones still needed to unwrap."""

    def __init__(self, current: MasterKey, retired: Sequence[MasterKey] = ()) -> None:
        self.current = current
        self.retired = tuple(retired)
        self._by_id: Mapping[str, MasterKey] = {k.key_id: k for k in (current, *retired)}
        self._aead = {k.key_id: AESGCM(k.secret) for k in (current, *retired)}  # made once: AESGCM() costs

    def new_data_key(self) -> DataKey:
        plain = AESGCM.generate_key(bit_length=256)
        return DataKey(plain, self._wrap(plain))

    def _wrap(self, plain: bytes) -> bytes:
        kid = self.current.key_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        return _WRAPPED + bytes([len(kid)]) + kid + nonce + self._aead[self.current.key_id].encrypt(nonce, plain, kid)

    def master_key_of(self, wrapped: bytes) -> str:
        """The id of the master key ``wrapped`` is wrapped under."""
        return wrapped_key_id(wrapped)

    def unwrap(self, wrapped: bytes) -> bytes:
        kid, nonce, body = _parts(wrapped)
        aead = self._aead.get(kid.decode(errors="replace"))
        if aead is None:
            raise SealError(f"a data key is wrapped under master key {kid.decode(errors='replace')!r}, "
                            "which is not in the keyring")
        try:
            return aead.decrypt(nonce, body, kid)
        except InvalidTag:
            raise SealError(f"a data key wrapped under {kid.decode()!r} does not unwrap (altered?)") from None

    def rewrap(self, wrapped: bytes) -> bytes:
        """``wrapped`` under the current master key (as it is when it already is)."""
        if self.master_key_of(wrapped) == self.current.key_id:
            return wrapped
        return self._wrap(self.unwrap(wrapped))


def _parts(wrapped: bytes) -> tuple[bytes, bytes, bytes]:
    if len(wrapped) < 3 or wrapped[:2] != _WRAPPED:
        raise SealError("not a wrapped data key")
    n = wrapped[2]
    kid, rest = wrapped[3:3 + n], wrapped[3 + n:]
    if len(kid) != n or len(rest) != NONCE_BYTES + KEY_BYTES + 16:
        raise SealError("a wrapped data key of the wrong length")
    return kid, rest[:NONCE_BYTES], rest[NONCE_BYTES:]


def wrapped_key_id(wrapped: bytes) -> str:
    """The id of the master key ``wrapped`` is wrapped under."""
    return _parts(wrapped)[0].decode(errors="replace")


# -- the keyring file --------------------------------------------------------------------------------

def _key_json(key: MasterKey) -> dict[str, str]:
    return {"id": key.key_id, "key": base64.b64encode(key.secret).decode()}


def save_keyring(path: Path, keyring: Keyring) -> None:
    """Written whole and atomically, 0600 from the first byte."""
    doc = {"current": _key_json(keyring.current), "retired": [_key_json(k) for k in keyring.retired]}
    write_private(path, (json.dumps(doc, indent=2) + "\n").encode())


def create_keyring(path: Path) -> Keyring:
    keyring = Keyring(MasterKey.generate())
    save_keyring(path, keyring)
    return keyring


def _key_from(item: object, where: str) -> MasterKey:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("key"), str):
        raise ConfigError(f"{where}: expected an object with id and key")
    try:
        secret = base64.b64decode(item["key"], validate=True)
    except ValueError:
        raise ConfigError(f"{where}.key: not base64") from None
    if len(secret) != KEY_BYTES or not 1 <= len(item["id"].encode()) <= 64:
        raise ConfigError(f"{where}: a master key is {KEY_BYTES} bytes with an id of 1 to 64 characters")
    return MasterKey(item["id"], secret)


def load_keyring(path: Path) -> Keyring:
    """The keyring in ``path``; a clear ConfigError naming what is wrong (never a key's value)."""
    try:
        info = path.stat()
        if info.st_size > 64 * 1024:
            raise ConfigError(f"{path}: not a keyring (over 64 KB)")
        if info.st_mode & 0o077:  # as ssh does with a private key others can read
            raise ConfigError(f"{path}: the master keyring is open to others (mode {info.st_mode & 0o777:04o}); "
                              f"make it 0600 (chmod 600 {path}) and keep it so")
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no master key (run `outpost controller init`, or set "
                          f"{MASTER_KEY_ENV} to the keyring's path)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: the master key does not load: {type(exc).__name__}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected an object with current and retired")
    retired = doc.get("retired", [])
    if not isinstance(retired, list) or len(retired) >= _MAX_KEYS:
        raise ConfigError(f"{path}: retired: expected a list of at most {_MAX_KEYS - 1} keys")
    current = _key_from(doc.get("current"), f"{path}: current")
    keys = [_key_from(k, f"{path}: retired[{i}]") for i, k in enumerate(retired)]
    if len({current.key_id, *(k.key_id for k in keys)}) != 1 + len(keys):
        raise ConfigError(f"{path}: two master keys with one id")
    return Keyring(current, keys)


def keyring_path(directory: Path, given: Path | None) -> Path:
    """Where the controller's keyring is: the path the operator gave (``--master-key``, or
    ``OUTPOST_MASTER_KEY_FILE``), else ``master.key`` in its directory."""
    return given if given is not None else directory / MASTER_KEY_FILE


def open_keyring(path: Path, *, create: bool) -> Keyring:
    """The keyring in ``path``; made there first (0600) when it does not exist and ``create``."""
    if create and not path.exists():
        log.warning("no master key at %s: making one (keep it safe: without it the database's sealed "
                    "documents and output do not open)", path)
        return create_keyring(path)
    return load_keyring(path)
