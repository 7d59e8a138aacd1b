"""agent.outbox: messages about a command survive disconnects until acknowledged."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from agent.outbox import Outbox
from outpost.v1 import outpost_pb2 as pb

HELLO = pb.AgentMessage(hello=pb.Hello(facts=pb.Facts(hostname="node-a")))
END = pb.AgentMessage(heartbeat=pb.Heartbeat(sent_at_ms=-42))  # a sentinel, pushed live after the replay


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(fn(), 5))


def hb(n: int) -> pb.AgentMessage:
    return pb.AgentMessage(heartbeat=pb.Heartbeat(sent_at_ms=n))


def ack(cid: str) -> pb.AgentMessage:
    return pb.AgentMessage(ack=pb.Ack(command_id=cid))


def step(cid: str, name: str) -> pb.AgentMessage:
    return pb.AgentMessage(step_result=pb.StepResult(command_id=cid, step_name=name))


def out(cid: str, seq: int) -> pb.AgentMessage:
    return pb.AgentMessage(output=pb.OutputChunk(command_id=cid, step_name="s", seq=seq, data=b"x"))


async def take(gen: AsyncIterator[pb.AgentMessage], n: int) -> list[pb.AgentMessage]:
    return [await asyncio.wait_for(anext(gen), 1) for _ in range(n)]


async def session(outbox: Outbox) -> list[pb.AgentMessage]:
    """One whole stream up to the end of its replay (the hello included); the stream is then closed."""
    gen = outbox.stream(HELLO)
    got = [await anext(gen)]
    outbox.transient(END)
    while (msg := await asyncio.wait_for(anext(gen), 1)) != END:
        got.append(msg)
    await gen.aclose()
    return got


def test_the_first_message_is_the_hello() -> None:
    outbox = Outbox()
    outbox.about("c1", ack("c1"))
    assert run(lambda: session(outbox)) == [HELLO, ack("c1")]


def test_an_empty_outbox_replays_nothing() -> None:
    assert run(lambda: session(Outbox())) == [HELLO]


def test_unacknowledged_messages_are_replayed_in_order_on_every_stream() -> None:
    outbox = Outbox()
    msgs = [ack("c1"), out("c1", 0), out("c1", 1), step("c1", "a"), step("c1", "b")]
    for m in msgs:
        outbox.about("c1", m)
    assert run(lambda: session(outbox)) == [HELLO, *msgs]
    assert run(lambda: session(outbox)) == [HELLO, *msgs]  # and again after another disconnect


def test_each_commands_messages_keep_their_order() -> None:
    outbox = Outbox()
    outbox.about("c1", ack("c1"))
    outbox.about("c2", ack("c2"))
    outbox.about("c1", step("c1", "a"))
    outbox.about("c2", step("c2", "a"))
    replay = run(lambda: session(outbox))[1:]
    assert sorted(m.SerializeToString() for m in replay) == sorted(
        m.SerializeToString() for m in [ack("c1"), ack("c2"), step("c1", "a"), step("c2", "a")])
    for cid in ("c1", "c2"):
        mine = [m for m in replay if m.WhichOneof("body") in ("ack", "step_result")
                and getattr(m, m.WhichOneof("body")).command_id == cid]
        assert mine == [ack(cid), step(cid, "a")]


def test_acknowledged_commands_are_not_replayed() -> None:
    outbox = Outbox()
    outbox.about("c1", ack("c1"))
    outbox.about("c2", ack("c2"))
    assert outbox.unacknowledged() == {"c1", "c2"}
    outbox.acknowledged("c1")
    assert outbox.unacknowledged() == {"c2"}
    assert not outbox.holds("c1") and outbox.holds("c2")
    assert run(lambda: session(outbox)) == [HELLO, ack("c2")]
    outbox.acknowledged("c1")  # twice, or for an unknown command, is harmless
    outbox.acknowledged("unknown")
    assert outbox.unacknowledged() == {"c2"}


def test_transient_messages_are_never_replayed() -> None:
    outbox = Outbox()
    outbox.transient(hb(1))  # no stream open: dropped

    async def scenario() -> list[pb.AgentMessage]:
        gen = outbox.stream(HELLO)
        first = await anext(gen)
        outbox.transient(hb(2))  # live on this stream
        got = [first, *await take(gen, 1)]
        await gen.aclose()
        return got

    assert run(scenario) == [HELLO, hb(2)]
    assert run(lambda: session(outbox)) == [HELLO]


def test_live_messages_follow_the_replay() -> None:
    outbox = Outbox()
    outbox.about("c1", ack("c1"))

    async def scenario() -> list[pb.AgentMessage]:
        gen = outbox.stream(HELLO)
        first = await anext(gen)
        outbox.about("c1", step("c1", "live"))  # while the replay is pending
        outbox.transient(hb(7))
        outbox.about("c2", ack("c2"))
        got = [first, *await take(gen, 4)]
        outbox.about("c2", step("c2", "later"))  # after the replay, on the open stream
        got += await take(gen, 1)
        await gen.aclose()
        return got

    assert run(scenario) == [HELLO, ack("c1"), step("c1", "live"), hb(7), ack("c2"), step("c2", "later")]
    # the live messages about commands were logged too: a later stream replays them (not the heartbeat)
    assert run(lambda: session(outbox)) == [HELLO, ack("c1"), step("c1", "live"), ack("c2"), step("c2", "later")]


def test_a_live_message_is_sent_once_on_its_stream() -> None:
    outbox = Outbox()

    async def scenario() -> list[pb.AgentMessage]:
        gen = outbox.stream(HELLO)
        got = [await anext(gen)]
        outbox.about("c1", ack("c1"))
        got += await take(gen, 1)
        outbox.transient(END)
        got += await take(gen, 1)
        await gen.aclose()
        return got

    assert run(scenario) == [HELLO, ack("c1"), END]


def test_messages_queued_while_disconnected_are_replayed() -> None:
    outbox = Outbox()

    async def scenario() -> None:
        gen = outbox.stream(HELLO)
        await anext(gen)
        await gen.aclose()  # the stream broke

    run(scenario)
    outbox.about("c1", ack("c1"))
    outbox.transient(hb(3))
    assert run(lambda: session(outbox)) == [HELLO, ack("c1")]


def test_disconnect_ends_the_stream_but_keeps_the_log() -> None:
    outbox = Outbox()

    async def scenario() -> list[pb.AgentMessage]:
        gen = outbox.stream(HELLO)
        await anext(gen)
        outbox.disconnect()
        outbox.about("c1", ack("c1"))  # not put on the dead stream's queue
        outbox.transient(hb(9))
        return [msg async for msg in gen]  # the dead stream's iterator ends instead of waiting for good

    assert run(scenario) == []
    assert run(lambda: session(outbox)) == [HELLO, ack("c1")]


def test_an_old_stream_closing_late_does_not_detach_the_new_one() -> None:
    outbox = Outbox()

    async def scenario() -> list[pb.AgentMessage]:
        old = outbox.stream(HELLO)
        await anext(old)
        new = outbox.stream(HELLO)
        await anext(new)
        await old.aclose()  # the old stream's cleanup runs after the new stream opened
        outbox.about("c1", ack("c1"))
        got = await take(new, 1)
        await new.aclose()
        return got

    assert run(scenario) == [ack("c1")]


# ---------------------------------------------------------------------- the held acceptance


def result(cid: str) -> pb.AgentMessage:
    return pb.AgentMessage(invocation_result=pb.InvocationResult(command_id=cid))


def test_a_held_acceptance_goes_when_its_delay_ends() -> None:
    outbox = Outbox()

    async def scenario() -> tuple[list[pb.AgentMessage], list[pb.AgentMessage]]:
        outbox.accept("c1", ack("c1"), 0.05)
        early = await session(outbox)
        await asyncio.sleep(0.1)
        return early, await session(outbox)

    early, later = run(scenario)
    assert early == [HELLO]
    assert later == [HELLO, ack("c1")]


def test_a_result_within_the_delay_stands_for_the_acceptance() -> None:
    outbox = Outbox()

    async def scenario() -> list[pb.AgentMessage]:
        outbox.accept("c1", ack("c1"), 0.05)
        outbox.about("c1", result("c1"), final=True)
        await asyncio.sleep(0.1)  # the cancelled timer must not bring the acceptance back
        return await session(outbox)

    assert run(scenario) == [HELLO, result("c1")]


def test_any_other_message_sends_the_held_acceptance_first() -> None:
    outbox = Outbox()

    async def scenario() -> list[pb.AgentMessage]:
        outbox.accept("c1", ack("c1"), 60)
        outbox.accept("c2", ack("c2"), 60)
        outbox.about("c1", out("c1", 1))
        outbox.about("c1", step("c1", "a"))
        outbox.about("c1", result("c1"), final=True)
        return await session(outbox)

    assert run(scenario) == [HELLO, ack("c1"), out("c1", 1), step("c1", "a"), result("c1")]


def test_each_message_is_encoded_once_and_kept_as_the_stream_carries_it() -> None:
    encoded: list[pb.AgentMessage] = []
    kept: list[tuple[str, pb.AgentMessage, bytes]] = []

    def encode(msg: pb.AgentMessage) -> bytes:
        encoded.append(msg)
        return msg.SerializeToString()

    class Keeper:
        def keep(self, command_id: str, msg: pb.AgentMessage, data: bytes) -> None:
            kept.append((command_id, msg, data))

        def forget(self, command_id: str) -> None:
            pass

    outbox: Outbox[pb.AgentMessage, bytes] = Outbox(encode=encode, keeper=Keeper())
    msgs = [ack("c1"), out("c1", 0), step("c1", "a")]
    for m in msgs:
        outbox.about("c1", m)

    async def replay() -> list[pb.AgentMessage]:
        gen = outbox.stream(HELLO)
        got = await take(gen, 1 + len(msgs))
        await gen.aclose()
        return got[1:]

    first, second = run(replay), run(replay)  # the second stream re-encodes nothing
    wire = [m.SerializeToString() for m in msgs]
    assert first == second == wire
    assert kept == [("c1", m, w) for m, w in zip(msgs, wire, strict=True)]
    assert [m for m in encoded if m != HELLO] == msgs
