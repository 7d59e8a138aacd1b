"""Files holding secrets: written 0600 from the first byte (whatever the umask), atomically
when replacing, fsynced."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from plugins.sdk.errors import ConfigError


def write_private(path: Path | str, data: bytes) -> None:
    """Write a secret file that is mode 0600 from its creation on; an existing file is replaced atomically."""
    _write_file(Path(path), data, 0o600)


def write_public(path: Path | str, data: bytes) -> None:
    """Write a non-secret file (certificates, public keys) with mode 0644, atomically if it exists."""
    _write_file(Path(path), data, 0o644)


def _write_all(fd: int, data: bytes, mode: int) -> None:
    os.fchmod(fd, mode)  # exact mode, whatever the umask
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _write_file(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        _replace_file(path, data, mode)
        return
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        try:
            _write_all(fd, data, mode)
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def _replace_file(path: Path, data: bytes, mode: int) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    except OSError as exc:
        raise ConfigError(f"cannot create a temporary file next to {path}: {exc.strerror or exc}") from None
    try:
        try:
            _write_all(fd, data, mode)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"cannot replace {path}: {exc.strerror or exc}") from None
