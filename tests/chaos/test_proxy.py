"""controller/dev/chaos/proxy.py against an echo server on 127.0.0.1: what each mode does to the
connections of its route, and only of its route."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from controller.dev.chaos.proxy import FaultProxy, Mode, Slowness


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return

            def echo(c: socket.socket = conn) -> None:
                with c:
                    while data := c.recv(65536):
                        c.sendall(data)
            threading.Thread(target=echo, daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[FaultProxy]:
    p = FaultProxy(echo_port)
    yield p
    p.close()


def connect(address: str) -> socket.socket:
    host, port = address.split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    return s


def round_trip(s: socket.socket, data: bytes = b"ping") -> bytes:
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def closed(s: socket.socket) -> bool:
    try:
        s.sendall(b"x")
        return s.recv(10) == b""
    except OSError:
        return True


def test_a_route_passes_bytes_both_ways(proxy: FaultProxy) -> None:
    with connect(proxy.add_route("a")) as s:
        assert round_trip(s, b"hello" * 1000) == b"hello" * 1000
    assert proxy.mode("a") is Mode.PASS


def test_a_stall_holds_every_byte_until_restored_and_loses_none(proxy: FaultProxy) -> None:
    with connect(proxy.add_route("a")) as s:
        assert round_trip(s) == b"ping"
        proxy.stall(["a"])
        s.sendall(b"held")
        s.settimeout(1.0)
        with pytest.raises(TimeoutError):
            s.recv(10)
        proxy.restore(["a"])
        s.settimeout(5.0)
        assert s.recv(10) == b"held"


def test_a_cut_resets_the_route_s_connections_and_refuses_new_ones_until_restored(proxy: FaultProxy) -> None:
    a, b = proxy.add_route("a"), proxy.add_route("b")
    with connect(a) as on_a, connect(b) as on_b:
        assert round_trip(on_a) == b"ping" and round_trip(on_b) == b"ping"
        proxy.cut(["a"])
        assert closed(on_a)
        assert round_trip(on_b) == b"ping"  # another route is untouched
        with connect(a) as again:
            assert closed(again)
    proxy.restore(["a"])
    with connect(a) as after:
        assert round_trip(after) == b"ping"


def test_slow_delays_and_paces_then_restore_is_fast_again(proxy: FaultProxy) -> None:
    with connect(proxy.add_route("a")) as s:
        proxy.slow(["a"], Slowness(0.3, 2000))
        began = time.monotonic()
        assert round_trip(s, b"x" * 1000) == b"x" * 1000
        slow = time.monotonic() - began
        proxy.restore(["a"])
        began = time.monotonic()
        assert round_trip(s, b"x" * 1000) == b"x" * 1000
        assert slow > 0.6 > time.monotonic() - began  # two delays and two paced halves, then none
