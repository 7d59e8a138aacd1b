"""Commands' own notifications (SSM's NotificationConfig), chosen from the fleet's status changes: a
sink on the event bus that hands each change of a command sent with a notification, when its type
and events want it (controller/notification.py), to the webhook sender's queue for that URL.

The dispatcher tells it of each command as it is sent (before its first change is announced) and,
after a controller restart, of every command still running (their notifications are stored with
them); a command is forgotten at its end, once its final change has been handed on. Nothing here
does I/O: the sink returns at once, as the bus requires."""
from __future__ import annotations

import logging

from controller.events.bus import EventKind, StatusEvent
from controller.events.webhooks import WebhookSender
from controller.notification import NotificationConfig

log = logging.getLogger(__name__)

NO_SECRET = ("notification_config: this controller has no notification_secret in controller.yaml to sign "
             "notifications with; its operator must set one (README, Webhooks) before commands can notify")


class CommandNotices:
    """The notifications of the commands running now, by command id; ``submit`` is the bus's sink."""

    def __init__(self, sender: WebhookSender) -> None:
        self._sender = sender
        self._watched: dict[str, NotificationConfig] = {}

    def __repr__(self) -> str:
        return f"CommandNotices({len(self._watched)} commands)"

    @property
    def enabled(self) -> bool:
        """Whether notifications can be signed (else a send with one is refused: NO_SECRET)."""
        return self._sender.signs_notifications

    @property
    def watching(self) -> int:
        return len(self._watched)

    def watch(self, command_id: str, config: NotificationConfig) -> None:
        """Notify ``config`` of the command's changes from now on."""
        self._watched[command_id] = config
        log.info("command %s notifies %s of %s %s", command_id, config.origin, config.type.value,
                 ",".join(config.event_names))

    def submit(self, event: StatusEvent) -> None:
        """The sink: O(1), no I/O, never raises."""
        try:
            config = self._watched.get(event.command_id)
            if config is None or event.detail is None:
                return
            if config.wants(event.kind is EventKind.INVOCATION, event.detail.status):
                self._sender.notify(config.url, event)
            if event.kind is EventKind.COMMAND and event.detail.terminal:
                del self._watched[event.command_id]
        except Exception:  # a sink must never break the publisher
            log.exception("notification of event seq=%s failed", getattr(event, "seq", "?"))
