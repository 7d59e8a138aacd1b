"""End to end: status events, as signed webhooks and as ``outpost events --follow``.

An HTTP receiver runs in the test process on 127.0.0.1 and is configured in controller.yaml (read
when ``controller serve`` starts). A command goes to two real agents, one step succeeds on one node
and fails on the other; the receiver and ``events --follow`` must both see every status change,
signed (checked with :func:`controller.events.webhooks.verify_signature` and with an independent HMAC) and
in ``seq`` order. A receiver that answers 500 gets the events later, by retry, and never holds the
command up.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from controller.events.webhooks import verify_signature
from tests.support.cluster import Cluster, wait_for
from tests.support.docrun import (
    AgentSpec,
    Received,
    WebhookReceiver,
    add_webhook,
    by_node,
    popen_outpost,
    send,
    start_fleet,
    wait_terminal,
)

SECRET = "a long random webhook secret, 32+ chars"
ROUNDS = 8  # commands on three nodes that finish together; the race shows in most of them
KEYS = ("seq", "kind", "commandId", "nodeId", "status", "statusDetails")


@contextmanager
def events_follower(cluster: Cluster) -> Iterator[list]:
    """``outpost events --follow --output json`` in the background; on exit it is stopped and the
    list it yielded holds its parsed lines."""
    proc = popen_outpost(cluster, "events", "--follow", "--output", "json")
    rows: list[dict] = []
    try:
        time.sleep(1.5)  # let it subscribe: the feed only carries events published after that
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield rows
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except Exception:
            proc.kill()
            out, err = proc.communicate(timeout=15)
        rows.extend(json.loads(line) for line in out.splitlines() if line.strip())


def _mixed_command(cluster: Cluster, fails_on: str) -> str:
    """A command on both nodes that fails (exit 5) on ``fails_on`` only."""
    return send(cluster, "--document", "Outpost-RunShellScript", "--targets", "Key=tag:Role,Values=web",
                "--parameters", f'commands=[ "$OUTPOST_NODE_ID" != "{cluster.node_ids[fails_on]}" ] || exit 5')


def _expected(cid: str, ok: str, bad: str) -> set[tuple[str, str, str, str, str]]:
    return {("command", cid, "", "Pending", "Pending"),
            ("command", cid, "", "InProgress", "InProgress"),
            ("invocation", cid, ok, "InProgress", "InProgress"),
            ("invocation", cid, bad, "InProgress", "InProgress"),
            ("invocation", cid, ok, "Success", "Success"),
            ("invocation", cid, bad, "Failed", "Failed"),
            ("command", cid, "", "Failed", "Failed")}


def _key(e: dict) -> tuple[str, str, str, str, str]:
    return (e["kind"], e["commandId"], e["nodeId"], e["status"], e["statusDetails"])


def _check_signed(r: Received) -> dict:
    """The request is a valid signed delivery; its parsed body."""
    ts, sig = r.headers["x-outpost-timestamp"], r.headers["x-outpost-signature"]
    assert r.headers["content-type"] == "application/json"
    assert verify_signature(SECRET, ts, r.body, sig), r.headers
    mine = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + r.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mine, sig)
    assert abs(time.time() - int(ts)) < 300
    assert not verify_signature("not the secret", ts, r.body, sig)
    assert not verify_signature(SECRET, ts, r.body + b" ", sig)
    assert not verify_signature(SECRET, str(int(ts) + 1), r.body, sig, max_age_seconds=None)
    body = json.loads(r.body)
    assert r.headers["x-outpost-event"] == body["kind"]
    assert len(r.headers["x-outpost-delivery"]) == 36
    assert set(body) == {*KEYS, "time"}
    assert body["time"].endswith("Z")
    return body


def test_webhook_and_events_follow_get_every_transition_signed_and_in_order(cluster: Cluster) -> None:
    with WebhookReceiver() as receiver:
        add_webhook(cluster, receiver.url, SECRET)
        start_fleet(cluster, [AgentSpec("ok", "Role=web"), AgentSpec("bad", "Role=web")])
        ok, bad = cluster.node_ids["ok"], cluster.node_ids["bad"]
        with events_follower(cluster) as followed:
            cid = _mixed_command(cluster, "bad")
            shown = wait_terminal(cluster, cid, timeout=60)
            assert (shown["status_detail"], shown["errors"]) == ("Failed", 1), shown
            assert {n: i["status_detail"] for n, i in by_node(shown).items()} == {ok: "Success", bad: "Failed"}
            want = _expected(cid, ok, bad)

            def all_delivered() -> bool:
                return want <= {_key(json.loads(r.body)) for r in receiver.delivered()}
            wait_for(all_delivered, 60, "every event of the command at the webhook", interval=0.2)
            time.sleep(1.0)  # anything late (a duplicate) would arrive now

    requests = receiver.snapshot()
    assert requests and all(r.answered == 200 for r in requests)
    bodies = [_check_signed(r) for r in requests]
    mine = [b for b in bodies if b["commandId"] == cid]
    assert {_key(b) for b in mine} == want, json.dumps(mine, indent=1)
    # seq strictly increasing in delivery order, one delivery id per event
    seqs = [b["seq"] for b in bodies]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert len({r.headers["x-outpost-delivery"] for r in requests}) == len(requests)

    def seq_of(kind: str, node: str, detail: str) -> int:
        # the first one: a command end published twice is test_the_command_end_event_..._only_once's business
        return min(b["seq"] for b in mine if (b["kind"], b["nodeId"], b["statusDetails"]) == (kind, node, detail))
    assert seq_of("command", "", "Pending") < seq_of("command", "", "InProgress") < seq_of("command", "", "Failed")
    for node, end in ((ok, "Success"), (bad, "Failed")):
        assert seq_of("invocation", node, "InProgress") < seq_of("invocation", node, end)

    # events --follow listed the same events (its time is to the second; the rest is equal)
    followed_mine = [{k: e[k] for k in KEYS} for e in followed if e["commandId"] == cid]
    assert followed_mine == [{k: b[k] for k in KEYS} for b in mine]
    assert [e["seq"] for e in followed] == sorted(e["seq"] for e in followed)


def test_a_failing_webhook_is_retried_and_never_blocks_the_command(cluster: Cluster) -> None:
    with WebhookReceiver() as receiver:
        receiver.set_status(500)
        add_webhook(cluster, receiver.url, SECRET, max_attempts=60, initial_backoff_seconds=0.2,
                    max_backoff_seconds=1.0)
        start_fleet(cluster, [AgentSpec("ok", "Role=web"), AgentSpec("bad", "Role=web")])
        ok, bad = cluster.node_ids["ok"], cluster.node_ids["bad"]
        t0 = time.monotonic()
        cid = _mixed_command(cluster, "bad")
        proc = cluster.outpost("command", "wait", cid, "--output", "json", check=False, timeout=60)
        took = time.monotonic() - t0
        assert proc.returncode == 1, proc.stderr
        assert json.loads(proc.stdout)["status_detail"] == "Failed"
        assert took < 15, f"the command took {took:.1f} s with a failing webhook"
        # the webhook has been answering 500 all along: it was tried, nothing was delivered yet
        wait_for(lambda: len(receiver.snapshot()) >= 2, 30, "the webhook to be tried (and retried)")
        assert not receiver.delivered()
        failed_ids = Counter(r.headers["x-outpost-delivery"] for r in receiver.snapshot())
        assert max(failed_ids.values()) >= 2, "the first event was not retried"

        receiver.set_status(200)
        want = _expected(cid, ok, bad)

        def all_delivered() -> bool:
            return want <= {_key(json.loads(r.body)) for r in receiver.delivered()}
        wait_for(all_delivered, 90, "every event to arrive once the webhook recovers", interval=0.2)

    delivered = receiver.delivered()
    bodies = [_check_signed(r) for r in delivered]
    assert {_key(b) for b in bodies if b["commandId"] == cid} == want
    seqs = [b["seq"] for b in bodies]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    # a retry is the same event: the first delivered one had been refused before under the same id
    first = delivered[0]
    assert failed_ids[first.headers["x-outpost-delivery"]] >= 1
    refused_bodies = {r.body for r in receiver.snapshot() if r.answered == 500
                      and r.headers["x-outpost-delivery"] == first.headers["x-outpost-delivery"]}
    assert refused_bodies == {first.body}
    for r in receiver.snapshot():  # every attempt, refused or not, was signed
        _check_signed(r)


def test_the_command_end_event_comes_after_its_invocations_and_only_once(cluster: Cluster) -> None:
    """A status consumer must not see a command end before all its invocations have, nor end twice.
    Three nodes finishing at the same moment make the reports race in the controller."""
    start_fleet(cluster, [AgentSpec(n, "Role=web") for n in ("n1", "n2", "n3")])
    nodes = set(cluster.node_ids.values())
    cids = []
    with events_follower(cluster) as followed:
        for _ in range(ROUNDS):
            cid = send(cluster, "--document", "Outpost-RunShellScript", "--parameters", "commands=true",
                       "--targets", "Key=tag:Role,Values=web")
            assert wait_terminal(cluster, cid, timeout=60)["status_detail"] == "Success"
            cids.append(cid)
        time.sleep(1.0)
    problems = []
    for cid in cids:
        mine = [e for e in followed if e["commandId"] == cid]
        counts = Counter(_key(e) for e in mine)
        dups = sorted(k for k, n in counts.items() if n > 1)
        if dups:
            problems.append(f"{cid}: published more than once: {dups}")
        ends = [e["seq"] for e in mine if e["kind"] == "command" and e["statusDetails"] == "Success"]
        inv_ends = {e["nodeId"]: e["seq"] for e in mine
                    if e["kind"] == "invocation" and e["statusDetails"] == "Success"}
        if set(inv_ends) != nodes:
            problems.append(f"{cid}: invocation ends for {sorted(inv_ends)}, expected {sorted(nodes)}")
        elif ends and min(ends) < max(inv_ends.values()):
            order = [(e["seq"], e["kind"], e["nodeId"][-4:], e["statusDetails"]) for e in mine]
            problems.append(f"{cid}: command Success (seq {min(ends)}) before an invocation's end: {order}")
    assert not problems, "\n".join(problems)
