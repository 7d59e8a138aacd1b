"""Invocations ended by the controller itself: those whose agent was lost (AgentLost), and the
cancels it owes to agents that were away when their invocation was cancelled (docs/statuses.md,
"When an agent goes")."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, and_, delete, insert, select, update

from controller.store.engine import read_tx, write_tx
from controller.store.inlists import slices
from controller.store.schema import invocations, owed_cancels
from plugins.sdk.status import Detail


class CancelTables:
    """Mixed into Store."""

    _engine: Engine

    def lose_invocations(self, command_id: str, node_ids: Sequence[str], started_before_ms: int,
                         now_ms: int) -> list[str]:
        """The invocations of ``command_id`` on ``node_ids`` that their agents accepted before
        ``started_before_ms`` and never ended become AgentLost; returns the node ids that moved."""
        if not node_ids:
            return []
        i = invocations.c
        lost = Detail.AGENT_LOST
        moved: list[str] = []
        with write_tx(self._engine) as conn:
            for chunk in slices(node_ids):
                stmt = (update(invocations)
                        .where(i.command_id == command_id, i.node_id.in_(chunk),
                               i.status_detail == Detail.IN_PROGRESS.value,
                               and_(i.started_at_ms > 0, i.started_at_ms <= started_before_ms))
                        .values(status=lost.status.value, status_detail=lost.value, ended_at_ms=now_ms)
                        .returning(i.node_id))
                moved += [str(n) for (n,) in conn.execute(stmt)]
        return moved

    def owe_cancels(self, command_id: str, node_ids: Sequence[str], at_ms: int) -> None:
        if not node_ids:
            return
        with write_tx(self._engine) as conn:
            owed = {str(n) for (n,) in conn.execute(select(owed_cancels.c.node_id)
                                                    .where(owed_cancels.c.command_id == command_id))}
            rows = [{"command_id": command_id, "node_id": n, "at_ms": at_ms} for n in node_ids if n not in owed]
            if rows:
                conn.execute(insert(owed_cancels), rows)

    def owed_cancels(self) -> list[tuple[str, str]]:
        """(command id, node id) of every cancel owed, oldest first."""
        o = owed_cancels.c
        with read_tx(self._engine) as conn:
            return [(str(c), str(n)) for c, n in conn.execute(select(o.command_id, o.node_id).order_by(o.at_ms))]

    def cancel_delivered(self, command_id: str, node_id: str) -> None:
        o = owed_cancels.c
        with write_tx(self._engine) as conn:
            conn.execute(delete(owed_cancels).where(o.command_id == command_id, o.node_id == node_id))
