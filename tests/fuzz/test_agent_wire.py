"""Fuzz: what crosses an agent's stream and its journal (plugins/sdk/wire/convert.py, envelope.py,
agent/journal.py). A message of any content converts or raises WireError; every typed message
goes to protobuf and back unchanged; a command of any bytes verifies or is refused with a
VerificationError; a journal file of any bytes reads back as what was intact in it."""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from agent.journal import Journal, StepStart
from agent.journal_file import JournalFile
from agent.journal_records import read_journal
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.errors import VerificationError
from plugins.sdk.facts import Facts, Platform, PluginInfo
from plugins.sdk.status import Detail
from plugins.sdk.wire import batch
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.envelope import SignedCommand, claimed_command_id, verify_command
from plugins.sdk.wire.messages import Accepted, AgentMessage, Cancel, CancelAck, Heartbeat, Hello, Ping, ResultAck
from plugins.sdk.wire.results import InvocationReport, OutputChunk, Refusal, StepReport
from tests.fuzz.budget import cases
from tests.fuzz.pbgen import messages
from tests.fuzz.strategies import unicode_text
from tests.fuzz.test_wire_document import documents

I32, I64, U32, U64 = ((-(2 ** 31), 2 ** 31 - 1), (-(2 ** 63), 2 ** 63 - 1), (0, 2 ** 32 - 1), (0, 2 ** 64 - 1))
ints = lambda r: st.integers(min_value=r[0], max_value=r[1])  # noqa: E731
ids = unicode_text(12)
facts = st.builds(Facts, ids, ids, ids, st.sampled_from(Platform), ids, st.lists(ids, max_size=2).map(tuple), ids,
                  st.lists(st.builds(PluginInfo, ids, ids, st.lists(ids, max_size=2).map(tuple)),
                           max_size=2).map(tuple))
step = st.builds(StepReport, ids, ints(U32), ids, ids, st.sampled_from(Detail), ints(I32), ints(I64), ints(I64), ids)
AGENT_MESSAGES: st.SearchStrategy[AgentMessage] = st.one_of(
    st.builds(Hello, facts), st.builds(Accepted, ids), st.builds(Refusal, ids, ids, ids),
    st.builds(OutputChunk, ids, ids, st.sampled_from(OutputStreamKind), ints(U64), st.binary(max_size=32)), step,
    st.builds(InvocationReport, ids, st.sampled_from(Detail), ints(I32), ints(I64), ints(I64),
              st.lists(step, max_size=2).map(tuple), ids),
    st.builds(Heartbeat, ints(I64), st.lists(ids, max_size=3).map(tuple)), st.builds(CancelAck, ids, st.booleans()))


@cases(10_000)
@given(AGENT_MESSAGES)
def test_agent_messages_round_trip(msg: AgentMessage) -> None:
    assert wire.agent_message_from_pb(pb.AgentMessage.FromString(
        wire.agent_message_to_pb(msg).SerializeToString())) == msg


@cases(100_000)
@given(st.one_of(st.builds(Cancel, ids), st.builds(Ping, ints(I64), st.booleans()),
                 st.builds(ResultAck, st.lists(ids, max_size=3).map(tuple)),
                 st.builds(SignedCommand, st.binary(max_size=40), st.binary(max_size=64), st.binary(max_size=40),
                           st.binary(max_size=66))))
def test_controller_messages_round_trip(msg: Cancel | Ping | ResultAck | SignedCommand) -> None:
    out = pb.ControllerMessage.FromString(wire.controller_message_to_pb(msg).SerializeToString())
    kind = out.WhichOneof("body")
    back = {"command": lambda: wire.command_from_pb(out.command), "cancel": lambda: Cancel(out.cancel.command_id),
            "ping": lambda: Ping(out.ping.sent_at_ms, out.ping.answer),
            "result_ack": lambda: ResultAck(tuple(out.result_ack.command_ids))}[kind]()
    assert back == msg


@cases(10_000)
@given(messages(pb.AgentMessage.DESCRIPTOR))
def test_any_agent_message_converts_or_says_why(msg: pb.AgentMessage) -> None:
    try:
        typed = wire.agent_message_from_pb(msg)
    except wire.WireError:
        return
    assert wire.agent_message_from_pb(wire.agent_message_to_pb(typed)) == typed


@cases(200_000)
@given(st.binary(max_size=200))
def test_any_bytes_as_an_agent_message(data: bytes) -> None:
    """What a journal's message record holds: protobuf's DecodeError or a WireError, or a message."""
    try:
        typed = wire.agent_message_from_bytes(data)
    except (DecodeError, wire.WireError):
        return
    assert wire.agent_message_from_bytes(wire.agent_message_to_bytes(typed)) == typed  # what it read, it keeps


KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NODE = "mi-0123456789abcdef0"
NOW = 1_700_000_000_000


@st.composite
def signed_commands(draw: st.DrawFn) -> SignedCommand:
    """Commands the way the controller signs them (a batch of envelopes, one signature), with any
    envelope fields and document, then perhaps with a byte of one part changed."""
    document = draw(st.one_of(documents().map(lambda d: d.canonical_bytes()), st.binary(max_size=64)))
    good_hash = hashlib.sha256(document).digest()
    envelopes = [pb.Envelope(command_id=draw(st.one_of(st.just("c-1"), ids)),
                             node_id=draw(st.sampled_from([NODE, "mi-x"])),
                             document_sha256=draw(st.sampled_from([good_hash, b"", b"\x00" * 32])),
                             issued_at_ms=draw(st.one_of(st.just(NOW), ints(I64))),
                             expires_at_ms=draw(st.one_of(st.just(NOW + 60_000), ints(I64))),
                             key_id="k").SerializeToString()
                 for _ in range(draw(st.integers(min_value=1, max_value=3)))]
    root, proofs = batch.build(envelopes)
    i = draw(st.integers(min_value=0, max_value=len(envelopes) - 1))
    parts = [envelopes[i], KEY.sign(batch.signed_message(root)), document, proofs[i]]
    if draw(st.booleans()):
        which = draw(st.integers(min_value=0, max_value=3))
        raw = bytearray(parts[which])
        if raw:
            at = draw(st.integers(min_value=0, max_value=len(raw) - 1))
            raw[at] ^= draw(st.integers(min_value=1, max_value=255))
        parts[which] = draw(st.sampled_from([bytes(raw), bytes(raw[:-1]), bytes(raw) + b"\x00"]))
    return SignedCommand(*parts)


@cases(5_000)
@given(st.one_of(signed_commands(), st.builds(SignedCommand, st.binary(max_size=80), st.binary(max_size=64),
                                               st.binary(max_size=80), st.binary(max_size=70))))
def test_any_command_verifies_or_is_refused(cmd: SignedCommand) -> None:
    claimed_command_id(cmd.envelope)  # what a refusal reports: never raises
    try:
        verified = verify_command(cmd, public_key=KEY.public_key(), node_id=NODE, now_ms=NOW)
    except VerificationError as exc:
        assert exc.code in ("bad_signature", "malformed", "wrong_node", "expired", "not_yet_valid",
                            "document_mismatch", "bad_document")
        return
    assert verified.envelope.node_id == NODE and verified.envelope.expires_at_ms > NOW
    assert verified.envelope.document_sha256 == hashlib.sha256(cmd.document).digest()


# the actions of steps that start: installed ones, never with a NUL in their name
ACTIONS = st.one_of(st.sampled_from(["shell", "aws:runShellScript"]), ids.map(lambda a: a.replace("\0", "")))
RECORDS = st.lists(st.one_of(st.tuples(st.just("T"), ints(I64)),
                             st.tuples(st.just("S"), st.builds(StepStart, ints(U32), ids, ACTIONS, ints(I64))),
                             st.tuples(st.just("M"), AGENT_MESSAGES)), max_size=6)


@contextmanager
def _journal(directory: Path) -> Iterator[Journal[AgentMessage]]:
    """An agent's journal in ``directory``; a new one stands for the agent's next life."""
    file = JournalFile(directory / "journal")
    try:
        yield Journal(file, "", wire.agent_message_to_bytes, wire.agent_message_from_bytes)
    finally:
        file.close()


@cases(5_000)
@given(RECORDS, st.one_of(st.none(), st.tuples(st.integers(min_value=0), st.binary(max_size=16))))
def test_journal_reads_back_what_is_intact(records: list, damage: tuple[int, bytes] | None) -> None:
    """Records written, then perhaps the file cut at a point and garbage put there: reading never
    raises, and gives the records before the damage (none when the cut took the first one)."""
    with tempfile.TemporaryDirectory() as tmp:
        with _journal(Path(tmp)) as journal:
            for kind, value in records:
                {"T": journal.taken, "S": journal.step_started, "M": journal.message}[kind]("c-1", value)
        path = Path(tmp) / "journal"
        if damage is not None and path.exists():
            data = path.read_bytes()
            cut = damage[0] % (len(data) + 1)
            path.write_bytes(data[:cut] + damage[1])
        with _journal(Path(tmp)) as journal:
            entries = journal.read_all()
    if not records:
        assert entries == []
        return
    if damage is not None and not entries:  # the cut took the first record
        return
    (entry,) = entries
    steps = [v for k, v in records if k == "S"]
    sent = [v for k, v in records if k == "M"]
    assert entry.steps == steps[:len(entry.steps)] and entry.messages == sent[:len(entry.messages)]
    if damage is None:
        assert (entry.steps, entry.messages, entry.damaged) == (steps, sent, False)


@cases(40_000)
@given(st.binary(max_size=300))
def test_any_journal_file(data: bytes) -> None:
    """Any bytes as a journal file: read without raising, and rewritten so that what the next life
    appends reads back after what was intact."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "journal").write_bytes(data)
        with _journal(Path(tmp)) as journal:
            before = journal.read_all()
        with _journal(Path(tmp)) as journal:
            journal.taken("c-1", 7)
        with _journal(Path(tmp)) as journal:
            after = {e.command_id: e for e in journal.read_all()}
    assert after["c-1"].taken_at_ms == 7 and not after["c-1"].damaged
    assert {e.command_id for e in before} <= set(after)


# append to a command (bytes), forget it, open the file again (the agent's next life), or fail the next write
JOURNAL_OPS = st.lists(st.one_of(st.tuples(st.just("append"), st.sampled_from(["a", "b", "c"]), st.binary(max_size=40)),
                                 st.tuples(st.just("forget"), st.sampled_from(["a", "b", "c"]), st.just(b"")),
                                 st.tuples(st.just("reopen"), st.just(""), st.just(b"")),
                                 st.tuples(st.just("fail"), st.just(""), st.just(b""))), max_size=60)


@cases(3_000)
@given(JOURNAL_OPS)
def test_a_journal_file_holds_what_was_recorded_since_each_command_was_last_forgotten(ops: list) -> None:
    """Records and tombstones in any order, with compactions (a threshold of a few bytes), writes
    that fail and reopenings between them: the file reads back, for each command held, exactly what
    was written for it since it was last forgotten (a failed write's records are lost, nothing else)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal"
        file = JournalFile(path, compact_min_bytes=64)
        model: dict[str, list[bytes]] = {}
        for op, cid, body in ops:
            if op == "append":
                file.append("", cid, b"M", body)
                model.setdefault(cid, []).append(body)
            elif op == "forget":
                file.forget("", cid)
                model.pop(cid, None)
            elif op == "reopen":
                file.close()
                file = JournalFile(path, compact_min_bytes=64)
                file.take_recovered("")
            else:  # the next write fails (a full disk): its records are lost, the file stays whole
                file.flush()
                real_write = os.write
                os.write = lambda fd, data: (_ for _ in ()).throw(OSError(28, "No space left on device"))
                try:
                    file.append("", "z", b"M", b"lost")
                finally:
                    os.write = real_write
                file.forget("", "z")
        file.close()
        held = read_journal(path)
    assert {cid: [body for _kind, body in h.records] for (_owner, cid), h in held.items()} == model
    assert not any(h.damaged for h in held.values())
