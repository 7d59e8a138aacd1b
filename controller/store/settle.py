"""Agents' final reports stored many at a time: one transaction for a whole batch of invocation
results (their steps, their details along the state machine, their output compacted), which is what
lets a fan-out to thousands of nodes settle in seconds."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Connection, Engine, bindparam, or_, select, update

from controller.model import CommandRecord, InvocationRecord, StepRecord
from controller.store import driver
from controller.store.engine import write_tx
from controller.store.inlists import pair_params, pair_where, slices
from controller.store.output import compact, upsert_step_rows, with_chunks
from controller.store.rows import detail as row_detail
from controller.store.rows import step_values
from controller.store.schema import invocations
from controller.store.sealer import Sealer
from controller.store.statements import COMMAND_COUNTERS, INVOCATION_RESULT, counter_params
from plugins.sdk.status import Detail, can_transition

_DETAILS = select(invocations.c.command_id, invocations.c.node_id, invocations.c.status_detail).where(
    pair_where(invocations.c.command_id, invocations.c.node_id))


def _details_of(conn: Connection, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Detail]:
    """The stored detail of each (command id, node id) pair that has an invocation."""
    return {(str(c), str(n)): row_detail(value) for params in pair_params(pairs)
            for c, n, value in driver.execute(conn, _DETAILS, params)}


class SettleTables:
    """Mixed into Store."""

    _engine: Engine
    _sealer: Sealer

    def transition_invocations(self, command_id: str, node_ids: Sequence[str], detail: Detail, *,
                               ended_at_ms: int | None = None, only_from: Sequence[Detail] | None = None) -> list[str]:
        """Move many invocations of one command to ``detail`` in one transaction, each only along an
        allowed edge (``only_from``: and only from these details); returns the node ids that moved."""
        if not node_ids:
            return []
        i = invocations.c
        sources = [d.value for d in (only_from or Detail) if d is not detail and can_transition(d, detail)]
        values: dict[str, str | int] = {"status": detail.status.value, "status_detail": detail.value}
        if ended_at_ms is not None:
            values["ended_at_ms"] = ended_at_ms
        moved: list[str] = []
        with write_tx(self._engine) as conn:
            for chunk in slices(node_ids):
                stmt = (update(invocations)
                        .where(i.command_id == command_id, i.node_id.in_(chunk), i.status_detail.in_(sources))
                        .values(values).returning(i.node_id))
                moved += [str(n) for (n,) in conn.execute(stmt)]
        return moved

    def accept_many(self, accepted: Sequence[tuple[str, str, int]]) -> None:
        """(command id, node id, at): the agents accepted these invocations (InProgress, started), in
        one transaction; invocations already past InProgress are left as they are."""
        if not accepted:
            return
        i = invocations.c
        sources = [d.value for d in Detail if can_transition(d, Detail.IN_PROGRESS)]
        with write_tx(self._engine) as conn:
            waiting = or_(*(i.status_detail == source for source in sources))  # no IN: executemany can't expand
            conn.execute(update(invocations).where(i.command_id == bindparam("c"), i.node_id == bindparam("n"),
                                                   waiting)
                         .values(status=Detail.IN_PROGRESS.status.value, status_detail=Detail.IN_PROGRESS.value,
                                 started_at_ms=bindparam("at")),
                         [{"c": c, "n": n, "at": at} for c, n, at in accepted])

    def upsert_steps(self, steps: Sequence[StepRecord]) -> None:
        """Steps as they finish, many in one transaction (rows of unknown invocations are dropped)."""
        if not steps:
            return
        with write_tx(self._engine) as conn:
            known = _details_of(conn, ((st.command_id, st.node_id) for st in steps))
            upsert_step_rows(conn, [step_values(st) for st in steps if (st.command_id, st.node_id) in known])

    def settle(self, batch: Sequence[InvocationRecord],
               counted: Callable[[list[Detail | None]], Sequence[CommandRecord]] | None = None
               ) -> list[Detail | None]:
        """Store every invocation as its agent finally reported it, in one transaction. For each: the
        invocation's detail afterwards (unchanged when the state machine refuses the move), or None when
        there is no such invocation. ``counted``: given those details, the commands whose counters and
        detail to store in the same transaction."""
        if not batch:
            return []
        keys = [(b.command_id, b.node_id) for b in batch]
        with write_tx(self._engine) as conn:
            current = _details_of(conn, keys)
            upsert_step_rows(conn, [step_values(st) for b in batch if (b.command_id, b.node_id) in current
                                 for st in b.steps])
            moves = []
            out: list[Detail | None] = []
            for b in batch:
                now = current.get((b.command_id, b.node_id))
                if now is not None and can_transition(now, b.detail):
                    moves.append({"c": b.command_id, "n": b.node_id, "st": b.detail.status.value,
                                  "sd": b.detail.value, "ec": b.exit_code, "sa": b.started_at_ms,
                                  "ea": b.ended_at_ms})
                    now = current[(b.command_id, b.node_id)] = b.detail
                out.append(now)
            driver.executemany(conn, INVOCATION_RESULT, moves)
            for key in with_chunks(conn, list(dict.fromkeys(k for k in keys if k in current))):
                compact(conn, self._sealer, *key)  # the output is complete: keep it whole, compressed
            records = counted(out) if counted is not None else ()
            driver.executemany(conn, COMMAND_COUNTERS, [counter_params(
                r.command_id, r.detail, r.completed_count, r.error_count, r.delivery_timed_out_count) for r in records])
        return out
