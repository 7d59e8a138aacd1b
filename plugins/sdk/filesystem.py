"""What the plugins that manage files share (``file``, ``lineinfile``, ``copy``), and any plugin of
yours that writes files may use: file work off the event loop, octal modes, owners and groups by
name or id, symlinks followed on purpose, atomic writes, backups, and one way to say what changed.

Everything here is POSIX: ``pwd`` and ``grp`` are imported where an owner or group is looked up, so
a Windows agent can still load a plugin that imports this module (and skips its steps).
"""
from __future__ import annotations

import asyncio
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar

from plugins.sdk.contract import OutputStreamKind, RunContext, StepOutcome
from plugins.sdk.errors import PluginError
from plugins.sdk.status import Detail

T = TypeVar("T")
CHUNK_SIZE = 64 * 1024
NEW_FILE_MODE = 0o644  # a file made without a `mode` input
NEW_DIR_MODE = 0o755  # a directory made without a `mode` input
_OCTAL_MODE = re.compile(r"0?[0-7]{3,4}")


async def run_blocking(fn: Callable[..., T], /, *args: object) -> T:
    """``fn(*args)`` in a worker thread, so file work does not stall the agent's event loop.

    A cancel (the step's timeout, an operator's cancel) that arrives meanwhile waits for ``fn`` to
    return and is then raised: a file is never left half-written, nor changed after the step ended.
    Keep ``fn`` bounded (the file plugins read and write at most a document's worth, or a bounded file).
    """
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            with suppress(asyncio.CancelledError):
                await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: the cancel is what the step ends with
        raise


def parse_mode(text: str | None, label: str) -> int | None:
    """An octal mode string (``"0644"``, ``"644"``, ``"1777"``) as an int; None for None.
    Symbolic modes (``u=rw``) are refused: PluginError ``"<label> 'u=rw' is not an octal mode ..."``."""
    if text is None:
        return None
    if not _OCTAL_MODE.fullmatch(text):
        raise PluginError(f"{label} {text!r} is not an octal mode such as \"0644\" "
                          "(symbolic modes are not supported; quote the number in YAML)")
    return int(text, 8)


def user_id(owner: str | None, label: str) -> int | None:
    """A user name or a numeric uid as a uid (a name first, as chown reads it); None for None."""
    if owner is None:
        return None
    import pwd  # POSIX only: looked up here so the module loads everywhere
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        if owner.isdigit():
            return int(owner)
        raise PluginError(f"{label} {owner!r} is no user on this node") from None


def group_id(group: str | None, label: str) -> int | None:
    """A group name or a numeric gid as a gid (a name first); None for None."""
    if group is None:
        return None
    import grp
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        if group.isdigit():
            return int(group)
        raise PluginError(f"{label} {group!r} is no group on this node") from None


@dataclass(frozen=True)
class Attributes:
    """The permission bits and ownership a step wants; None leaves that one as it is."""
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def from_inputs(cls, action: str, mode: str | None, owner: str | None = None,
                    group: str | None = None) -> Attributes:
        """From a plugin's ``mode``, ``owner`` and ``group`` inputs; errors name them
        (``"copy: mode 'u=rw' is not an octal mode ..."``)."""
        return cls(parse_mode(mode, f"{action}: mode"), user_id(owner, f"{action}: owner"),
                   group_id(group, f"{action}: group"))

    def __str__(self) -> str:
        """What is wanted, as ``mode 0644, owner 1234`` (empty when nothing is)."""
        parts = [f"mode {self.mode:04o}" if self.mode is not None else "",
                 f"owner {self.uid}" if self.uid is not None else "",
                 f"group {self.gid}" if self.gid is not None else ""]
        return ", ".join(p for p in parts if p)

    def change(self, st: os.stat_result | None, name: str) -> Change | None:
        """What differs from ``st`` (None: the file is yet to be made, so nothing), as one change:
        ``/x: mode 0600 -> 0644, owner 0 -> 1234``; None when nothing differs."""
        if st is None:
            return None
        out = []
        if self.mode is not None and stat.S_IMODE(st.st_mode) != self.mode:
            out.append(f"mode {stat.S_IMODE(st.st_mode):04o} -> {self.mode:04o}")
        if self.uid is not None and st.st_uid != self.uid:
            out.append(f"owner {st.st_uid} -> {self.uid}")
        if self.gid is not None and st.st_gid != self.gid:
            out.append(f"group {st.st_gid} -> {self.gid}")
        return Change(f"{name}: {', '.join(out)}", f"{name}: {', '.join(out)}") if out else None

    def apply(self, path: str) -> None:
        """Set what differs on ``path`` (followed if a symlink): ownership first, since a chown
        clears the setuid and setgid bits, then the mode."""
        st = os.stat(path)
        uid = -1 if self.uid is None or self.uid == st.st_uid else self.uid
        gid = -1 if self.gid is None or self.gid == st.st_gid else self.gid
        if (uid, gid) != (-1, -1):
            os.chown(path, uid, gid)
        if self.mode is not None and (stat.S_IMODE(os.stat(path).st_mode) != self.mode):
            os.chmod(path, self.mode)


def absolute_path(path: str, label: str) -> str:
    """``path``, refused unless absolute (a relative one would be relative to the agent's directory)."""
    if not os.path.isabs(path):
        raise PluginError(f"{label} must be an absolute path, got {path!r}")
    return os.path.normpath(path)


def follow_link(path: str, label: str) -> str:
    """The file a plugin acts on for ``path``: ``path`` itself, or, when ``path`` is a symlink, the
    file it points to (resolved to the end of the chain; the link itself is left as it is). A link
    that points to nothing is refused rather than followed into creating a file elsewhere."""
    path = absolute_path(path, label)
    if not os.path.islink(path):
        return path
    target = os.path.realpath(path)
    if not os.path.lexists(target) or os.path.islink(target):
        raise PluginError(f"{label} {path} is a symlink to {target}, which does not exist")
    return target


def shown_path(path: str, target: str) -> str:
    """How a message names a path: ``/etc/x``, or ``/etc/x -> /srv/x`` when a symlink was followed."""
    return path if os.path.normpath(path) == target else f"{path} -> {target}"


def parent_must_exist(path: str, label: str) -> None:
    """Refuse to make ``path`` in a directory that does not exist (no directories are made silently)."""
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise PluginError(f"{label} {path}: directory {parent} does not exist")


def stat_or_none(path: str, label: str) -> os.stat_result | None:
    """``os.stat(path)`` (symlinks followed), None when there is nothing there; another failure is a
    PluginError: ``"<label> <path>: Permission denied"``."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PluginError(f"{label} {path}: {exc.strerror or exc}") from None


def write_file(path: str, data: bytes, *, existing: os.stat_result | None, wanted: Attributes,
               backup: bool = False) -> str | None:
    """Replace or make ``path`` with ``data`` (:func:`atomic_write`). Its mode is ``wanted.mode``, else
    the existing file's, else :data:`NEW_FILE_MODE`; its owner and group ``wanted``'s, else the existing
    file's, else the agent's. With ``backup``, an existing file is first copied (:func:`backup_file`):
    the copy's path is returned."""
    copy = backup_file(path) if backup and existing is not None else None
    mode = wanted.mode
    if mode is None:
        mode = stat.S_IMODE(existing.st_mode) if existing is not None else NEW_FILE_MODE
    uid = wanted.uid if wanted.uid is not None else (existing.st_uid if existing is not None else -1)
    gid = wanted.gid if wanted.gid is not None else (existing.st_gid if existing is not None else -1)
    atomic_write(path, data, mode=mode, uid=uid, gid=gid)
    return copy


def atomic_write(path: str, data: bytes, *, mode: int, uid: int = -1, gid: int = -1) -> None:
    """Replace (or make) ``path`` with ``data`` so that a reader sees the old file or the whole new
    one, never a part: a temporary file in the same directory is written, given ``mode`` and
    ``uid``/``gid`` (-1 keeps the agent's), flushed to disk, and renamed over ``path``; then the
    directory is flushed. ``path`` must not be a symlink you mean to keep (use :func:`follow_link`)."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)[:100]}.", suffix=".outpost-tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if (uid, gid) != (-1, -1):
                os.fchown(fh.fileno(), uid, gid)
            os.fchmod(fh.fileno(), mode)  # after the chown, which clears setuid bits
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot sync a directory
        pass
    finally:
        os.close(fd)


def backup_file(path: str) -> str:
    """Copy ``path`` to ``<path>.<unix seconds>.bak`` (``<path>.<unix seconds>.<n>.bak`` when that
    exists), with its mode, owner and times; return the copy's path. The copy is made 0600 and
    given the original's mode only when complete, so a secret file is never readable meanwhile."""
    st = os.stat(path)
    stamp = int(time.time())
    for n in range(1000):
        candidate = f"{path}.{stamp}.bak" if n == 0 else f"{path}.{stamp}.{n}.bak"
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            continue
        break
    else:
        raise PluginError(f"cannot name a backup of {path}: {path}.{stamp}.*.bak all exist")
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            while chunk := src.read(CHUNK_SIZE):
                out.write(chunk)
            out.flush()
            with suppress(PermissionError):
                os.fchown(out.fileno(), st.st_uid, st.st_gid)
            os.fchmod(out.fileno(), stat.S_IMODE(st.st_mode))
            os.fsync(out.fileno())
        os.utime(candidate, ns=(st.st_atime_ns, st.st_mtime_ns))
    except BaseException:
        with suppress(OSError):
            os.unlink(candidate)
        raise
    return candidate


@dataclass(frozen=True)
class Change:
    """One thing a step changes, said two ways: ``doing`` in check mode (``"write 12 bytes to /x"``),
    ``done`` once done (``"wrote 12 bytes to /x"``)."""
    doing: str
    done: str


async def report_changes(ctx: RunContext, changes: Sequence[Change], ok: str) -> StepOutcome:
    """Write the step's one line and return its outcome: ``changed: <done>; <done>`` (changed),
    ``would change: <doing>; <doing>`` in check mode (changed, nothing done), or ``ok: <ok>`` when
    there is nothing to change (not changed)."""
    if not changes:
        line = f"ok: {ok}"
    elif ctx.check_mode:
        line = "would change: " + "; ".join(c.doing for c in changes)
    else:
        line = "changed: " + "; ".join(c.done for c in changes)
    await ctx.output.write(OutputStreamKind.STDOUT, (line + "\n").encode())
    return StepOutcome(Detail.SUCCESS, changed=bool(changes))


def os_problem(exc: OSError) -> str:
    """An OSError as a message's tail: ``Permission denied: /x``."""
    reason = exc.strerror or str(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason
