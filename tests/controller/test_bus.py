"""controller.events.bus: the fleet's topic (StatusEvent's JSON shape, the fan-out to subscribers and
sinks) and a command's topic (a slow watcher loses events, never the command's end)."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time

import pytest

from controller.events.bus import CommandChanged, EventBus, EventKind, InvocationChanged, StatusEvent, iso_utc_ms
from controller.model import InvocationRecord
from plugins.sdk.status import Detail
from tests.store.test_store import command


def _publish(feed: EventBus, n: int, start: int = 0) -> list[StatusEvent]:
    return [feed.announce(EventKind.INVOCATION, f"cmd-{i}", f"node-{i}", Detail.IN_PROGRESS, 1_000 + i)
            for i in range(start, start + n)]


def test_event_json_has_the_documented_keys_and_iso_time() -> None:
    at = dt.datetime(2026, 11, 28, 8, 22, 14, tzinfo=dt.UTC)
    at_ms = int(at.timestamp()) * 1000 + 123
    event = StatusEvent(EventKind.INVOCATION, "c-1", "mi-1", Detail.DELIVERY_TIMED_OUT, at_ms, 7)
    assert event.to_json() == {"kind": "invocation", "commandId": "c-1", "nodeId": "mi-1", "status": "TimedOut",
                               "statusDetails": "DeliveryTimedOut", "time": "2026-11-28T08:22:14.123Z", "seq": 7}


@pytest.mark.parametrize(("at_ms", "text"), [
    (0, "1970-01-01T00:00:00.000Z"), (999, "1970-01-01T00:00:00.999Z"), (1_001, "1970-01-01T00:00:01.001Z"),
    (1_700_000_000_007, "2023-11-14T22:13:20.007Z"),
])
def test_iso_time_keeps_exact_milliseconds(at_ms: int, text: str) -> None:
    assert iso_utc_ms(at_ms) == text


def test_event_is_frozen() -> None:
    event = StatusEvent(EventKind.COMMAND, "c", "", Detail.SUCCESS, 0, 1)
    with pytest.raises(AttributeError):
        event.seq = 2  # type: ignore[misc]


def test_seq_increases_and_each_feed_counts_its_own() -> None:
    feed, other = EventBus(), EventBus()
    events = _publish(feed, 5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert feed.last_seq == 5
    assert other.announce(EventKind.COMMAND, "c", "", Detail.PENDING, 0).seq == 1


def test_announce_defaults_time_to_now_and_kinds_are_typed() -> None:
    feed = EventBus()
    before = time.time_ns() // 1_000_000
    event = feed.announce(EventKind.COMMAND, "c", "", Detail.PENDING)
    assert before <= event.at_ms <= time.time_ns() // 1_000_000
    assert [k.value for k in EventKind] == ["command", "invocation", "node"]
    assert event.status is not None and event.status.value == "Pending"  # derived from the detail, never given apart


def test_a_node_event_carries_a_note_and_no_status() -> None:
    event = EventBus().notice("mi-1", "a second agent with this identity was refused")
    assert (event.kind, event.detail, event.status) == (EventKind.NODE, None, None)
    assert event.to_json() == {"kind": "node", "commandId": "", "nodeId": "mi-1",
                               "note": "a second agent with this identity was refused",
                               "time": event.to_json()["time"], "seq": event.seq}


def test_every_subscriber_gets_every_event_in_order() -> None:
    async def scenario() -> None:
        feed = EventBus()
        queues = [feed.subscribe_fleet() for _ in range(3)]
        published = _publish(feed, 50)
        for q in queues:
            got = [q.get_nowait() for _ in range(50)]
            assert got == published
            assert q.empty()
        assert feed.dropped == 0 and feed.fleet_subscribers == 3

    asyncio.run(scenario())


def test_a_slow_subscriber_loses_its_oldest_events_and_they_are_counted() -> None:
    async def scenario() -> None:
        feed = EventBus(queue_limit=100)
        slow, fast = feed.subscribe_fleet(queue_limit=3), feed.subscribe_fleet()
        published = _publish(feed, 8)
        assert [slow.get_nowait().seq for _ in range(3)] == [6, 7, 8]  # type: ignore[union-attr]
        assert feed.dropped_for(slow) == 5 and feed.dropped_for(fast) == 0
        assert [fast.get_nowait() for _ in range(8)] == published
        feed.unsubscribe_fleet(slow)
        assert feed.dropped == 5  # the total survives the subscriber
        _publish(feed, 1)
        assert slow.empty()  # no longer fed

    asyncio.run(scenario())


def test_publish_never_waits_for_subscribers() -> None:
    async def scenario() -> None:
        feed = EventBus(queue_limit=10)
        q = feed.subscribe_fleet()
        started = time.monotonic()
        _publish(feed, 10_000)  # nobody reads; publish must still return at once
        assert time.monotonic() - started < 5
        assert q.qsize() == 10 and feed.dropped_for(q) == 9_990

    asyncio.run(scenario())


def test_close_wakes_every_waiting_subscriber_with_none() -> None:
    async def scenario() -> None:
        feed = EventBus(queue_limit=2)
        idle, full = feed.subscribe_fleet(), feed.subscribe_fleet()
        _publish(feed, 2)
        idle.get_nowait(), idle.get_nowait()
        waiter = asyncio.create_task(idle.get())
        await asyncio.sleep(0)
        feed.close()
        feed.close()  # idempotent
        assert await asyncio.wait_for(waiter, 1) is None
        assert [full.get_nowait() for _ in range(2)][-1] is None  # even a full queue gets the end marker
        assert feed.closed
        late = feed.subscribe_fleet()
        assert late.get_nowait() is None

    asyncio.run(scenario())


def test_sinks_get_every_event_and_a_failing_sink_disturbs_nobody(caplog: pytest.LogCaptureFixture) -> None:
    feed = EventBus()
    seen: list[StatusEvent] = []

    def broken(event: StatusEvent) -> None:
        raise RuntimeError("boom")

    feed.add_sink(broken)
    feed.add_sink(seen.append)
    with caplog.at_level(logging.ERROR, logger="controller.events.bus"):
        published = _publish(feed, 3)
    assert seen == published
    assert sum("status sink" in r.getMessage() for r in caplog.records) == 3
    feed.remove_sink(broken)
    feed.close()
    assert feed.announce(EventKind.COMMAND, "c", "", Detail.SUCCESS, 0) == seen[-1]  # sinks outlive close


def test_publish_needs_no_running_loop() -> None:
    feed = EventBus()
    q = feed.subscribe_fleet()
    _publish(feed, 2)
    assert q.qsize() == 2


# ---------------------------------------------------------------- a command's topic

def _drain(queue) -> list[object]:  # type: ignore[no-untyped-def]
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


def test_a_full_queue_drops_live_events_but_keeps_the_end() -> None:
    bus = EventBus(queue_limit=3)
    slow, other = bus.subscribe("cmd-1"), bus.subscribe("cmd-2")
    running = CommandChanged(dataclasses.replace(command("cmd-1"), detail=Detail.IN_PROGRESS))
    invs = [InvocationChanged(InvocationRecord("cmd-1", f"mi-{i}", Detail.SUCCESS)) for i in range(5)]
    end = CommandChanged(dataclasses.replace(command("cmd-1"), detail=Detail.SUCCESS))
    for e in [running, *invs, end]:
        bus.publish("cmd-1", e)
    assert _drain(slow) == [invs[0], invs[1], end]  # the oldest made room for the end; four events were lost
    assert _drain(other) == []
    assert bus.watched("cmd-1") and not bus.watched("cmd-3")


def test_a_command_watcher_s_losses_are_counted() -> None:
    bus = EventBus(queue_limit=2)
    slow, fine = bus.subscribe("cmd-1"), bus.subscribe("cmd-1")
    invs = [InvocationChanged(InvocationRecord("cmd-1", f"mi-{i}", Detail.SUCCESS)) for i in range(3)]
    end = CommandChanged(dataclasses.replace(command("cmd-1"), detail=Detail.SUCCESS))
    bus.publish("cmd-1", invs[0])
    _drain(fine)
    for e in [*invs[1:], end]:
        bus.publish("cmd-1", e)
    assert _drain(slow) == [invs[1], end]  # invs[2] was skipped, invs[0] made room for the end
    assert bus.lost(slow) == 2 and bus.lost(fine) == 1  # fine kept up, but was full at the end too
    bus.unsubscribe("cmd-1", slow)
    assert bus.lost(slow) == 0
