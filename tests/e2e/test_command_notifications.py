"""End to end: commands' own notifications (SSM's --notification-config) from a real controller and
real agents to a receiver in the test process.

The receiver is HTTPS with a certificate of a test CA that controller.yaml's ``webhooks_ca_bundle``
names (the system's trust store does not know it), and controller.yaml has a ``notification_secret``.
One command is sent with ``outpost command send --notify-url ... --notify-type Invocation``, another
with ``outpost ssm send-command --notification-config ...``: each URL gets the changes of its type and
events and no others, every request signed with the notification secret; the receiver's first answer
is 500 and that event comes again, under the same delivery id. The URL's token is in no log and in no
listing. A notification stays in force across a controller restart; a controller without the secret
refuses a send with one, and one with a bad CA bundle does not start; both in one line."""
from __future__ import annotations

import json
import ssl
import time
from pathlib import Path

import yaml

from controller.events.webhooks import verify_signature
from controller.trust.pki import CertificateAuthority, create_ca
from tests.controller.test_webhooks import Received, receiver
from tests.support.cluster import Cluster, wait_for
from tests.support.docrun import AgentSpec, by_node, send, start_fleet, wait_terminal

SECRET = "notification secret for the e2e test, 32+"
TOKEN = "tok-b7e2c9-never-shown"


def _configure(cluster: Cluster, **settings: object) -> None:
    path = cluster.controller_dir / "controller.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.update(settings)
    path.write_text(yaml.safe_dump(doc, sort_keys=True))


def _tls(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A test CA's bundle, and a server context with a certificate it issued for 127.0.0.1."""
    ca = create_ca()
    leaf = CertificateAuthority(ca).issue_server(["127.0.0.1"])
    (tmp_path / "hook.crt").write_bytes(leaf.cert_pem)
    (tmp_path / "hook.key").write_bytes(leaf.key_pem)
    (tmp_path / "hook-ca.pem").write_bytes(ca.cert_pem)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "hook.crt", tmp_path / "hook.key")
    return tmp_path / "hook-ca.pem", tls


def _seen(requests: list[Received]) -> list[tuple[str, str, str]]:
    """(kind, node, detail) of each request's body, in the order received."""
    return [(b["kind"], b["nodeId"], b["statusDetails"]) for b in (json.loads(q.body) for q in requests)]


def test_notifications_reach_an_https_receiver_as_configured_signed_and_retried(cluster: Cluster,
                                                                                tmp_path: Path) -> None:
    bundle, tls = _tls(tmp_path)
    _configure(cluster, notification_secret=SECRET, webhooks_ca_bundle=str(bundle))
    with receiver(lambda n: 500 if n == 1 else 200, tls=tls) as r:
        start_fleet(cluster, [AgentSpec("ok", "Role=web"), AgentSpec("bad", "Role=web")])
        ok, bad = cluster.node_ids["ok"], cluster.node_ids["bad"]
        script = f'commands=[ "$OUTPOST_NODE_ID" != "{bad}" ] || exit 5'
        inv_path, cmd_path = f"/inv/{TOKEN}?t={TOKEN}", "/cmd"
        a = send(cluster, "--document", "Outpost-RunShellScript", "--targets", "Key=tag:Role,Values=web",
                 "--parameters", script, "--notify-url", r.url(inv_path, scheme="https"),
                 "--notify-events", "Success,Failed", "--notify-type", "Invocation")
        sent = cluster.outpost_json("ssm", "send-command", "--document-name", "AWS-RunShellScript", "--targets",
                                    "Key=tag:Role,Values=web", "--parameters", script, "--notification-config",
                                    f"NotificationArn={r.url(cmd_path, scheme='https')},"
                                    "NotificationEvents=InProgress,Failed,NotificationType=Command")
        assert isinstance(sent, dict)
        b = sent["Command"]["CommandId"]
        assert sent["Command"]["NotificationConfig"] == {
            "NotificationArn": f"https://127.0.0.1:{r.port}/********", "NotificationEvents": ["InProgress", "Failed"],
            "NotificationType": "Command"}
        for cid in (a, b):
            shown = wait_terminal(cluster, cid, timeout=60)
            assert {n: i["status_detail"] for n, i in by_node(shown).items()} == {ok: "Success", bad: "Failed"}
        want_a = {("invocation", ok, "Success"), ("invocation", bad, "Failed")}
        want_b = [("command", "", "InProgress"), ("command", "", "Failed")]

        def delivered() -> bool:
            got = [q for q in r.received() if q.path in (inv_path, cmd_path)]
            return len(got) >= 5  # four events, one of them twice (the 500)
        wait_for(delivered, 60, "the notifications of both commands", interval=0.2)
        time.sleep(1.5)  # anything not chosen would arrive by now
        listed = cluster.outpost("ssm", "list-commands", "--command-id", a).stdout
        shown_text = cluster.outpost("command", "show", a).stdout
        logs = cluster.logs()

    first, *rest = r.received()
    assert first.path == inv_path and json.loads(first.body)["commandId"] == a
    retry = [q for q in rest if q.headers["X-Outpost-Delivery"] == first.headers["X-Outpost-Delivery"]]
    assert len(retry) == 1 and retry[0].body == first.body  # the event refused with 500, again
    inv = [q for q in rest if q.path == inv_path]
    assert {json.loads(q.body)["commandId"] for q in inv} == {a} and set(_seen(inv)) == want_a and len(inv) == 2
    cmd = r.received(cmd_path)
    assert {json.loads(q.body)["commandId"] for q in cmd} == {b} and _seen(cmd) == want_b
    assert len(r.received()) == 5
    for q in r.received():
        h = q.headers
        assert verify_signature(SECRET, h["X-Outpost-Timestamp"], q.body, h["X-Outpost-Signature"]), h
        assert not verify_signature("another secret", h["X-Outpost-Timestamp"], q.body, h["X-Outpost-Signature"])
    notify = json.loads(listed)["Commands"][0]["NotificationConfig"]
    assert notify == {"NotificationArn": f"https://127.0.0.1:{r.port}/********",
                      "NotificationEvents": ["Success", "Failed"], "NotificationType": "Invocation"}
    assert f"notification: https://127.0.0.1:{r.port}/******** (Invocation: Success,Failed)" in shown_text
    assert TOKEN not in listed and TOKEN not in shown_text and TOKEN not in logs
    assert f"https://127.0.0.1:{r.port}" in logs  # the notification is logged by its origin


def test_a_notification_stays_in_force_across_a_controller_restart(cluster: Cluster, tmp_path: Path) -> None:
    _configure(cluster, notification_secret=SECRET)
    marker = tmp_path / "started"
    with receiver() as r:
        start_fleet(cluster, [AgentSpec("n1", "Role=web")])
        node = cluster.node_ids["n1"]
        cid = send(cluster, "--document", "Outpost-RunShellScript", "--instance-ids", node, "--parameters",
                   f"commands=touch {marker}; sleep 4", "--notify-url", r.url("/r"), "--notify-events", "Success")
        wait_for(marker.exists, 30, "the command to start")
        cluster.stop_controller()
        cluster.start_controller()
        assert wait_terminal(cluster, cid, timeout=60)["status_detail"] == "Success"
        wait_for(lambda: bool(r.received("/r")), 30, "the notification of the command's end")
        time.sleep(1.0)
    assert _seen(r.received("/r")) == [("command", "", "Success")]
    q = r.received("/r")[0]
    assert verify_signature(SECRET, q.headers["X-Outpost-Timestamp"], q.body, q.headers["X-Outpost-Signature"])


def test_without_a_secret_a_send_is_refused_and_a_bad_bundle_stops_the_start(cluster: Cluster,
                                                                              tmp_path: Path) -> None:
    _configure(cluster, notification_secret=SECRET, webhooks_ca_bundle=str(tmp_path / "missing.pem"))
    proc = cluster.outpost("controller", "serve", "--dir", str(cluster.controller_dir), "--listen", cluster.address,
                           check=False, timeout=30)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "webhooks_ca_bundle" in lines[0] and "missing.pem: no such file" in lines[0], lines

    _configure(cluster, notification_secret=None, webhooks_ca_bundle=None)
    cluster.start_controller()
    proc = cluster.outpost("command", "send", "--document", "Outpost-RunShellScript", "--instance-ids",
                           "mi-0123456789abcdef0", "--parameters", "commands=true", "--notify-url",
                           f"https://hooks.example.com/{TOKEN}", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and "notification_secret" in lines[0], proc.stderr
    assert TOKEN not in proc.stderr
    assert cluster.outpost_json("command", "list") == []
