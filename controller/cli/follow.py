"""Following a controller's stream across its breaks: every follow of the CLI (``events --follow``,
``command logs --follow``, ``command send --wait``, ``command wait``, ``playbook apply``) reads its
stream through ``followed``. When the stream breaks (the controller restarted, the connection was
cut) it says so once on stderr, reconnects with a bounded backoff and goes on with the stream its
caller re-opens from where it got to (``reopen``: events past the last seq printed; a command's
state again, its output past what was printed: ``LinePrinter.rewind``). Past ``--reconnect-timeout``
without a controller it gives up in one line (OutpostError), exit 1.

A follow that has never connected is not retried: a wrong address or certificate is said at once."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import click
import grpc

from controller.cli.params import Seconds
from controller.cli.terminal import say
from controller.sdk.transport import rpc_error_message
from plugins.sdk.errors import OutpostError
from plugins.sdk.limits import MAX_TIMEOUT_SECONDS

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_RECONNECT_SECONDS = 300.0
BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)  # pauses between tries, the last repeated
# what a stream that broke under the CLI ends with: a controller that went away (UNAVAILABLE), a
# stream cut in its stop (CANCELLED by the server, ABORTED) or in the middle of a frame (INTERNAL)
BROKEN = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED,
                    grpc.StatusCode.INTERNAL})

# the option of every follow
RECONNECT_TIMEOUT = click.option(
    "--reconnect-timeout", "reconnect_timeout", default=None, type=Seconds(float(MAX_TIMEOUT_SECONDS)),
    help="seconds to wait for a controller after the stream breaks, then exit 1 "
         f"[default: {DEFAULT_RECONNECT_SECONDS:g}]")


@dataclass
class Reconnect:
    """How a follow reconnects: ``what`` it follows (named in its messages) and for how long at most
    it waits for a controller after a break (``--reconnect-timeout``)."""
    what: str
    timeout_seconds: float = DEFAULT_RECONNECT_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    breaks: int = field(default=0, init=False)  # how many times the stream broke (and was re-opened)

    @classmethod
    def given(cls, what: str, timeout_seconds: float | None) -> Reconnect:
        """As ``--reconnect-timeout`` says (None: not given, the default)."""
        return cls(what, DEFAULT_RECONNECT_SECONDS if timeout_seconds is None else timeout_seconds)


def _connected(stream: Iterable[T]) -> bool:
    """Wait for the call's headers (a controller answered); False when the call failed first."""
    headers = getattr(stream, "initial_metadata", None)
    if headers is None:
        return True
    try:
        headers()
    except grpc.RpcError:
        return False
    code = getattr(stream, "code", None)
    done = getattr(stream, "done", None)
    return not (done is not None and done() and code is not None and code() in BROKEN)


def followed(first: Callable[[], Iterable[T]], reopen: Callable[[], Iterable[T]], done: Callable[[], bool],
             how: Reconnect) -> Iterator[T]:
    """The items of ``first()``'s stream, then, after each break, of ``reopen()``'s, until ``done()``
    after a stream ends (a stream that ends while not done is a break too: a controller that stops
    ends its streams). ``reopen`` is called for each try; its caller resumes from what it printed."""
    opener = first
    connected_once = False
    broke_at: float | None = None
    tries = 0
    while True:
        cause = ""
        try:
            stream = opener()
            if _connected(stream):
                connected_once = True
                if broke_at is not None:
                    say(f"{how.what}: reconnected; resuming where it stopped", err=True)
                    broke_at, tries = None, 0
            for item in stream:
                connected_once = True
                if broke_at is not None:
                    say(f"{how.what}: reconnected; resuming where it stopped", err=True)
                    broke_at, tries = None, 0
                yield item
            if done():
                return
            cause = "the controller ended the stream"
        except grpc.RpcError as exc:
            if exc.code() not in BROKEN or not (connected_once or broke_at is not None):
                raise
            if done():
                return
            cause = rpc_error_message(exc)
        connected_once = True
        opener = reopen
        now = how.clock()
        if broke_at is None:
            broke_at = now
            how.breaks += 1
            say(f"{how.what}: the stream broke ({cause}); reconnecting for up to {how.timeout_seconds:g} s "
                "(--reconnect-timeout)", err=True)
        elif now - broke_at >= how.timeout_seconds:
            raise OutpostError(f"{how.what}: no controller for {how.timeout_seconds:g} s after the stream broke "
                               f"({cause}); gave up (--reconnect-timeout)")
        pause = BACKOFF_SECONDS[min(tries, len(BACKOFF_SECONDS) - 1)]
        tries += 1
        how.sleep(max(0.0, min(pause, broke_at + how.timeout_seconds - now)))
