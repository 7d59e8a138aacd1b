"""The dispatcher and reports in one process, with nothing else: a real store on a SQLite file, the
in-memory hub and event bus, a real signer, the shell plugin's schema, and a clock the test
moves. No controller process, no agent, no gRPC: what an agent would receive is what lands on its
session's queue, and what it would report is handed to ``Reports`` directly."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.dispatch.active import ActiveCommands
from controller.dispatch.dispatcher import Dispatcher
from controller.dispatch.reports import Reports
from controller.dispatch.request import CommandRequest
from controller.events.bus import EventBus
from controller.fleet.sessions import AgentSession, Hub
from controller.model import CommandRecord, InvocationRecord, NodeRecord, Tag, Targets
from controller.store import Store
from controller.store.db import Db
from controller.trust.signing import DocumentSigner
from plugins.sdk.facts import Facts, Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.document import Document, Step
from plugins.sdk.wire.results import InvocationReport
from plugins.shell.plugin import ShellPlugin
from tests.support.keys import fixed_sealer

START_MS = 1_800_000_000_000
DOC = Document((Step("s", "shell", {"cmd": "true"}),), "t").canonical_bytes()


class FakeClock:
    def __init__(self, now_ms: int = START_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)


@dataclass
class Rig:
    store: Store
    db: Db
    hub: Hub
    events: EventBus
    clock: FakeClock
    dispatcher: Dispatcher
    reports: Reports

    @classmethod
    def open(cls, directory: Path, store: Store | None = None, clock: FakeClock | None = None) -> Rig:
        if store is None:
            store = Store.open(f"sqlite:///{directory / 'outpost.db'}", fixed_sealer())
            store.migrate()
        clock = clock or FakeClock()
        db, hub, events = Db(store), Hub(clock), EventBus()
        registry = PluginRegistry([ShellPlugin()])
        dispatcher = Dispatcher(db, DocumentSigner.generate(), hub, events, registry, ActiveCommands(),
                                clock=clock)
        reports = Reports(db, hub, events, dispatcher.active, dispatcher.settle, clock=clock,
                          cancel_answered=dispatcher.deadlines.answered)
        return cls(store, db, hub, events, clock, dispatcher, reports)

    def close(self) -> None:
        self.hub.close_all()
        self.db.close()

    def add_nodes(self, *node_ids: str, tags: tuple[Tag, ...] = (Tag("Role", "web"),)) -> None:
        facts = Facts("h", "Debian", "12", Platform.LINUX, "x86_64", (), "0.1.0")
        for n in node_ids:
            self.store.add_node(NodeRecord(n, facts, tags, "act-1", "01", START_MS, START_MS))

    def connect(self, *node_ids: str) -> dict[str, AgentSession]:
        return {n: self.hub.attach(n) for n in node_ids}

    async def send(self, node_ids: Sequence[str], *, concurrency: str = "50", errors: str = "0",
                   timeout_seconds: int = 600) -> CommandRecord:
        req = CommandRequest(DOC, Targets(node_ids=tuple(node_ids)), "", "alice", "t", timeout_seconds,
                             concurrency, errors)
        cmd, _ = await self.dispatcher.send(req)
        return cmd

    async def report(self, command_id: str, node_id: str, detail: Detail, exit_code: int = 0) -> None:
        """What the node's agent says at the end of an invocation, stored and settled."""
        at = self.clock()
        await self.reports.on_result(node_id, InvocationReport(command_id, detail, exit_code, at, at, ()))
        await self.reports.flushed()

    def invocations(self, command_id: str) -> dict[str, Detail]:
        return {i.node_id: i.detail for i in self.store.list_invocations(command_id)}

    def invocation(self, command_id: str, node_id: str) -> InvocationRecord:
        return self.store.get_invocation(command_id, node_id)

    def command(self, command_id: str) -> CommandRecord:
        return self.store.get_command(command_id)


def received(session: AgentSession) -> list[str]:
    """What the agent on this session would have read since the last look: each message's kind."""
    out = []
    while not session.outbound.empty():
        msg = session.outbound.get_nowait()
        out.append("closed" if msg is None else wire.controller_message_to_pb(msg).WhichOneof("body"))
    return out
