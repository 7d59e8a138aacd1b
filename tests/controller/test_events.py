"""controller.events.watch.EventBus: a slow watcher loses events, never the command's end."""
from __future__ import annotations

import dataclasses

from controller.events.watch import CommandChanged, EventBus, InvocationChanged
from controller.model import InvocationRecord
from plugins.sdk.status import Detail
from tests.store.test_store import command


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
