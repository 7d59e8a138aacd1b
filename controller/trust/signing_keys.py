"""The controller's document-signing key, which can rotate (issue 18, point 5), and the rotations
that led to it.

``signing.key`` in the controller's directory is the current key; ``signing-rotations.json`` lists
every rotation since ``controller init`` (each step: the key replaced, its public half, the new
public key, when, and the replaced key's signature), so that an agent that pins any earlier key is
sent the steps from its key to the current one. A rotation writes the new key beside the old one
(``signing.key.next``), then the list with the new step, then moves the new key over the old: a
controller killed between finds ``signing.key.next`` at its start and finishes the move when the
list names it, or drops it when the list does not (the old key stands)."""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from controller.trust.signing import DocumentSigner
from plugins.sdk.errors import ConfigError, VerificationError
from plugins.sdk.host.files import write_private
from plugins.sdk.wire.envelope import SignedBatch, key_id_of
from plugins.sdk.wire.key_rotation import MAX_STEPS, KeyRotation, follow_chain

log = logging.getLogger(__name__)

SIGNING_KEY = "signing.key"
ROTATIONS = "signing-rotations.json"
_NEXT = "signing.key.next"


class SigningKeys:
    """A CommandSigner whose key can rotate, with the chain of rotations behind it."""

    def __init__(self, directory: Path, current: DocumentSigner,
                 steps: Sequence[tuple[bytes, KeyRotation]] = ()) -> None:
        self._dir = directory
        self._current = current
        self._steps = tuple(steps)  # (the replaced key's public half, the step), oldest first

    @classmethod
    def load(cls, directory: Path) -> SigningKeys:
        steps = _read_steps(directory / ROTATIONS)
        nxt = directory / _NEXT
        if nxt.exists():
            pending = DocumentSigner.from_pem(nxt.read_bytes())
            if steps and steps[-1][1].to_key_id == pending.key_id:
                os.replace(nxt, directory / SIGNING_KEY)  # the rotation was recorded: finish it
                log.warning("finished a signing key rotation a stop cut short: %s is current", pending.key_id)
            else:
                nxt.unlink()  # not recorded: the old key stands
        try:
            current = DocumentSigner.from_pem((directory / SIGNING_KEY).read_bytes())
        except OSError as exc:
            raise ConfigError(f"{directory / SIGNING_KEY}: {exc.strerror or exc}") from None
        if steps and steps[-1][1].to_key_id != current.key_id:
            raise ConfigError(f"{directory / ROTATIONS}: its last rotation leads to {steps[-1][1].to_key_id}, "
                              f"but {SIGNING_KEY} is {current.key_id}")
        return cls(directory, current, steps)

    # -- CommandSigner ------------------------------------------------------------------------------

    @property
    def key_id(self) -> str:
        return self._current.key_id

    def public_key_raw(self) -> bytes:
        return self._current.public_key_raw()

    def sign_release(self, version: str, sha256: str) -> bytes:
        return self._current.sign_release(version, sha256)

    def sign_commands(self, command_id: str, node_ids: Sequence[str], document: bytes, issued_at_ms: int,
                      expires_at_ms: int) -> SignedBatch:
        return self._current.sign_commands(command_id, node_ids, document, issued_at_ms, expires_at_ms)

    # -- rotation -----------------------------------------------------------------------------------

    def chain_from(self, key_id: str) -> tuple[KeyRotation, ...] | None:
        """The steps from ``key_id`` to the current key (empty when it is the current one); None when
        ``key_id`` is none of this controller's keys, or too many rotations ago."""
        if key_id == self.key_id:
            return ()
        for i, (_, step) in enumerate(self._steps):
            if step.from_key_id == key_id:
                chain = tuple(s for _, s in self._steps[i:])
                return chain if len(chain) <= MAX_STEPS else None
        return None

    def rotate(self, now_ms: int) -> KeyRotation:
        """A new key, signed for by the current one; documents are signed with it from now on."""
        new = DocumentSigner.generate()
        step = self._current.sign_rotation(new.public_key_raw(), now_ms)
        steps = (*self._steps, (self._current.public_key_raw(), step))
        write_private(self._dir / _NEXT, new.private_pem())
        write_private(self._dir / ROTATIONS, _steps_json(steps))
        os.replace(self._dir / _NEXT, self._dir / SIGNING_KEY)
        fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(fd)  # the move durable before any document is signed with the new key
        finally:
            os.close(fd)
        log.info("document-signing key rotated: %s replaces %s", new.key_id, self._current.key_id)
        self._current, self._steps = new, steps
        return step


def _steps_json(steps: Sequence[tuple[bytes, KeyRotation]]) -> bytes:
    doc = [{"from_key_id": s.from_key_id, "from_public_key": old.hex(), "public_key": s.public_key.hex(),
            "issued_at_ms": s.issued_at_ms, "signature": s.signature.hex()} for old, s in steps]
    return (json.dumps(doc, indent=2) + "\n").encode()


def _read_steps(path: Path) -> tuple[tuple[bytes, KeyRotation], ...]:
    """The rotations recorded in ``path`` (none when it does not exist), each checked: signed by the
    key it replaces, and each replacing the one before."""
    if not path.exists():
        return ()
    try:
        doc = json.loads(path.read_bytes())
        steps = tuple((bytes.fromhex(d["from_public_key"]), KeyRotation(
            str(d["from_key_id"]), bytes.fromhex(d["public_key"]), int(d["issued_at_ms"]),
            bytes.fromhex(d["signature"]))) for d in doc)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a list of signing key rotations ({type(exc).__name__})") from None
    for i, (old, step) in enumerate(steps):
        try:
            if key_id_of(old) != step.from_key_id:
                raise VerificationError("bad_rotation", f"from_public_key is not {step.from_key_id}")
            follow_chain([step], old)
        except VerificationError as exc:
            raise ConfigError(f"{path}: rotation {i}: {exc.detail}") from None
        if i and steps[i - 1][1].to_key_id != step.from_key_id:
            raise ConfigError(f"{path}: rotation {i} does not follow rotation {i - 1}")
    return steps
