"""Commands' own notifications (SSM's NotificationConfig): the config and its checks
(controller/notification.py), the CLI's forms of it (controller/cli/notify.py), SSM's events mapped
onto every status detail, and the sink (controller/events/notices.py) delivering through a real
WebhookSender to a real local receiver: only the chosen type and events, signed with the
notification secret, forgotten at the command's end. Also the sender's HTTP client: a proxy from the
environment is used, and a CA bundle in controller.yaml is checked at start."""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from controller.cli.notify import notification_of, ssm_notification
from controller.events.bus import EventBus, EventKind
from controller.events.notices import CommandNotices
from controller.events.webhook_config import load_ca_bundle, load_notification_secret
from controller.events.webhooks import WebhookSender, verify_signature
from controller.notification import (
    NotificationConfig,
    NotificationEvent,
    NotificationType,
    notification_config,
)
from controller.trust.pki import create_ca
from plugins.sdk.errors import InputError
from plugins.sdk.secrets import Secret
from plugins.sdk.status import Detail
from tests.controller.test_webhooks import Receiver, receiver, until

NOTIFY_SECRET = "notification-secret-0123456789abcdef"
TOKEN = "tok-5e1f-never-logged"
E = NotificationEvent


# -- the config ----------------------------------------------------------------------------------

def test_a_config_from_its_parts_with_ssm_defaults() -> None:
    c = notification_config("https://h.example/x?t=1", ["success", " Failed "], "invocation", "n")
    assert (c.url, c.events, c.type) == ("https://h.example/x?t=1", {E.SUCCESS, E.FAILED}, NotificationType.INVOCATION)
    assert c.event_names == ["Success", "Failed"]  # SSM's order, whatever the order given
    d = notification_config("http://10.0.0.1:8080/", [], "", "n")
    assert (d.events, d.type) == (frozenset({E.ALL}), NotificationType.COMMAND)


@pytest.mark.parametrize(("url", "events", "type_", "where", "says"), [
    ("", [], "", "n.url", "give the http"),
    ("arn:aws:sns:us-east-1:123456789012:topic", [], "", "n.url", "Outpost has no SNS"),
    ("ftp://h.example/", [], "", "n.url", "only http:// and https://"),
    ("https://u:p@h.example/", [], "", "n.url", "credentials in the URL"),
    ("https:///x", [], "", "n.url", "no host"),
    ("https://h.example:99999/", [], "", "n.url", "not a valid URL"),
    ("https://h.example/a b", [], "", "n.url", "without whitespace"),
    ("https://h.example/a\x01b", [], "", "n.url", "control characters"),
    ("https://h.example/" + "x" * 2100, [], "", "n.url", "at most 2048"),
    ("https://h.example/", ["Success", "Done"], "", "n.events", "unknown event 'Done'"),
    ("https://h.example/", ["DeliveryTimedOut"], "", "n.events", "unknown event"),
    ("https://h.example/", [], "Both", "n.type", "unknown type 'Both'"),
])
def test_a_bad_part_is_refused_naming_it(url: str, events: list[str], type_: str, where: str, says: str) -> None:
    with pytest.raises(InputError) as caught:
        notification_config(url, events, type_, "n")
    assert caught.value.where == where and says in caught.value.message


def test_the_url_is_never_shown_past_its_origin() -> None:
    c = NotificationConfig(f"https://hooks.example.com/in/{TOKEN}?k={TOKEN}")
    assert c.origin == "https://hooks.example.com:443"
    assert c.shown == "https://hooks.example.com:443/********"
    for text in (repr(c), str(c), c.shown):
        assert TOKEN not in text
    with pytest.raises(InputError) as caught:
        notification_config(f"gopher://h/{TOKEN}", [], "", "n")
    assert TOKEN not in str(caught.value)


# SSM's events are its statuses: each detail notifies under the event of its status, or only under All
EXPECTED_EVENT = {
    Detail.PENDING: None, Detail.DELAYED: None, Detail.CANCELLING: None,
    Detail.IN_PROGRESS: E.IN_PROGRESS, Detail.SUCCESS: E.SUCCESS, Detail.INCOMPLETE: E.SUCCESS,
    Detail.SKIPPED: E.SUCCESS, Detail.DELIVERY_TIMED_OUT: E.TIMED_OUT, Detail.EXECUTION_TIMED_OUT: E.TIMED_OUT,
    Detail.CANCELLED: E.CANCELLED, Detail.TERMINATED: E.CANCELLED, Detail.FAILED: E.FAILED,
    Detail.UNDELIVERABLE: E.FAILED, Detail.AGENT_LOST: E.FAILED, Detail.INVALID_PLATFORM: E.FAILED,
    Detail.ACCESS_DENIED: E.FAILED, Detail.NO_INSTANCES_IN_TAG: E.FAILED,
}


@pytest.mark.parametrize("detail", list(Detail))
def test_ssm_events_map_onto_every_detail(detail: Detail) -> None:
    want = EXPECTED_EVENT[detail]
    for event in NotificationEvent:
        for kind in NotificationType:
            c = NotificationConfig("https://h.example/", frozenset({event}), kind)
            for invocation in (False, True):
                expected = invocation == (kind is NotificationType.INVOCATION) and (event is E.ALL or event is want)
                assert c.wants(invocation, detail.status) == expected, (event, kind, invocation)


# -- the CLI's forms -----------------------------------------------------------------------------

def test_command_send_options() -> None:
    assert notification_of(None, None, None) is None
    c = notification_of("https://h.example/x", "Success,TimedOut", "Invocation")
    assert c is not None and (c.events, c.type) == ({E.SUCCESS, E.TIMED_OUT}, NotificationType.INVOCATION)
    for args, where in (((None, "Success", None), "--notify-events"), ((None, None, "Command"), "--notify-type"),
                        (("https://h.example/", ",", None), "--notify-events"),
                        (("https://h.example/", "Sucess", None), "--notify-events"),
                        (("arn:aws:sns:r:1:t", None, None), "--notify-url")):
        with pytest.raises(InputError) as caught:
            notification_of(*args)
        assert caught.value.where == where, args


@pytest.mark.parametrize("given", [
    "NotificationArn=https://h.example/x?a=1&b=2,NotificationEvents=Success,Failed,NotificationType=Invocation",
    "notificationarn=https://h.example/x?a=1&b=2,notificationevents=[Success,Failed],notificationtype=Invocation",
    '{"NotificationArn": "https://h.example/x?a=1&b=2", "NotificationEvents": ["Success", "Failed"], '
    '"NotificationType": "Invocation"}',
    {"NotificationArn": "https://h.example/x?a=1&b=2", "NotificationEvents": ["Success", "Failed"],
     "NotificationType": "Invocation"},
])
def test_ssm_notification_config_shorthand_and_json(given: object) -> None:
    c = ssm_notification(given)
    assert c is not None and c.url == "https://h.example/x?a=1&b=2"
    assert (c.events, c.type) == ({E.SUCCESS, E.FAILED}, NotificationType.INVOCATION)
    assert ssm_notification("NotificationArn=http://h.example/").events == {E.ALL}  # type: ignore[union-attr]


# -- the sink and the sender, against a real receiver ---------------------------------------------

def _sender(**kw: object) -> WebhookSender:
    return WebhookSender([], notification_secret=Secret(NOTIFY_SECRET), **kw)  # type: ignore[arg-type]


def test_only_the_chosen_type_and_events_are_posted_signed_then_the_command_is_forgotten() -> None:
    async def scenario(r: Receiver) -> None:
        bus, sender = EventBus(), _sender()
        notices = CommandNotices(sender)
        bus.add_sink(notices.submit)
        sender.start()
        notices.watch("c-inv", NotificationConfig(r.url(f"/inv/{TOKEN}"), frozenset({E.SUCCESS, E.FAILED}),
                                                  NotificationType.INVOCATION))
        notices.watch("c-cmd", NotificationConfig(r.url("/cmd"), frozenset({E.IN_PROGRESS, E.TIMED_OUT})))
        changes = [(EventKind.COMMAND, "c-inv", "", Detail.IN_PROGRESS),
                   (EventKind.INVOCATION, "c-inv", "mi-1", Detail.IN_PROGRESS),
                   (EventKind.INVOCATION, "c-inv", "mi-1", Detail.SUCCESS),
                   (EventKind.INVOCATION, "c-inv", "mi-2", Detail.AGENT_LOST),
                   (EventKind.INVOCATION, "c-inv", "mi-3", Detail.CANCELLED),
                   (EventKind.COMMAND, "c-inv", "", Detail.FAILED),
                   (EventKind.INVOCATION, "c-inv", "mi-4", Detail.FAILED),  # after its end: forgotten
                   (EventKind.COMMAND, "c-cmd", "", Detail.PENDING),
                   (EventKind.COMMAND, "c-cmd", "", Detail.IN_PROGRESS),
                   (EventKind.INVOCATION, "c-cmd", "mi-1", Detail.EXECUTION_TIMED_OUT),
                   (EventKind.COMMAND, "c-cmd", "", Detail.EXECUTION_TIMED_OUT),
                   (EventKind.COMMAND, "c-other", "", Detail.SUCCESS)]
        for kind, cid, node, detail in changes:
            bus.announce(kind, cid, node, detail, 1_000)
        await until(lambda: sender.delivered == 4)
        assert notices.watching == 0
        await sender.stop(1)

    with receiver() as r:
        asyncio.run(scenario(r))
    got = {path: [json.loads(q.body) for q in r.received(path)] for path in (f"/inv/{TOKEN}", "/cmd")}
    assert [(b["kind"], b["nodeId"], b["statusDetails"]) for b in got[f"/inv/{TOKEN}"]] == [
        ("invocation", "mi-1", "Success"), ("invocation", "mi-2", "AgentLost")]
    assert [(b["kind"], b["statusDetails"]) for b in got["/cmd"]] == [
        ("command", "InProgress"), ("command", "ExecutionTimedOut")]
    assert len(r.received()) == 4
    for q in r.received():
        h = q.headers
        assert verify_signature(NOTIFY_SECRET, h["X-Outpost-Timestamp"], q.body, h["X-Outpost-Signature"])
        assert h["X-Outpost-Event"] == json.loads(q.body)["kind"] and h["User-Agent"] == "outpost-webhooks/1"


def test_a_failing_notification_url_is_retried_and_logged_by_origin_only(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(r: Receiver) -> WebhookSender:
        bus, sender = EventBus(), _sender()
        notices = CommandNotices(sender)
        bus.add_sink(notices.submit)
        sender.start()
        notices.watch("c-1", NotificationConfig(r.url(f"/x/{TOKEN}")))
        bus.announce(EventKind.COMMAND, "c-1", "", Detail.SUCCESS, 1_000)
        await until(lambda: sender.delivered == 1)
        await sender.stop(1)
        return sender

    with caplog.at_level(logging.DEBUG), receiver(lambda n: 500 if n == 1 else 200) as r:
        sender = asyncio.run(scenario(r))
    first, second = r.received()
    assert first.headers["X-Outpost-Delivery"] == second.headers["X-Outpost-Delivery"] and first.body == second.body
    assert (sender.retried, sender.failed, sender.queued) == (1, 0, 0)
    assert any("HTTP 500" in x.getMessage() for x in caplog.records)
    assert TOKEN not in caplog.text


def test_without_a_notification_secret_notifications_are_not_enabled() -> None:
    async def scenario() -> None:
        sender = WebhookSender([])
        assert not CommandNotices(sender).enabled and not sender.signs_notifications
        sender.start()
        sender.notify("http://127.0.0.1:9/x", EventBus().announce(EventKind.COMMAND, "c", "", Detail.SUCCESS))
        assert sender.queued == 0
        await sender.stop(0)
    asyncio.run(scenario())
    assert CommandNotices(_sender()).enabled


# -- the HTTP client ------------------------------------------------------------------------------

class RecordingProxy:
    """A tiny HTTP proxy: records each request line (absolute-URI form for http://) and answers 204."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next((int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:")), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                self.lines.append(lines[0])
                conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@contextmanager
def recording_proxy() -> Iterator[RecordingProxy]:
    p = RecordingProxy()
    p._thread.start()
    try:
        yield p
    finally:
        p._sock.close()


def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver's name does not resolve: only the proxy can have delivered it."""
    async def scenario() -> WebhookSender:
        sender = _sender()
        sender.start()
        sender.notify("http://hooks.outpost-test.invalid/in?x=1",
                      EventBus().announce(EventKind.COMMAND, "c", "", Detail.SUCCESS))
        await until(lambda: sender.delivered == 1)
        await sender.stop(1)
        return sender

    with recording_proxy() as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        sender = asyncio.run(scenario())
    assert proxy.lines == ["POST http://hooks.outpost-test.invalid/in?x=1 HTTP/1.1"]
    assert sender.delivered == 1


def test_a_ca_bundle_must_be_a_readable_pem_of_certificates(tmp_path: Path) -> None:
    good = tmp_path / "ca.pem"
    good.write_bytes(create_ca().cert_pem)
    assert load_ca_bundle(str(good)) == good and load_ca_bundle(None) is None
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    for raw, says in ((str(tmp_path / "missing.pem"), "no such file"), (str(tmp_path / "junk.pem"), "not a PEM"),
                      (str(tmp_path), "cannot read"), ("", "expected the path"), (5, "expected the path")):
        with pytest.raises(InputError) as caught:
            load_ca_bundle(raw)
        assert caught.value.where == "webhooks_ca_bundle" and says in caught.value.message, (raw, caught.value)
        assert "\n" not in str(caught.value)


def test_the_notification_secret_is_checked_and_never_shown() -> None:
    assert load_notification_secret(None) is None
    assert load_notification_secret(NOTIFY_SECRET) == Secret(NOTIFY_SECRET)
    for raw in ("short", 12345, ["x"]):
        with pytest.raises(InputError) as caught:
            load_notification_secret(raw)
        assert caught.value.where == "notification_secret" and "short" not in str(caught.value)
