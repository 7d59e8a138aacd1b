"""controller.events.webhooks against a real HTTP(S) receiver on 127.0.0.1 (http.server in a thread)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from controller.events.bus import EventBus, EventKind, StatusEvent
from controller.events.webhooks import WebhookConfig, WebhookSender, load_webhooks, sign, verify_signature
from controller.trust.pki import CertificateAuthority, create_ca
from plugins.sdk.errors import InputError
from plugins.sdk.secrets import MASK, Secret
from plugins.sdk.status import Detail

SECRET = "whsec-7f3a9c1e-never-print-me"
FAST = {"initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.05, "timeout_seconds": 2.0}


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A webhook endpoint. ``answer(n)`` gives the status for the n-th request (1-based)."""

    def __init__(self, answer: Callable[[int], int] = lambda n: 200, port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer._lock:
                    outer.requests.append(Received(self.path, dict(self.headers.items()), body))
                    n = len(outer.requests)
                self.send_response(answer(n))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def url(self, path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]


@contextmanager
def receiver(answer: Callable[[int], int] = lambda n: 200, port: int = 0,
             tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    r = Receiver(answer, port, tls)
    r._thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


def hook(url: str, **kw: object) -> WebhookConfig:
    return WebhookConfig(url=url, secret=Secret(SECRET), **{**FAST, **kw})  # type: ignore[arg-type]


def event(seq: int, kind: str = "invocation") -> StatusEvent:
    return StatusEvent(EventKind(kind), f"cmd-{seq}", "" if kind == "command" else "mi-1", Detail.FAILED, 1_000, seq)


def independent_signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# -- delivery ------------------------------------------------------------------------------------


def test_every_published_event_arrives_in_order_signed_with_headers_and_json() -> None:
    async def scenario(r: Receiver) -> None:
        feed, dispatcher = EventBus(), WebhookSender([hook(r.url("/in/hook?team=ops"))])
        feed.add_sink(dispatcher.submit)
        dispatcher.start()
        published = [feed.announce(EventKind.COMMAND if i % 4 == 0 else EventKind.INVOCATION, f"cmd-{i // 4}",
                                   "" if i % 4 == 0 else f"mi-{i}", Detail.IN_PROGRESS, 1_700_000_000_000 + i)
                     for i in range(40)]
        await until(lambda: dispatcher.delivered == 40)
        await dispatcher.stop(1)
        got = r.received()
        assert len(got) == 40
        deliveries = set()
        for sent, req in zip(published, got, strict=True):
            assert req.path == "/in/hook?team=ops"
            assert json.loads(req.body) == sent.to_json()  # in order: the i-th request is the i-th event
            h = req.headers
            assert h["Content-Type"] == "application/json"
            assert h["X-Outpost-Event"] == sent.kind
            assert uuid.UUID(h["X-Outpost-Delivery"]).version == 4
            deliveries.add(h["X-Outpost-Delivery"])
            assert abs(int(h["X-Outpost-Timestamp"]) - time.time()) < 60
            assert verify_signature(SECRET, h["X-Outpost-Timestamp"], req.body, h["X-Outpost-Signature"])
            assert h["X-Outpost-Signature"] == independent_signature(SECRET, h["X-Outpost-Timestamp"], req.body)
        assert len(deliveries) == 40
        assert (dispatcher.failed, dispatcher.retried, dispatcher.queued) == (0, 0, 0)

    with receiver() as r:
        asyncio.run(scenario(r))


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt() -> None:
    async def scenario(r: Receiver) -> None:
        dispatcher = WebhookSender([hook(r.url())])
        dispatcher.start()
        dispatcher.submit(event(1))
        await until(lambda: dispatcher.delivered == 1)
        await dispatcher.stop(1)
        got = r.received()
        assert len(got) == 3
        assert len({req.headers["X-Outpost-Delivery"] for req in got}) == 1  # one id across retries
        assert all(req.body == got[0].body for req in got)
        assert all(verify_signature(SECRET, q.headers["X-Outpost-Timestamp"], q.body,
                                    q.headers["X-Outpost-Signature"]) for q in got)
        assert (dispatcher.delivered, dispatcher.retried, dispatcher.failed) == (1, 2, 0)

    with receiver(lambda n: 500 if n <= 2 else 200) as r:
        asyncio.run(scenario(r))


def test_after_max_attempts_the_event_is_dropped_and_later_ones_still_go(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(r: Receiver) -> None:
        dispatcher = WebhookSender([hook(r.url(), max_attempts=3)])
        dispatcher.start()
        dispatcher.submit(event(1))
        dispatcher.submit(event(2))
        await until(lambda: dispatcher.delivered == 1)
        await dispatcher.stop(1)
        assert [json.loads(q.body)["seq"] for q in r.received()] == [1, 1, 1, 2]
        assert (dispatcher.delivered, dispatcher.failed, dispatcher.retried) == (1, 1, 2)

    with caplog.at_level(logging.ERROR, logger="controller.events.webhooks"), \
            receiver(lambda n: 503 if n <= 3 else 204) as r:
        asyncio.run(scenario(r))
    [record] = [x for x in caplog.records if x.levelno == logging.ERROR]
    assert "gave up" in record.getMessage() and "seq=1" in record.getMessage() and "HTTP 503" in record.getMessage()


def test_submit_does_no_io_so_a_down_receiver_never_blocks_it() -> None:
    port = closed_port()

    async def scenario() -> None:
        dispatcher = WebhookSender([hook(f"http://127.0.0.1:{port}/hook", max_attempts=1_000)])
        dispatcher.start()
        for i in range(1, 1_001):
            dispatcher.submit(event(i))
        # No await happened yet, so no connection was even tried: all 1,000 are simply queued.
        assert dispatcher.queued == 1_000 and dispatcher.delivered == 0
        await until(lambda: dispatcher.retried >= 3)  # refused, refused, refused...
        assert dispatcher.delivered == 0 and dispatcher.queued == 1_000
        with receiver(port=port) as r:
            await until(lambda: dispatcher.delivered == 1_000, timeout=15)
            await dispatcher.stop(1)
            assert [json.loads(q.body)["seq"] for q in r.received()] == list(range(1, 1_001))
        assert dispatcher.failed == 0

    asyncio.run(scenario())


def test_a_webhook_gets_only_the_event_kinds_it_asked_for() -> None:
    async def scenario(r: Receiver) -> None:
        dispatcher = WebhookSender([hook(r.url("/all")), hook(r.url("/cmd"), events=frozenset({"command"}))])
        feed = EventBus()
        feed.add_sink(dispatcher.submit)
        dispatcher.start()
        for i in range(6):
            feed.announce(EventKind.COMMAND if i % 2 else EventKind.INVOCATION, "c-1", "" if i % 2 else "mi-1",
                          Detail.SUCCESS, 0)
        await until(lambda: dispatcher.delivered == 9)
        await dispatcher.stop(1)
        assert [json.loads(q.body)["seq"] for q in r.received("/all")] == [1, 2, 3, 4, 5, 6]
        cmd = r.received("/cmd")
        assert [json.loads(q.body)["seq"] for q in cmd] == [2, 4, 6]
        assert {q.headers["X-Outpost-Event"] for q in cmd} == {"command"}

    with receiver() as r:
        asyncio.run(scenario(r))


def test_a_receiver_that_never_answers_times_out_and_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        attempts = 0

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal attempts
            attempts += 1
            await reader.read()  # reads to EOF and never answers: returns when the client gives up
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        dispatcher = WebhookSender([hook(f"http://127.0.0.1:{port}/", max_attempts=2, timeout_seconds=0.2)])
        dispatcher.start()
        dispatcher.submit(event(1))
        await until(lambda: dispatcher.failed == 1)
        await dispatcher.stop(1)
        server.close()
        assert attempts == 2 and dispatcher.retried == 1 and dispatcher.delivered == 0

    with caplog.at_level(logging.DEBUG, logger="controller.events.webhooks"):
        asyncio.run(scenario())
    assert sum("TimeoutError" in x.getMessage() for x in caplog.records) == 3  # 2 attempts + the give-up


def test_a_full_queue_drops_its_oldest_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(r: Receiver) -> None:
        dispatcher = WebhookSender([hook(r.url())], queue_limit=3)
        for i in range(1, 6):
            dispatcher.submit(event(i))  # before start(): queued, not lost
        assert (dispatcher.queued, dispatcher.dropped) == (3, 2)
        dispatcher.start()
        await until(lambda: dispatcher.delivered == 3)
        await dispatcher.stop(1)
        assert [json.loads(q.body)["seq"] for q in r.received()] == [3, 4, 5]
        assert dispatcher.stats()[0].dropped == 2

    with caplog.at_level(logging.WARNING, logger="controller.events.webhooks"), receiver() as r:
        asyncio.run(scenario(r))
    assert any("queue full" in x.getMessage() and "dropped" in x.getMessage() for x in caplog.records)


def test_stop_drains_then_gives_up_on_a_dead_receiver(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        with receiver() as r:
            dispatcher = WebhookSender([hook(r.url())])
            dispatcher.start()
            for i in range(1, 21):
                dispatcher.submit(event(i))
            await dispatcher.stop(5)  # drains everything that was queued
            assert dispatcher.delivered == 20 and len(r.received()) == 20
            dispatcher.submit(event(21))  # a stopped dispatcher ignores new events
            assert dispatcher.queued == 0
        dead = WebhookSender([hook(f"http://127.0.0.1:{closed_port()}/", max_attempts=1_000)])
        dead.start()
        dead.submit(event(1))
        started = time.monotonic()
        await dead.stop(0.2)
        assert time.monotonic() - started < 2
        assert dead.delivered == 0

    with caplog.at_level(logging.WARNING, logger="controller.events.webhooks"):
        asyncio.run(scenario())
    assert any("1 undelivered" in x.getMessage() for x in caplog.records)


def test_https_delivery_verifies_the_receiver_certificate() -> None:
    ca = create_ca()
    leaf = CertificateAuthority(ca).issue_server(["127.0.0.1"])
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "s.crt").write_bytes(leaf.cert_pem)
        (Path(tmp) / "s.key").write_bytes(leaf.key_pem)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(Path(tmp) / "s.crt", Path(tmp) / "s.key")

    async def scenario(r: Receiver) -> None:
        trusting = WebhookSender([hook(r.url(scheme="https"))],
                                     ssl_context=ssl.create_default_context(cadata=ca.cert_pem.decode()))
        untrusting = WebhookSender([hook(r.url(scheme="https"), max_attempts=1)])  # system CAs only
        for d in (trusting, untrusting):
            d.start()
            d.submit(event(1))
        await until(lambda: trusting.delivered == 1 and untrusting.failed == 1)
        await asyncio.gather(trusting.stop(1), untrusting.stop(1))
        assert untrusting.delivered == 0

    with receiver(tls=tls) as r:
        asyncio.run(scenario(r))
    assert len(r.received()) == 1


# -- secrets -------------------------------------------------------------------------------------


def test_the_secret_is_never_logged_nor_in_a_repr(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(r: Receiver) -> WebhookSender:
        dispatcher = WebhookSender([hook(r.url(), max_attempts=2),
                                        hook(f"http://127.0.0.1:{closed_port()}/x", max_attempts=2)], queue_limit=1)
        for i in range(1, 4):
            dispatcher.submit(event(i))
        dispatcher.start()
        await until(lambda: dispatcher.failed == 2)
        await dispatcher.stop(1)
        return dispatcher

    with caplog.at_level(logging.DEBUG), receiver(lambda n: 500) as r:
        dispatcher = asyncio.run(scenario(r))
    [config] = load_webhooks([{"url": "https://example.com/h", "secret": SECRET}], "webhooks")
    with pytest.raises(InputError) as caught:
        load_webhooks([{"url": "ftp://example.com/", "secret": SECRET}], "webhooks")
    texts = [caplog.text, *(x.getMessage() for x in caplog.records), repr(config), str(config), f"{config}",
             repr(dispatcher), repr(dispatcher.stats()), str(caught.value)]
    assert any("gave up" in t for t in texts)  # the failures were logged...
    assert MASK in repr(config)
    for text in texts:
        assert SECRET not in text  # ...without the secret


# -- signatures ----------------------------------------------------------------------------------


def test_verify_signature_accepts_only_the_exact_fresh_signature() -> None:
    body, ts = b'{"seq":1}', str(int(time.time()))
    good = independent_signature(SECRET, ts, body)
    assert sign(Secret(SECRET), ts, body) == good
    assert verify_signature(SECRET, ts, body, good)
    assert verify_signature(Secret(SECRET), ts, body, good)
    assert not verify_signature(SECRET, ts, body + b" ", good)
    assert not verify_signature("other", ts, body, good)
    assert not verify_signature(SECRET, ts, body, good.removeprefix("sha256="))
    assert not verify_signature(SECRET, ts, body, good.upper())
    assert not verify_signature(SECRET, ts, body, "sha256=\u00e9" + good[8:])
    assert not verify_signature(SECRET, "-1", body, good)
    assert not verify_signature(SECRET, ts + "x", body, good)
    old = str(int(time.time()) - 301)
    assert not verify_signature(SECRET, old, body, independent_signature(SECRET, old, body))
    assert verify_signature(SECRET, old, body, independent_signature(SECRET, old, body), max_age_seconds=None)


# -- configuration -------------------------------------------------------------------------------


def test_load_webhooks_reads_the_yaml_list_with_defaults() -> None:
    assert load_webhooks(None, "webhooks") == ()
    a, b = load_webhooks([{"url": "https://h.example/x", "secret": "s1"},
                          {"url": "http://10.0.0.1:8080/y?k=v", "secret": "s2", "events": ["command"],
                           "max_attempts": 3, "timeout_seconds": 1}], "webhooks")
    assert a.events == frozenset({"command", "invocation"}) and a.max_attempts == 8
    assert a.secret == Secret("s1") and a.origin == "https://h.example:443"
    assert b.events == frozenset({"command"}) and b.max_attempts == 3 and b.timeout_seconds == 1.0
    assert b.origin == "http://10.0.0.1:8080"


OK = {"url": "https://h.example/x", "secret": "s"}


@pytest.mark.parametrize(("raw", "where"), [
    ({"url": "x"}, "webhooks"),
    ([OK, "https://h.example"], "webhooks[1]"),
    ([OK, {"secret": "s"}], "webhooks[1].url"),
    ([OK, {**OK, "url": "ftp://h.example/"}], "webhooks[1].url"),
    ([{**OK, "url": "h.example/x"}], "webhooks[0].url"),
    ([{**OK, "url": "https:///nohost"}], "webhooks[0].url"),
    ([{**OK, "url": "https://u:p@h.example/"}], "webhooks[0].url"),
    ([{**OK, "url": "https://h.example:99999/"}], "webhooks[0].url"),
    ([{**OK, "url": 5}], "webhooks[0].url"),
    ([{**OK, "url": "https://h.example/\u00e9t\u00e9"}], "webhooks[0].url"),
    ([{**OK, "url": "https://h.example/a\r\nX-Injected: 1"}], "webhooks[0].url"),
    ([{"url": OK["url"]}], "webhooks[0].secret"),
    ([{**OK, "secret": "  "}], "webhooks[0].secret"),
    ([{**OK, "events": []}], "webhooks[0].events"),
    ([{**OK, "events": "command"}], "webhooks[0].events"),
    ([{**OK, "events": ["command", "step"]}], "webhooks[0].events[1]"),
    ([{**OK, "events": [["command"]]}], "webhooks[0].events[0]"),
    ([{**OK, "evnts": ["command"]}], "webhooks[0].evnts"),
    ([{**OK, "max_attempts": 0}], "webhooks[0].max_attempts"),
    ([{**OK, "max_attempts": 2.5}], "webhooks[0].max_attempts"),
    ([{**OK, "timeout_seconds": True}], "webhooks[0].timeout_seconds"),
    ([{**OK, "initial_backoff_seconds": 5, "max_backoff_seconds": 1}], "webhooks[0].max_backoff_seconds"),
])
def test_load_webhooks_names_the_bad_field(raw: object, where: str) -> None:
    with pytest.raises(InputError) as caught:
        load_webhooks(raw, "webhooks")
    assert caught.value.where == where


def test_a_config_built_in_code_wraps_a_plain_secret_and_checks_numbers() -> None:
    config = WebhookConfig(url="http://h/", secret="plain")  # type: ignore[arg-type]
    assert isinstance(config.secret, Secret) and "plain" not in repr(config)
    with pytest.raises(ValueError):
        WebhookConfig(url="http://h/", secret=Secret("s"), max_attempts=0)
    with pytest.raises(InputError):
        WebhookConfig(url="file:///etc/passwd", secret=Secret("s"))
