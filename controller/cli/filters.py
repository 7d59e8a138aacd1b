"""The filters of ``command list`` and ``node list``, applied here in the CLI to the rows the
controller's listings return (ListCommands and ListNodes have no filter of their own): what each
option takes, checked as click parses it, and whether a row passes."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from controller.cli import params
from controller.model import PingStatus
from plugins.sdk.facts import Platform
from plugins.sdk.limits import shown
from plugins.sdk.status import Detail, Status

# SSM's statuses and status details, each once, in the order status.py declares them
STATUSES = tuple(dict.fromkeys([s.value for s in Status] + [d.value for d in Detail]))


def one_of(values: Sequence[str]) -> Callable[[str], str]:
    """A parse for params.Checked: ``text`` as the one of ``values`` it names in any case."""
    by_lower = {v.lower(): v for v in values}

    def parse(text: str) -> str:
        if text.lower() not in by_lower:
            raise ValueError(f"expected one of {', '.join(values)} (any case), got {shown(text)}")
        return by_lower[text.lower()]
    return parse


STATUS = params.Checked("status", one_of(STATUSES))
PING_STATUS = params.Checked("ping-status", one_of([p.value for p in PingStatus]))
PLATFORM = params.Checked("platform", one_of([p.value for p in Platform]))

def parse_timestamp(text: str) -> int:
    """An ISO 8601 moment (``2026-12-07``, ``2026-12-07T10:00:00Z``, ``...+02:00``; UTC when no zone
    is given), as the AWS CLI's InvokedAfter / InvokedBefore filters take it: unix milliseconds."""
    try:
        moment = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return int(moment.timestamp() * 1000)
    except (ValueError, OverflowError):
        raise ValueError(f"expected an ISO 8601 time (2026-12-07, 2026-12-07T10:00:00Z), got {shown(text)}") from None


def tag_problem(text: str) -> str | None:
    key, sep, _ = text.partition("=")
    return None if sep and key.strip() else f"expected KEY=VALUE, got {shown(text)}"


def parse_tag(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    return key.strip(), value.strip()


TIMESTAMP = params.Checked("timestamp", parse_timestamp)
TAG = params.Text(params.MAX_TEXT, tag_problem, metavar="KEY=VALUE")


@dataclass(frozen=True)
class CommandFilter:
    """``command list``'s filters but --node (which needs each command's invocations)."""
    status: str = ""  # a Status or a Detail value; matched against either, case-insensitively
    document: str = ""
    after_ms: int | None = None  # invoked at or after
    before_ms: int | None = None  # invoked at or before

    @property
    def any(self) -> bool:
        return bool(self.status or self.document) or self.after_ms is not None or self.before_ms is not None

    def matches(self, row: Mapping[str, object], created_ms: int) -> bool:
        """``row``: render.command_row's; ``created_ms``: when the command was sent."""
        wanted = self.status.lower()
        if wanted and wanted not in (str(row["status"]).lower(), str(row["status_detail"]).lower()):
            return False
        if self.document and str(row["document"]).lower() != self.document.lower():
            return False
        if self.after_ms is not None and created_ms < self.after_ms:
            return False
        return self.before_ms is None or created_ms <= self.before_ms


@dataclass(frozen=True)
class NodeFilter:
    """``node list``'s filters; every one given must hold (tags ANDed)."""
    ping_status: str = ""
    platform: str = ""
    agent_version: str = ""
    tags: Sequence[tuple[str, str]] = ()

    def matches(self, row: Mapping[str, object]) -> bool:
        """``row``: render.node_row's."""
        if self.ping_status and str(row["ping_status"]).lower() != self.ping_status.lower():
            return False
        if self.platform and str(row["platform"]).lower() != self.platform.lower():
            return False
        if self.agent_version and row["agent_version"] != self.agent_version:
            return False
        tags = row["tags"] if isinstance(row["tags"], Mapping) else {}
        return all(key in tags and tags[key] == value for key, value in self.tags)
