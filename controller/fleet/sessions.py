"""The connected agents: one session (an outbound queue) per node with an open stream, and since
when each other node has been away (the deadline of an invocation whose agent went counts from it)."""
from __future__ import annotations

import asyncio
import logging

from plugins.sdk.host.clock import Clock, now_ms
from plugins.sdk.wire.messages import ControllerMessage, Ping, ResultAck

log = logging.getLogger(__name__)


# Results acknowledged in one ResultAck at most; a session sends its acks when the agent's next
# heartbeat arrives, or at once when this many have gathered.
ACK_BATCH = 64


class AgentSession:
    """One node's stream: what goes out to it, and the result acks it is owed.

    An ack lets the agent forget a result it keeps to replay on its next stream; nothing waits for
    it. So acks are not sent one message per result: they gather and go together in answer to the
    agent's heartbeat (or at ACK_BATCH). A 10,000-node fan-out costs 10,000 messages fewer each way
    in its burst, and the acks go out over the next heartbeat period; an agent running commands
    often gets one ack for many. An ack lost with its stream is harmless: the agent replays the
    result on its next stream, the store takes it idempotently and it is acknowledged again.
    """

    def __init__(self, node_id: str, ack_batch: int = ACK_BATCH, peer: str = "") -> None:
        self.node_id = node_id
        self.peer = peer  # where the stream comes from (gRPC's peer string)
        self.outbound: asyncio.Queue[ControllerMessage | None] = asyncio.Queue()
        self.closed = False
        self.renewed = False  # the node renewed its certificate on this stream (once a stream)
        self.signing_key_id = ""  # the document-signing key the agent pins (its Hello's; then as told)
        self._acks: list[str] = []
        self._ack_batch = ack_batch
        self._probe: asyncio.Future[None] | None = None

    def heard(self) -> None:
        """The agent sent something on this stream."""
        if self._probe is not None and not self._probe.done():
            self._probe.set_result(None)

    async def answers(self, seconds: float) -> bool:
        """Whether the agent at the other end of this stream still answers: a Ping it must answer,
        then up to ``seconds`` for any message (a second stream of the same node asks this of the first)."""
        if self.closed:
            return False
        self._probe = asyncio.get_running_loop().create_future()
        self.send(Ping(now_ms(), answer=True))
        try:
            await asyncio.wait_for(asyncio.shield(self._probe), seconds)
        except TimeoutError:
            return False
        return not self.closed

    def send(self, msg: ControllerMessage) -> None:
        if not self.closed:
            self.outbound.put_nowait(msg)

    def acknowledge(self, command_id: str) -> None:
        """The result of ``command_id`` on this node is stored: tell the agent soon."""
        self._acks.append(command_id)
        if len(self._acks) >= self._ack_batch:
            self.flush_acks()

    def flush_acks(self) -> None:
        """Send the gathered acks in one message (the agent's heartbeat arrived)."""
        if self._acks:
            acks, self._acks = self._acks, []
            self.send(ResultAck(tuple(acks)))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.outbound.put_nowait(None)


class Hub:
    def __init__(self, clock: Clock = now_ms) -> None:
        self._sessions: dict[str, AgentSession] = {}
        self._clock = clock
        self._started_ms = clock()  # a node not seen since has been away since then, as far as this process knows
        self._away_since: dict[str, int] = {}
        self._notes: dict[str, str] = {}  # node id -> what was noticed of its connections (node list shows it)

    def note(self, node_id: str, text: str | None = None) -> str:
        """What was noticed of the node's connections (``text``: notice this now)."""
        if text is not None:
            self._notes[node_id] = text
        return self._notes.get(node_id, "")

    def away_since_ms(self, node_id: str) -> int | None:
        """Since when the node has had no stream here (None: it has one now)."""
        if node_id in self._sessions:
            return None
        return self._away_since.get(node_id, self._started_ms)

    def attach(self, node_id: str, peer: str = "") -> AgentSession:
        """The node's stream from now on; one it had before is closed (the caller made sure its agent
        no longer answers: AgentStreamService.Connect)."""
        old = self._sessions.get(node_id)
        if old is not None:
            log.info("node %s opened a new stream; closing the old one", node_id)
            old.close()
        session = AgentSession(node_id, peer=peer)
        self._sessions[node_id] = session
        self._away_since.pop(node_id, None)
        return session

    def detach(self, session: AgentSession) -> bool:
        """Forget ``session``; True when it was the node's current one (the node is now offline)."""
        session.close()
        if self._sessions.get(session.node_id) is session:
            del self._sessions[session.node_id]
            self._away_since[session.node_id] = self._clock()
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
