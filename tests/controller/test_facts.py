"""What a node says of itself is kept clean and bounded (controller/fleet/facts.py), whatever it
sends: the strings of issue 18's attacks, in and out, and a Hello's facts as the stream stores them."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import pytest

from agent.facts import gather_facts
from controller.fleet import facts as facts_mod
from controller.fleet.capacity import StreamCapacity
from controller.fleet.facts import clean, kept_facts
from controller.fleet.sessions import Hub
from controller.server.agent_service import AgentStreamService
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.facts import Facts, PluginInfo
from plugins.sdk.wire import convert as wire
from tests.controller.test_agent_stream import _Context, _node

CASES = [
    ("web-1", "web-1"),
    ("web-1\n2026-12-07 10:00:00 ERROR forged line", "web-12026-12-07 10:00:00 ERROR forged line"),
    ("\x1b[31mred\x1b[0m", "[31mred[0m"),
    ("evil\u202etxt.exe", "eviltxt.exe"),  # a right-to-left override
    ("a\u2028b\u2029c\u200bd", "abcd"),  # line and paragraph separators, a zero-width space
    ("tab\there\r", "tabhere"),
    ("ünïcødé ok", "ünïcødé ok"),
    ("x" * 300, "x" * facts_mod.HOSTNAME_CHARS),
]


@pytest.mark.parametrize("sent,kept", CASES)
def test_a_hostname_is_kept_clean(sent: str, kept: str) -> None:
    assert clean(sent, facts_mod.HOSTNAME_CHARS) == kept


def test_every_field_and_list_is_bounded() -> None:
    sent = replace(gather_facts(()), os_name="o" * 100_000, os_version="\x07v", architecture="a" * 100,
                   agent_version="1.0\x1b]0;title\x07", ip_addresses=tuple(f"10.0.0.{i}" for i in range(500)),
                   plugins=tuple(PluginInfo(f"p{i}\n", "1", ("x",) * 100) for i in range(1000)))
    kept = kept_facts(sent)
    assert len(kept.os_name) == facts_mod.TEXT_CHARS and kept.os_version == "v"
    assert len(kept.architecture) == facts_mod.ARCHITECTURE_CHARS and kept.agent_version == "1.0]0;title"
    assert len(kept.ip_addresses) == facts_mod.MAX_ADDRESSES and len(kept.plugins) == facts_mod.MAX_PLUGINS
    assert kept.plugins[0] == PluginInfo("p0", "1", ("x",) * facts_mod.MAX_ALIASES)


def test_a_hello_s_facts_are_stored_clean() -> None:
    node_id, cert = _node()
    forged = replace(gather_facts(()), hostname="h\nforged\x1b[31m", os_name="o" * 100_000)
    stored: list[Facts] = []

    class Presence:
        async def hello(self, node_id: str, facts: Facts) -> bool:
            stored.append(facts)
            await asyncio.Event().wait()
            return True

        async def gone(self, node_id: str) -> None:
            pass

    class Context(_Context):
        async def read(self):  # type: ignore[no-untyped-def]
            self._reads += 1
            if self._reads == 1:
                return pb.AgentMessage(hello=pb.Hello(facts=wire.facts_to_pb(forged)))
            await asyncio.Event().wait()

    async def go() -> None:
        service = AgentStreamService(Hub(), None, None, Presence(), 90.0,  # type: ignore[arg-type]
                                     StreamCapacity(10, 1024))
        call = asyncio.create_task(service.Connect(None, Context(cert)))  # type: ignore[arg-type]
        for _ in range(100):
            if stored:
                break
            await asyncio.sleep(0.01)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call

    asyncio.run(go())
    assert stored and stored[0].hostname == "hforged[31m" and len(stored[0].os_name) == facts_mod.TEXT_CHARS
