"""What each ``outpost`` option and argument takes, checked as click parses the command line: a
value out of range or of the wrong form is a one-line usage error that names the option (exit 2),
before anything is read, sent or stored. The controller checks the same again at its API; checking
here as well is what lets the message name ``--timeout-seconds`` rather than a request field, and
keeps a value protobuf cannot hold (a negative uint32: a ValueError, a traceback) from reaching it.

Every text value refuses a NUL character (no file name, command line or database text can hold
one) and a length past its bound; a value shown back in a message is cut short.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from controller.model import DOCUMENT_NAME, DOCUMENT_VERSION_NAME, GROUP_NAME, parse_limit
from plugins.sdk.errors import OutpostError
from plugins.sdk.limits import MAX_TIMEOUT_SECONDS, NUL, NUL_PROBLEM, shown
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES
from plugins.sdk.wire.identity import operator_identity

MAX_TEXT = 4096  # an id, a name, a path: none is near this long
MAX_DOCUMENT_VERSION = 2**31 - 1  # the store's integer
_VERSION = re.compile(r"^(\$DEFAULT|\$LATEST|[1-9][0-9]{0,9})$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_DURATION = re.compile(r"^([0-9]{1,9})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DNS_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


class Text(click.ParamType):
    """A string of at most ``max_chars`` characters without NUL; with ``check``, a function that
    returns why a value is not of the form expected (None when it is)."""
    name = "text"

    def __init__(self, max_chars: int = MAX_TEXT, check: Callable[[str], str | None] | None = None,
                 metavar: str = "TEXT") -> None:
        self.max_chars = max_chars
        self.check = check
        self.metavar = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        return self.metavar if isinstance(param, click.Option) else None  # an argument is called by its name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value  # a default given as a value
        if NUL in value:
            self.fail(NUL_PROBLEM, param, ctx)
        if len(value) > self.max_chars:
            self.fail(f"at most {self.max_chars} characters, got {len(value)}", param, ctx)
        problem = self.check(value) if self.check is not None else None
        if problem:
            self.fail(problem, param, ctx)
        return value


class Checked(click.ParamType):
    """A value made from a string by ``parse``, which raises ValueError or OutpostError saying why not."""

    def __init__(self, name: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self.parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        if NUL in value:
            self.fail(NUL_PROBLEM, param, ctx)
        try:
            return self.parse(value.strip())
        except (ValueError, OutpostError) as exc:
            self.fail(str(exc), param, ctx)


class Seconds(click.ParamType):
    """A number of seconds, finite and in ``(0, maximum]`` (click's FLOAT takes nan, inf and -1)."""
    name = "seconds"

    def __init__(self, maximum: float) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            seconds = float(value)
        except ValueError:
            self.fail(f"expected a number of seconds, got {shown(value)}", param, ctx)
        if not math.isfinite(seconds) or not 0 < seconds <= self.maximum:
            self.fail(f"must be more than 0 and at most {self.maximum:g} seconds, got {shown(value)}", param, ctx)
        return seconds


class FilePath(click.Path):
    """click.Path, refusing first what it would fail on with a traceback: a NUL (os.stat raises
    ValueError), a path longer than any file system takes, and one to be made under a file."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            if NUL in value:
                self.fail(NUL_PROBLEM, param, ctx)
            if len(value) > MAX_TEXT:
                self.fail(f"at most {MAX_TEXT} characters, got {len(value)}", param, ctx)
            for above in Path(value).parents:  # the nearest folder that exists must be one
                try:
                    if not above.exists():
                        continue
                except OSError as exc:  # a name too long for the file system
                    self.fail(f"{shown(value)}: {exc.strerror or exc}", param, ctx)
                if not above.is_dir():
                    self.fail(f"{shown(str(above))} is a file, not a directory", param, ctx)
                break
        return super().convert(value, param, ctx)


# -- the forms ------------------------------------------------------------------------------------

def _matching(pattern: re.Pattern[str], expected: str) -> Callable[[str], str | None]:
    return lambda value: None if pattern.match(value) else f"expected {expected}, got {shown(value)}"


def version_problem(value: str) -> str | None:
    if _VERSION.match(value) and (not value.isdigit() or int(value) <= MAX_DOCUMENT_VERSION):
        return None
    return f"expected $DEFAULT, $LATEST or a version number (1 to {MAX_DOCUMENT_VERSION}), got {shown(value)}"


def _document_ref(value: str) -> str | None:
    """NAME or NAME:VERSION."""
    name, sep, version = value.partition(":")
    if not DOCUMENT_NAME.match(name):
        return (f"expected a document name (3 to 128 of letters, digits, '_', '-', '.') or NAME:VERSION, "
                f"got {shown(value)}")
    return version_problem(version) if sep else None


def parse_duration(text: str) -> int:
    """``90s``, ``30m``, ``24h``, ``7d`` as seconds, 1 s to 30 days."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"expected a duration such as 90s, 30m, 24h or 7d, got {shown(text)}")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if not 1 <= seconds <= MAX_TIMEOUT_SECONDS:
        raise ValueError(f"must be 1s to 30d, got {shown(text)}")
    return seconds


def parse_moment(text: str) -> int:
    """A moment as unix milliseconds: ISO 8601 (``2026-12-07``, ``2026-12-07T10:00:00Z``; UTC when
    no zone is given), or a duration ago (``90m``: ninety minutes ago; ``7d``)."""
    m = _DURATION.match(text)
    if m:
        return int((time.time() - int(m.group(1)) * _UNITS[m.group(2)]) * 1000)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"expected a time (2026-12-07, 2026-12-07T10:00:00Z) or how long ago (90m, 7d), "
                         f"got {shown(text)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _limit(minimum: int) -> Callable[[str], str]:
    """SSM's count or percentage, checked as the controller will check it (model.parse_limit)."""
    def parse(text: str) -> str:
        parse_limit(text, 100, where="", minimum=minimum)
        return text
    return parse


def _host(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        return None if _DNS_NAME.match(value) else f"expected a DNS name or an IP address, got {shown(value)}"


def parse_address(text: str) -> str:
    """HOST:PORT (an IPv6 host in brackets), as gRPC listens on it."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT with a port 1 to 65535, got {shown(text)}")
    return text


def _operator(value: str) -> str | None:
    try:
        operator_identity(value)
        return None
    except OutpostError:
        return f"expected 1 to 64 of letters, digits, '_', '.', '@', '-' (a letter or digit first), got {shown(value)}"


def _database_url(value: str) -> str | None:
    scheme = value.partition("://")[0]
    if scheme.partition("+")[0] in ("sqlite", "postgresql") and "://" in value:
        return None
    return f"expected sqlite:///PATH or postgresql+psycopg://..., got {shown(value)}"


TEXT = Text()
ASSIGNMENT = Text(MAX_DOCUMENT_BYTES, metavar="NAME=VALUE")  # a parameter's or a variable's value: up to a document
ID = Text(128, metavar="ID")
NAME = Text(128, metavar="NAME")
TAG_KEY = Text(128, metavar="KEY")  # SSM's limit
OPERATOR = Text(64, _operator, metavar="NAME")
DOCUMENT = Text(128, _matching(DOCUMENT_NAME, "a document name (3 to 128 of letters, digits, '_', '-', '.')"),
                metavar="NAME")
DOCUMENT_REF = Text(140, _document_ref, metavar="NAME[:VERSION]")
DOCUMENT_VERSION = Text(32, version_problem, metavar="VERSION")
VERSION_NAME = Text(128, _matching(DOCUMENT_VERSION_NAME,
                                   "a version name (1 to 128 of letters, digits, '_', '.', '-')"),
                    metavar="VERSION_NAME")
GROUP = Text(128, _matching(GROUP_NAME, "a group name (1 to 128 of letters, digits, '_', '-', '.')"),
             metavar="NAME")
SHA256 = Text(64, lambda v: None if not v or _SHA256.match(v) else f"expected 64 hex digits, got {shown(v)}",
              metavar="HEX")
POLICY = Text(64, _matching(re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
                            "a policy name (1 to 64 of letters, digits, '_', '-')"), metavar="POLICY")
COMMENT = Text(100)  # SSM's limit
DESCRIPTION = Text(256)  # SSM's limit for an activation's
HOSTNAME = Text(253, _host, metavar="HOST")
DATABASE_URL = Text(MAX_TEXT, _database_url, metavar="URL")
ADDRESS = Checked("host:port", parse_address)
DURATION = Checked("duration", parse_duration)
MOMENT = Checked("time", parse_moment)
CONCURRENCY = Checked("count|percent", _limit(1))
ERRORS = Checked("count|percent", _limit(0))
TIMEOUT = click.IntRange(30, MAX_TIMEOUT_SECONDS)  # a command's delivery timeout, the controller's range
PORT = click.IntRange(1, 65534)  # and the next port, for enrolment
PAGE = click.IntRange(1, 1000)  # the controller's largest page
REGISTRATIONS = click.IntRange(1, 1000)  # an activation's, the controller's range
VERSION = click.IntRange(1, MAX_DOCUMENT_VERSION)
INTERVAL = Seconds(86400.0)


def existing_file(**kwargs: Any) -> FilePath:
    return FilePath(exists=True, dir_okay=False, path_type=Path, **kwargs)
