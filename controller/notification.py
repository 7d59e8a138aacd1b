"""A command's own notifications (SSM's NotificationConfig): a webhook URL the controller POSTs the
command's status changes to, which of SSM's events, and at which level (the command's or each
invocation's). Checked wherever one is given (the CLI, then the controller again); the URL is held
as a secret: it may embed a token, so only ``scheme://host:port`` of it is ever logged or shown.

SSM's events are its statuses (``Status``), so every detail counts as its status does:
DeliveryTimedOut and ExecutionTimedOut are TimedOut; Undeliverable, AgentLost, InvalidPlatform and
AccessDenied are Failed; Terminated is Cancelled; Incomplete is Success (docs/statuses.md). Pending,
Delayed and Cancelling have no event of their own: only ``All`` (every change) includes them.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from plugins.sdk.errors import InputError
from plugins.sdk.status import Status

MAX_URL_CHARS = 2048
_PORTS = {"http": 80, "https": 443}


class NotificationEvent(enum.StrEnum):
    ALL = "All"
    IN_PROGRESS = "InProgress"
    SUCCESS = "Success"
    TIMED_OUT = "TimedOut"
    CANCELLED = "Cancelled"
    FAILED = "Failed"


class NotificationType(enum.StrEnum):
    COMMAND = "Command"  # the command's own status changes
    INVOCATION = "Invocation"  # each node's invocation's


EVENT_OF_STATUS = {Status.IN_PROGRESS: NotificationEvent.IN_PROGRESS, Status.SUCCESS: NotificationEvent.SUCCESS,
                   Status.TIMED_OUT: NotificationEvent.TIMED_OUT, Status.CANCELLED: NotificationEvent.CANCELLED,
                   Status.FAILED: NotificationEvent.FAILED}
EVENT_NAMES = ", ".join(e.value for e in NotificationEvent)
TYPE_NAMES = ", ".join(t.value for t in NotificationType)


def check_url(url: str, where: str) -> None:
    """An http:// or https:// URL with a host, no credentials, ASCII and no whitespace; InputError
    names ``where`` and never quotes the URL (it may hold a token)."""
    if len(url) > MAX_URL_CHARS:
        raise InputError(where, f"at most {MAX_URL_CHARS} characters, got {len(url)}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InputError(where, f"not a valid URL ({exc})") from None
    if parts.scheme not in _PORTS:
        raise InputError(where, "only http:// and https:// URLs are supported")
    if not parts.hostname:
        raise InputError(where, "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InputError(where, "credentials in the URL are not allowed; use the secret")
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        raise InputError(where, "the URL must be ASCII without whitespace or control characters (percent-encode it)")


def origin_of(url: str) -> str:
    """``scheme://host:port`` of a checked URL: all of it that is safe to log."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or _PORTS.get(parts.scheme, 0)}"


@dataclass(frozen=True, repr=False)
class NotificationConfig:
    """Where and what to notify of one command. ``url`` is a secret (sealed at rest, never logged)."""
    url: str
    events: frozenset[NotificationEvent] = frozenset({NotificationEvent.ALL})
    type: NotificationType = NotificationType.COMMAND

    def __post_init__(self) -> None:
        check_url(self.url, "notification url")
        if not self.events:
            raise InputError("notification events", f"give one or more of {EVENT_NAMES}")

    def __repr__(self) -> str:
        return f"NotificationConfig({self.shown}, {self.event_names}, {self.type.value})"

    @property
    def origin(self) -> str:
        return origin_of(self.url)

    @property
    def shown(self) -> str:
        """The URL as Outpost shows it: its origin, the rest masked."""
        return f"{self.origin}/********"

    @property
    def event_names(self) -> list[str]:
        """The events in SSM's order."""
        return [e.value for e in NotificationEvent if e in self.events]

    def wants(self, invocation: bool, status: Status) -> bool:
        """Whether a change of a command (``invocation`` False) or of an invocation to ``status`` is
        notified."""
        if invocation != (self.type is NotificationType.INVOCATION):
            return False
        return NotificationEvent.ALL in self.events or EVENT_OF_STATUS.get(status) in self.events


def notification_config(url: str, events: Iterable[str], type_: str, where: str,
                        names: tuple[str, str, str] = ("url", "events", "type")) -> NotificationConfig:
    """A config from its parts as given (names in any case; no events means All, no type Command);
    InputError names ``where.url``, ``where.events`` or ``where.type`` (``names`` says what the
    parts are called where they were given; an empty ``where``: the names alone, as options)."""
    at_url, at_events, at_type = (f"{where}.{n}" if where else n for n in names)
    url = url.strip()
    if not url:
        raise InputError(at_url, "give the http:// or https:// URL to POST the notifications to")
    if url.lower().startswith("arn:"):
        raise InputError(at_url, "Outpost has no SNS: it POSTs signed JSON to an http:// or https:// "
                                 "webhook URL; give that URL instead of a topic ARN")
    check_url(url, at_url)
    chosen: set[NotificationEvent] = set()
    by_name = {e.value.lower(): e for e in NotificationEvent}
    for name in events:
        event = by_name.get(name.strip().lower())
        if event is None:
            raise InputError(at_events, f"unknown event {name.strip()[:40]!r}; expected {EVENT_NAMES}")
        chosen.add(event)
    types = {t.value.lower(): t for t in NotificationType}
    kind = types.get((type_.strip() or NotificationType.COMMAND.value).lower())
    if kind is None:
        raise InputError(at_type, f"unknown type {type_.strip()[:40]!r}; expected {TYPE_NAMES}")
    return NotificationConfig(url, frozenset(chosen or {NotificationEvent.ALL}), kind)
