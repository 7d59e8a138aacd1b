"""History retention: commands (with their invocations, steps and output) older than the retention
period are deleted in small batches, so pruning never holds the database for long."""
from __future__ import annotations

from sqlalchemy import Engine, delete, select

from controller.store.engine import write_tx
from controller.store.schema import commands, documents
from plugins.sdk.status import Detail

_TERMINAL = sorted({d.value for d in Detail if d.terminal})


class RetentionTables:
    """Mixed into Store."""

    _engine: Engine

    def prune_commands(self, created_before_ms: int, batch: int = 200) -> int:
        """Delete up to ``batch`` terminal commands created before the cutoff (cascading to their
        invocations, steps and output) and the documents no command uses any more. Returns how many
        commands went; call again until it returns 0."""
        c = commands.c
        with write_tx(self._engine) as conn:
            ids = [str(r) for (r,) in conn.execute(
                select(c.command_id).where(c.created_at_ms < created_before_ms, c.status_detail.in_(_TERMINAL))
                .order_by(c.created_at_ms).limit(batch))]
            if not ids:
                return 0
            conn.execute(delete(commands).where(c.command_id.in_(ids)))
            used = select(c.document_sha256)
            conn.execute(delete(documents).where(documents.c.sha256.not_in(used)))
        return len(ids)
