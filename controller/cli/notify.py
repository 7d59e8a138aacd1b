"""A command's own notification as the CLI takes it: ``outpost command send --notify-url URL
[--notify-events E1,E2] [--notify-type Command|Invocation]`` and ``outpost ssm send-command
--notification-config`` (the AWS CLI's shorthand ``NotificationArn=URL,NotificationEvents=Success,Failed,
NotificationType=Command``, or its JSON). Checked here as the controller checks it again
(controller/notification.py): the URL is never echoed in an error, it may hold a token."""
from __future__ import annotations

import json
from collections.abc import Callable

import click

from controller.cli import params
from controller.notification import EVENT_NAMES, MAX_URL_CHARS, NotificationConfig, notification_config
from controller.shorthand import parameters_of
from plugins.sdk.errors import InputError

URL = params.Text(MAX_URL_CHARS, metavar="URL")
EVENTS = params.Text(200, metavar="EVENT[,EVENT]")
SSM_KEYS = ("NotificationArn", "NotificationEvents", "NotificationType")


def notify_options(f: Callable) -> Callable:
    """``--notify-url``, ``--notify-events`` and ``--notify-type`` of ``command send``."""
    f = click.option("--notify-type", default=None, type=click.Choice(["Command", "Invocation"], case_sensitive=False),
                     help="Command (default): the command's status changes; Invocation: each node's")(f)
    f = click.option("--notify-events", default=None, type=EVENTS,
                     help=f"which status changes, comma-separated: {EVENT_NAMES} (default All)")(f)
    f = click.option("--notify-url", default=None, type=URL,
                     help="POST the command's status changes, signed, to this http(s) URL "
                          "(SSM's --notification-config)")(f)
    return f


def notification_of(url: str | None, events: str | None, type_: str | None) -> NotificationConfig | None:
    """``command send``'s notification options as a config; None without --notify-url."""
    if url is None:
        for option, value in (("--notify-events", events), ("--notify-type", type_)):
            if value is not None:
                raise InputError(option, "give --notify-url too: the URL the notifications are POSTed to")
        return None
    names = [e for e in (events or "").split(",") if e.strip()]
    if events is not None and not names:
        raise InputError("--notify-events", f"give one or more of {EVENT_NAMES}")
    return notification_config(url, names, type_ or "", "", ("--notify-url", "--notify-events", "--notify-type"))


def ssm_notification(value: object, where: str = "--notification-config") -> NotificationConfig | None:
    """``--notification-config`` (shorthand or JSON text, or --cli-input-json's object) as a config."""
    if value is None:
        return None
    text = json.dumps(value) if isinstance(value, dict) else str(value)
    if not text.strip():
        raise InputError(where, "give NotificationArn=URL[,NotificationEvents=E1,E2][,NotificationType=T]")
    fields: dict[str, list[str]] = {}
    for key, values in parameters_of((text,), where).items():
        known = next((k for k in SSM_KEYS if k.lower() == key.strip().lower()), None)
        if known is None:
            raise InputError(where, f"unknown key {key.strip()[:40]!r}; expected {', '.join(SSM_KEYS)}")
        fields.setdefault(known, []).extend(values)
    for key in ("NotificationArn", "NotificationType"):
        if len(fields.get(key, [])) > 1:
            raise InputError(f"{where} {key}", "takes one value")
    url = fields.get("NotificationArn", [""])[0]
    return notification_config(url, fields.get("NotificationEvents", []), fields.get("NotificationType", [""])[0],
                               where, ("NotificationArn", "NotificationEvents", "NotificationType"))
