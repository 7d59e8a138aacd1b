"""Commands' own notifications (SSM's NotificationConfig): stored with the command, the webhook URL
sealed with its place (it may embed a token), read back with the command for it to be shown (masked)
and, for a restarted controller, for the commands still running to go on notifying."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Connection, Engine, select

from controller.model import CommandRecord
from controller.notification import NotificationConfig, NotificationEvent, NotificationType
from controller.store.inlists import slices
from controller.store.places import notification_place
from controller.store.schema import command_notifications
from controller.store.sealer import Sealer


def notification_values(cmd: CommandRecord, sealer: Sealer) -> dict[str, object] | None:
    """The command_notifications row of ``cmd``, its URL sealed; None when it has no notification."""
    n = cmd.notification
    if n is None:
        return None
    return dict(command_id=cmd.command_id, url=sealer.seal(n.url.encode(), notification_place(cmd.command_id)),
                events=",".join(n.event_names), type=n.type.value)


class NotificationTables:
    """Mixed into Store: the notification of each command sent with one."""

    _engine: Engine
    _sealer: Sealer

    def _notifications_in(self, conn: Connection, command_ids: Sequence[str]) -> dict[str, NotificationConfig]:
        """The notifications of those of ``command_ids`` that have one, URLs opened."""
        found: dict[str, NotificationConfig] = {}
        t = command_notifications
        for part in slices(sorted(set(command_ids))):
            for r in conn.execute(select(t).where(t.c.command_id.in_(part))).mappings():
                cid = str(r["command_id"])
                url = self._sealer.open(bytes(r["url"]), notification_place(cid)).decode()
                events = frozenset(NotificationEvent(e) for e in str(r["events"]).split(","))
                found[cid] = NotificationConfig(url, events, NotificationType(str(r["type"])))
        return found

    def _with_notifications(self, conn: Connection, records: list[CommandRecord]) -> list[CommandRecord]:
        """``records``, each with its notification (when it has one)."""
        if not records:
            return records
        found = self._notifications_in(conn, [r.command_id for r in records])
        if not found:
            return records
        return [replace(r, notification=found[r.command_id]) if r.command_id in found else r for r in records]
