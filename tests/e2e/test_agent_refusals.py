"""End to end: a real agent process refuses bad commands and runs nothing.

The agent (``outpost agent run``) talks real gRPC over real mutual TLS on 127.0.0.1 to a stand-in
controller (tests/support/fake_controller.py) that signs, tampers with and sends commands, and
records every message the agent answers. Each refused command would ``touch`` a marker file; the
test checks the refusal code the controller got, that the marker never appears, that the agent
reported nothing else about the command and never recorded it in its ledger, and that the
agent's own log names the refusal.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.journal_records import read_journal
from controller.trust.signing import DocumentSigner
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.document import Document, Step
from plugins.sdk.wire.envelope import SignedCommand
from plugins.sdk.wire.identity import Role, new_node_id
from tests.support.fake_controller import AgentProcess, FakeController, now_ms

# How long a refused command gets to (wrongly) run something before the test looks for it.
SETTLE_SECONDS = 1.0
WAIT_SECONDS = 15.0


def _cid() -> str:
    return str(uuid.uuid4())


@dataclass
class Rig:
    controller: FakeController
    agent: AgentProcess
    state_dir: Path
    markers: Path
    log_path: Path

    def marker(self, name: str) -> Path:
        return self.markers / f"marker-{name}"

    def touch_doc(self, name: str, echo: str | None = None) -> Document:
        steps = []
        if echo is not None:
            steps.append(Step(name="say", action="shell", inputs={"cmd": f"echo {shlex.quote(echo)}"}))
        touch = f"touch {shlex.quote(str(self.marker(name)))}"
        steps.append(Step(name="touch", action="shell", inputs={"cmd": touch}))
        return Document(steps=tuple(steps), description=f"creates marker-{name}")

    def ledger_ids(self) -> list[str]:
        path = self.state_dir / "ledger"
        if not path.exists():
            return []
        return [line.split()[1] for line in path.read_text().splitlines() if len(line.split()) == 2]

    def start_agent(self) -> AgentProcess:
        self.agent = AgentProcess(self.state_dir, self.log_path).start()
        return self.agent

    def agent_gone(self) -> str | None:
        proc = self.agent.proc
        if proc is not None and proc.poll() is not None:
            return f"the agent exited with code {proc.returncode}:\n{self.agent.log()[-4000:]}"
        return None

    def wait_log(self, needle: str, timeout: float = WAIT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.agent.log():
            if time.monotonic() > deadline:
                raise AssertionError(f"the agent's log never mentioned {needle!r}:\n"
                                     f"{self.agent.log()[-4000:]}")
            time.sleep(0.1)

    def assert_refused(self, command_id: str, code: str, markers: list[str], since: int,
                       session: int | None = None) -> pb.Ack:
        """The agent refused ``command_id`` (sent after mark ``since``) with ``code``, and nothing ran:
        no marker, no message but the refusal, no ledger entry, and the refusal in the agent's log."""
        ctl = self.controller
        rec = ctl.wait_message("ack", command_id, since=since)
        ack = rec.msg.ack
        assert not ack.accepted, f"the agent accepted command {command_id!r}"
        assert ack.refusal_code == code, \
            f"refused with {ack.refusal_code!r} ({ack.refusal_detail}), wanted {code!r}"
        assert ack.refusal_detail, "a refusal carries a human-readable detail"
        if session is not None:
            assert rec.session == session
        time.sleep(SETTLE_SECONDS)
        for name in markers:
            assert not self.marker(name).exists(), f"marker-{name} exists: the refused command ran"
        about = [r for r in ctl.received(since=since) if r.kind not in ("heartbeat", "hello")]
        assert about == [rec], f"the agent reported more than the refusal: {[r.msg for r in about]}"
        if command_id:
            assert command_id not in self.ledger_ids() or code == "replayed"
        self.wait_log(f"refused command {command_id or '(unknown)'}: {code}:")
        assert self.agent.alive(), "a refusal must not take the agent down"
        return ack

    def run_ok(self, name: str, echo: str | None = None) -> tuple[SignedCommand, pb.InvocationResult]:
        """Send a valid command touching marker-``name``; wait until it succeeded."""
        signed = self.controller.sign(_cid(), self.touch_doc(name, echo))
        cid = pb.Envelope.FromString(signed.envelope).command_id
        self.controller.send_command(signed)
        result = self.controller.wait_result(cid)
        assert result.detail == pb.STATUS_DETAIL_SUCCESS, result
        assert result.exit_code == 0
        assert self.marker(name).exists()
        return signed, result


@pytest.fixture
def rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    markers = tmp_path / "markers"
    markers.mkdir()
    ctl = FakeController().start()
    r: Rig | None = None
    try:
        state = ctl.write_state(tmp_path / "state")
        log_path = tmp_path / "agent.log"
        r = Rig(ctl, AgentProcess(state.path, log_path), state.path, markers, log_path)
        ctl.give_up = r.agent_gone
        r.start_agent()
        ctl.wait_session(0)
        yield r
    finally:
        try:
            if r is not None:
                r.agent.stop()
        finally:
            ctl.close()
        rep = getattr(request.node, "rep_call", None)
        if r is not None and rep is not None and rep.failed:
            print(f"===== agent log\n{r.agent.log()[-8000:]}")


# ---------------------------------------------------------------- the positive control


def test_valid_command_runs_over_mutual_tls(rig: Rig) -> None:
    ctl = rig.controller
    session = ctl.sessions()[0]
    # the stream is mutual TLS: the agent presented its node certificate
    assert session.peer is not None and session.peer.role is Role.NODE and session.peer.name == ctl.node_id
    assert "shell" in [p.name for p in session.hello.facts.plugins]

    signed, result = rig.run_ok("ok", echo="hello from outpost")
    cid = result.command_id
    ack = ctl.received(cid, "ack")
    assert len(ack) == 1 and ack[0].msg.ack.accepted and not ack[0].msg.ack.refusal_code
    out = ctl.received(cid, "output")
    assert b"".join(r.msg.output.data for r in out if r.msg.output.stream == pb.OUTPUT_STREAM_STDOUT
                    and r.msg.output.step_name == "say") == b"hello from outpost\n"
    steps = ctl.received(cid, "step_result")
    assert [(s.step_name, s.detail, s.exit_code) for s in (r.msg.step_result for r in steps)] \
        == [("say", pb.STATUS_DETAIL_SUCCESS, 0)]  # the last step travels in the invocation's result
    assert [(s.step_name, s.detail) for s in result.steps] == [("say", pb.STATUS_DETAIL_SUCCESS),
                                                               ("touch", pb.STATUS_DETAIL_SUCCESS)]
    # the order on the wire: accepted before anything ran, the invocation's result last
    kinds = [r.kind for r in ctl.received(cid)]
    assert kinds[0] == "ack" and kinds[-1] == "invocation_result"
    assert rig.ledger_ids() == [cid]


# ---------------------------------------------------------------- refusals


def _another_key(rig: Rig, cid: str) -> tuple[pb.Command, list[str]]:
    other = DocumentSigner.generate()
    assert other.public_key_raw() != rig.controller.signer.public_key_raw()
    return wire.command_to_pb(rig.controller.sign(cid, rig.touch_doc("1"), signer=other)), ["1"]


def _tampered_document(rig: Rig, cid: str) -> tuple[pb.Command, list[str]]:
    signed = rig.controller.sign(cid, rig.touch_doc("2"))
    # one byte: "marker-2" becomes "marker-3"; still a valid document that would touch a file
    at = signed.document.rindex(b"marker-2") + len(b"marker-")  # in the step's cmd, not the description
    doc = signed.document[:at] + bytes([signed.document[at] ^ 0x01]) + signed.document[at + 1:]
    assert b"marker-3" in doc and len(doc) == len(signed.document)
    return pb.Command(envelope=signed.envelope, signature=signed.signature, document=doc), ["2", "3"]


def _tampered_envelope(rig: Rig, cid: str) -> tuple[pb.Command, list[str]]:
    signed = rig.controller.sign(cid, rig.touch_doc("4"))
    # one byte of the document's sha256 inside the envelope; the command id still parses
    at = signed.envelope.index(hashlib.sha256(signed.document).digest()) + 7
    env = signed.envelope[:at] + bytes([signed.envelope[at] ^ 0x01]) + signed.envelope[at + 1:]
    assert pb.Envelope.FromString(env).command_id == cid and env != signed.envelope
    return pb.Command(envelope=env, signature=signed.signature, document=signed.document), ["4"]


def _expired(rig: Rig, cid: str) -> tuple[pb.Command, list[str]]:
    now = now_ms()
    signed = rig.controller.sign(cid, rig.touch_doc("5"), issued_at_ms=now - 120_000,
                                 expires_at_ms=now - 60_000)
    return wire.command_to_pb(signed), ["5"]


def _other_node(rig: Rig, cid: str) -> tuple[pb.Command, list[str]]:
    other = new_node_id()
    assert other != rig.controller.node_id
    return wire.command_to_pb(rig.controller.sign(cid, rig.touch_doc("6"), node_id=other)), ["6"]


def _unsigned(rig: Rig, cid: str) -> tuple[pb.Command, list[str]]:
    signed = rig.controller.sign(cid, rig.touch_doc("7"))
    return pb.Command(envelope=signed.envelope, signature=b"", document=signed.document), ["7"]


@pytest.mark.parametrize(("make", "code"), [
    pytest.param(_another_key, "bad_signature", id="signed-with-another-key"),
    pytest.param(_tampered_document, "document_mismatch", id="one-document-byte-flipped"),
    pytest.param(_tampered_envelope, "bad_signature", id="one-envelope-byte-flipped"),
    pytest.param(_expired, "expired", id="expired-envelope"),
    pytest.param(_other_node, "wrong_node", id="envelope-for-another-node"),
    pytest.param(_unsigned, "bad_signature", id="empty-signature"),
])
def test_bad_command_is_refused_and_nothing_runs(
        rig: Rig, make: Callable[[Rig, str], tuple[pb.Command, list[str]]], code: str) -> None:
    cid = _cid()
    command, markers = make(rig, cid)
    since = rig.controller.mark()
    rig.controller.send_command(command)
    rig.assert_refused(cid, code, markers, since, session=0)
    assert rig.ledger_ids() == []
    # the stream survived the refusal and the agent still runs what is properly signed
    rig.run_ok("after")
    assert len(rig.controller.sessions()) == 1


def test_garbage_command_is_refused_and_nothing_runs(rig: Rig) -> None:
    ctl = rig.controller
    doc = rig.touch_doc("8").canonical_bytes()
    since = ctl.mark()
    ctl.send_command(pb.Command(envelope=b"\xffnot an envelope\x00" * 3, signature=b"", document=doc))
    # no command id can be read from garbage: the refusal names none
    ack = rig.assert_refused("", "bad_signature", ["8"], since, session=0)
    assert ack.command_id == ""
    assert rig.ledger_ids() == []
    rig.run_ok("after")


@pytest.mark.parametrize("acknowledged", [False, True], ids=["result-held", "result-acknowledged"])
def test_a_replayed_command_id_never_runs_again_after_an_agent_restart(rig: Rig, acknowledged: bool) -> None:
    """A brand-new, validly signed envelope reusing an executed command id, after a restart of the
    agent: never run again. While the agent still holds the first run's result (not acknowledged),
    its next life replays that result and the replay adds nothing; once acknowledged, the agent
    answers with a Failed result that says it took the command before (a result, not a refusal:
    a redelivery of a command that ran is no refusal)."""
    ctl = rig.controller
    ctl.auto_result_ack = acknowledged
    first, result = rig.run_ok("1", echo="first run")
    cid = result.command_id
    assert rig.ledger_ids() == [cid]
    def journaled() -> bool:
        return ("", cid) in read_journal(rig.state_dir / "journal")
    if acknowledged:
        ctl.wait_until(lambda: not journaled(), "the journal to forget it")
    else:
        assert journaled()

    assert rig.agent.stop() == 0, f"the agent did not stop cleanly:\n{rig.agent.log()[-4000:]}"
    ctl.wait_until(lambda: ctl.sessions()[0].closed, "the first stream to close", give_up=lambda: None)
    rig.start_agent()
    ctl.wait_session(1)
    replayed = [r for r in ctl.received(cid, "invocation_result") if r.session == 1]
    if not acknowledged:
        ctl.wait_until(lambda: any(r.session == 1 for r in ctl.received(cid, "invocation_result")),
                       "the held result to be replayed")
        replayed = [r for r in ctl.received(cid, "invocation_result") if r.session == 1]
        assert [r.msg.invocation_result for r in replayed] == [result]
    else:
        assert replayed == []

    time.sleep(0.01)
    replay = ctl.sign(cid, rig.touch_doc("2"))
    old_env, new_env = pb.Envelope.FromString(first.envelope), pb.Envelope.FromString(replay.envelope)
    assert new_env.command_id == old_env.command_id
    assert new_env.expires_at_ms > old_env.expires_at_ms and replay.signature != first.signature
    assert new_env.document_sha256 != old_env.document_sha256
    since = ctl.mark()
    ctl.send_command(replay)
    if acknowledged:
        answer = ctl.wait_message("invocation_result", cid, since=since).msg.invocation_result
        assert answer.detail == pb.STATUS_DETAIL_FAILED and "took this command before" in answer.error
    else:
        time.sleep(SETTLE_SECONDS)
    assert not ctl.received(cid, "ack", since=since), "a replay is neither accepted nor refused"
    assert not rig.marker("2").exists()
    assert rig.ledger_ids() == [cid], "a replay must not be recorded again"
    assert rig.marker("1").exists()


def test_a_command_the_ledger_cannot_record_is_refused_and_nothing_runs(rig: Rig) -> None:
    ctl = rig.controller
    rig.run_ok("before")
    ledger = rig.state_dir / "ledger"
    ledger.unlink()
    ledger.mkdir()  # every append now fails (EISDIR), even for root
    signed = ctl.sign(_cid(), rig.touch_doc("10"))
    cid = pb.Envelope.FromString(signed.envelope).command_id
    since = ctl.mark()
    try:
        ctl.send_command(signed)
        ctl.wait_message("ack", cid, since=since)
    finally:
        ledger.rmdir()
    ack = rig.assert_refused(cid, "ledger_unwritable", ["10"], since)
    assert "ledger" in ack.refusal_detail
    rig.run_ok("after")  # the ledger is writable again: commands run
    assert cid not in rig.ledger_ids()


def test_a_stopping_agent_takes_no_new_command(rig: Rig) -> None:
    """After SIGTERM the agent keeps its stream a few seconds for the controller's acks; a command
    that comes then is not taken (no ledger record, nothing runs, no answer), so the controller
    sends it again to the agent's next life instead of having it stopped at once."""
    ctl = rig.controller
    ctl.auto_result_ack = False  # so the stopping agent waits its 5 s for acks
    _, first = rig.run_ok("before")
    os.kill(rig.agent.pid, signal.SIGTERM)
    time.sleep(1)  # the agent is in its wait for acks now (the fake never acks)
    signed = ctl.sign(_cid(), rig.touch_doc("late"))
    cid = pb.Envelope.FromString(signed.envelope).command_id
    since = ctl.mark()
    ctl.send_command(signed)
    assert rig.agent.stop() == 0
    assert ctl.received(cid, since=since) == []
    assert cid not in rig.ledger_ids() and not rig.marker("late").exists()
    assert "left for the agent's next start" in rig.agent.log()


def _rotation(ctl: FakeController, steps: list[tuple[DocumentSigner, DocumentSigner]]) -> pb.ControllerMessage:
    """A SigningKeyRotated message: each (signed by, new key) pair a step."""
    msg = pb.ControllerMessage()
    for by, new in steps:
        step = by.sign_rotation(new.public_key_raw(), now_ms())
        msg.signing_key.steps.add(from_key_id=step.from_key_id, public_key=step.public_key,
                                  issued_at_ms=step.issued_at_ms, signature=step.signature)
    return msg


def _pinned(rig: Rig) -> str:
    return str(json.loads((rig.state_dir / "identity.json").read_text())["signing_key_id"])


def test_a_forged_signing_key_rotation_is_refused_and_what_the_forged_key_signs_never_runs(rig: Rig) -> None:
    ctl, pinned = rig.controller, rig.controller.signer
    attacker = DocumentSigner.generate()
    forged = _rotation(ctl, [(attacker, attacker)])
    forged.signing_key.steps[0].from_key_id = pinned.key_id  # it claims to come from the pinned key
    ctl.send(forged)
    rig.wait_log("signing key rotation refused")
    assert _pinned(rig) == pinned.key_id
    since = ctl.mark()
    signed = ctl.sign(_cid(), rig.touch_doc("forged"), signer=attacker)
    ctl.send_command(signed)
    rig.assert_refused(pb.Envelope.FromString(signed.envelope).command_id, "bad_signature", ["forged"], since)
    rig.run_ok("still-pinned")  # the genuine key still works


def test_a_genuine_rotation_is_pinned_and_the_old_key_is_refused_after_it(rig: Rig) -> None:
    ctl, old = rig.controller, rig.controller.signer
    new, newest = DocumentSigner.generate(), DocumentSigner.generate()
    ctl.send(_rotation(ctl, [(old, new), (new, newest)]))  # two rotations, as to an agent away through both
    rig.wait_log(f"document-signing key rotated: {newest.key_id} pinned")
    assert _pinned(rig) == newest.key_id
    ctl.signer = newest
    rig.run_ok("newest")
    since = ctl.mark()
    signed = ctl.sign(_cid(), rig.touch_doc("old-key"), signer=old)
    ctl.send_command(signed)
    rig.assert_refused(pb.Envelope.FromString(signed.envelope).command_id, "bad_signature", ["old-key"], since)
    rig.agent.stop()
    rig.start_agent()  # the pinned key is on disk: a restarted agent says so in its Hello
    hello = ctl.wait_session(1).hello
    assert hello.signing_key_id == newest.key_id
