"""What the agent's and the swarm's command-line options take, checked as argparse parses them: a
value out of range is a one-line usage error naming the option (exit 2), before the agent starts.

A float option takes neither nan nor inf (``float()`` does, and every ``<= 0`` check lets nan
through), and every interval has a ceiling: a heartbeat of 10**20 seconds is no heartbeat.
"""
from __future__ import annotations

import argparse
import math
import shlex
from collections.abc import Callable
from pathlib import Path

from plugins.sdk.limits import NUL, NUL_PROBLEM, shown

DAY = 86400.0
MAX_PATH = 4096


def seconds(maximum: float = DAY, *, zero: bool = False) -> Callable[[str], float]:
    """Seconds, finite, more than 0 (or at least 0 with ``zero``) and at most ``maximum``."""
    lowest = "0" if zero else "more than 0"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {shown(text)}") from None
        if not math.isfinite(value) or not (value >= 0 if zero else value > 0) or value > maximum:
            raise argparse.ArgumentTypeError(f"must be {lowest} and at most {maximum:g}, got {shown(text)}")
        return value
    return parse


def count(lowest: int, highest: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {shown(text)}") from None
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(f"must be {lowest} to {highest}, got {shown(text)}")
        return value
    return parse


def amount(maximum: float) -> Callable[[str], float]:
    """A positive, finite quantity of at most ``maximum`` (megabytes, a rate)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {shown(text)}") from None
        if not math.isfinite(value) or not 0 < value <= maximum:
            raise argparse.ArgumentTypeError(f"must be more than 0 and at most {maximum:g}, got {shown(text)}")
        return value
    return parse


def directory(text: str) -> Path:
    """A directory that is there or can be made: no NUL, a length a file system takes, and neither
    it nor the nearest existing folder above it a file."""
    if NUL in text:
        raise argparse.ArgumentTypeError(NUL_PROBLEM)
    if len(text) > MAX_PATH:
        raise argparse.ArgumentTypeError(f"at most {MAX_PATH} characters, got {len(text)}")
    path = Path(text)
    for place in (path, *path.parents):
        try:
            if place.exists():
                if not place.is_dir():
                    raise argparse.ArgumentTypeError(f"{shown(str(place))} is a file, not a directory")
                break
        except OSError as exc:  # a name too long for the file system, a folder not readable
            raise argparse.ArgumentTypeError(f"{shown(text)}: {exc.strerror or exc}") from None
    return path


def command_line(text: str) -> tuple[str, ...]:
    """A command and its arguments in one string, split as a POSIX shell splits words (no expansion)."""
    if NUL in text:
        raise argparse.ArgumentTypeError(NUL_PROBLEM)
    try:
        words = tuple(shlex.split(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}: {shown(text)}") from None
    if not words:
        raise argparse.ArgumentTypeError("expected a command, got nothing")
    return words
