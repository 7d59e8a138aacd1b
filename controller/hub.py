"""The connected agents: one session (an outbound queue) per node with an open stream."""
from __future__ import annotations

import asyncio
import logging

from outpost.v1 import outpost_pb2 as pb

log = logging.getLogger(__name__)


class AgentSession:
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.outbound: asyncio.Queue[pb.ControllerMessage | None] = asyncio.Queue()
        self.closed = False

    def send(self, msg: pb.ControllerMessage) -> None:
        if not self.closed:
            self.outbound.put_nowait(msg)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.outbound.put_nowait(None)


class Hub:
    def __init__(self) -> None:
        self._sessions: dict[str, AgentSession] = {}

    def attach(self, node_id: str) -> AgentSession:
        old = self._sessions.get(node_id)
        if old is not None:
            log.info("node %s opened a new stream; closing the old one", node_id)
            old.close()
        session = AgentSession(node_id)
        self._sessions[node_id] = session
        return session

    def detach(self, session: AgentSession) -> bool:
        """Forget ``session``; True when it was the node's current one (the node is now offline)."""
        session.close()
        if self._sessions.get(session.node_id) is session:
            del self._sessions[session.node_id]
            return True
        return False

    def get(self, node_id: str) -> AgentSession | None:
        return self._sessions.get(node_id)

    def online(self) -> frozenset[str]:
        return frozenset(self._sessions)

    def close_all(self) -> None:
        for s in list(self._sessions.values()):
            s.close()
        self._sessions.clear()
