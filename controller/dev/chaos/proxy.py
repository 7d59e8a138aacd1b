"""A TCP fault proxy between the agents and the controller, for the chaos runs.

Each *route* listens on its own port of 127.0.0.1 and forwards every connection to the controller's
mutual-TLS listener. The agents are enrolled with a route's address as their controller (the
enrolment itself goes straight to the controller), so the address their identity keeps is the
route's; the controller's certificate is for the host 127.0.0.1, which another port does not change,
so TLS verification holds through the proxy.

A route is in one of four modes, set from the harness's thread:

- ``PASS``: bytes are forwarded as they come;
- ``CUT``: every connection is closed (both ends, at once) and a new one is closed as soon as it is
  accepted, until the route is restored: a network that resets;
- ``STALL``: nothing is forwarded either way, connections stay open and new ones are accepted and
  held: a black hole (neither end learns anything until its own timers notice);
- ``SLOW``: every chunk waits ``delay_seconds`` and the bytes are paced at ``bytes_per_second``.

The proxy runs its own event loop on a thread of its own, so it keeps forwarding while the harness
blocks on processes; the methods below hand their work to that loop and wait for it.
"""
from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
T = TypeVar("T")


class Mode(enum.Enum):
    PASS = "pass"
    CUT = "cut"
    STALL = "stall"
    SLOW = "slow"


@dataclass(frozen=True)
class Slowness:
    delay_seconds: float  # added to every chunk, each way
    bytes_per_second: int  # pace of each direction of each connection


@dataclass(eq=False)
class _Link:
    """One proxied connection: the agent's side and the controller's side."""
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None:
                w.transport.abort()  # a reset, not a polite close: what a cut network looks like
        for t in self.tasks:
            t.cancel()


@dataclass(eq=False)
class _Route:
    name: str
    server: asyncio.Server
    port: int
    mode: Mode = Mode.PASS
    slowness: Slowness = Slowness(0.0, 0)
    flowing: asyncio.Event = field(default_factory=asyncio.Event)  # clear while stalled
    links: set[_Link] = field(default_factory=set)


class FaultProxy:
    """Routes from 127.0.0.1 ports to ``upstream_port`` on 127.0.0.1, each with its own faults."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._loop = asyncio.new_event_loop()
        self._routes: dict[str, _Route] = {}
        self._thread = threading.Thread(target=self._loop.run_forever, name="chaos-proxy", daemon=True)
        self._thread.start()

    def _call(self, coro: Coroutine[object, object, T], timeout: float = 60.0) -> T:
        """Run ``coro`` on the proxy's loop and wait for it (generously: on a loaded machine the loop
        may be slow to get to it, and a fault applied late is recorded late, not lost)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # ------------------------------------------------------------------ the harness's side

    def add_route(self, name: str) -> str:
        """Open route ``name`` on a free port; its address (HOST:PORT), for an agent's identity."""
        return self._call(self._add_route(name))

    def routes(self) -> list[str]:
        return sorted(self._routes)

    def mode(self, name: str) -> Mode:
        return self._routes[name].mode

    def cut(self, names: Iterable[str]) -> None:
        self._call(self._set(list(names), Mode.CUT, Slowness(0.0, 0)))

    def stall(self, names: Iterable[str]) -> None:
        self._call(self._set(list(names), Mode.STALL, Slowness(0.0, 0)))

    def slow(self, names: Iterable[str], slowness: Slowness) -> None:
        self._call(self._set(list(names), Mode.SLOW, slowness))

    def restore(self, names: Iterable[str] | None = None) -> None:
        """Back to PASS (every route when ``names`` is None); held bytes flow on."""
        self._call(self._set(list(self._routes) if names is None else list(names), Mode.PASS, Slowness(0.0, 0)))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    # ------------------------------------------------------------------ the loop's side

    async def _add_route(self, name: str) -> str:
        if name in self._routes:
            raise ValueError(f"route {name!r} exists")
        holder: list[_Route] = []
        server = await asyncio.start_server(lambda r, w: self._accepted(holder[0], r, w), "127.0.0.1", 0)
        route = _Route(name, server, server.sockets[0].getsockname()[1])
        route.flowing.set()
        holder.append(route)
        self._routes[name] = route
        return f"127.0.0.1:{route.port}"

    async def _set(self, names: list[str], mode: Mode, slowness: Slowness) -> None:
        for name in names:
            route = self._routes[name]
            route.mode, route.slowness = mode, slowness
            if mode is Mode.STALL:
                route.flowing.clear()
            else:
                route.flowing.set()
            if mode is Mode.CUT:
                for link in list(route.links):
                    link.abort()
                route.links.clear()

    async def _close(self) -> None:
        for route in self._routes.values():
            route.server.close()
            for link in list(route.links):
                link.abort()
            route.links.clear()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in others:
            t.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _accepted(self, route: _Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if route.mode is Mode.CUT:
            writer.transport.abort()
            return
        link = _Link(writer)
        route.links.add(link)
        try:
            # a stalled route holds the new connection before it even reaches the controller
            await route.flowing.wait()
            if route.mode is Mode.CUT or link not in route.links:
                writer.transport.abort()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
            except OSError:  # the controller is down: the agent sees its connection reset
                writer.transport.abort()
                return
            link.upstream = up_writer
            if link not in route.links:  # cut while connecting
                link.abort()
                return
            link.tasks = [asyncio.ensure_future(self._pump(route, reader, up_writer)),
                          asyncio.ensure_future(self._pump(route, up_reader, writer))]
            # when either direction ends, the link ends (a half-closed TLS connection is of no use)
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the proxy is closing: the handler ends quietly (asyncio's streams would log it)
        finally:
            route.links.discard(link)
            link.abort()

    @staticmethod
    async def _pump(route: _Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One direction of a link, chunk by chunk, as the route's mode allows."""
        try:
            while data := await reader.read(CHUNK):
                await route.flowing.wait()  # stalled: the chunk is held, nothing after it is read
                if route.mode is Mode.SLOW:
                    slow = route.slowness
                    pace = len(data) / slow.bytes_per_second if slow.bytes_per_second else 0.0
                    await asyncio.sleep(slow.delay_seconds + pace)
                    await route.flowing.wait()  # stalled meanwhile
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
