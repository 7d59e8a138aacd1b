"""Secrets are typed, so they can be scrubbed centrally: a Secret never prints its value."""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

MASK = "********"
# Shorter secret values are refused where they are given (a send's parameters, a step's inputs):
# masking "a" would garble every text it appears in and show the secret by the pattern of the holes.
MIN_SECRET_CHARS = 8


def too_short(value: str) -> str | None:
    """Why ``value`` cannot be a secret (a one-line reason that does not show it), or None."""
    if 0 < len(value) < MIN_SECRET_CHARS:
        return (f"a secret must be at least {MIN_SECRET_CHARS} characters long to be masked safely "
                "in output and logs")
    return None


def maskable(values: Iterable[str]) -> list[str]:
    """The values the scrubbers mask: whole values only, and none too short to mask safely."""
    return [v for v in values if len(v) >= MIN_SECRET_CHARS]


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret value in ``text`` with the mask."""
    for s in sorted(maskable(secrets), key=len, reverse=True):
        text = text.replace(s, MASK)
    return text


class ScrubFilter(logging.Filter):
    """A logging filter that masks known secret values in every record that passes. A process
    installs one on its log handlers (plugins/sdk/host/logs.py) and holds each command's secret
    values in it while the command is in hand (``hold``, then ``release`` as often)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._held: Counter[str] = Counter()
        self._secrets: set[str] = set()
        self.hold(secrets)

    def add(self, value: str) -> None:
        self.hold((value,))

    def hold(self, values: Iterable[str]) -> None:
        for value in maskable(values):
            if value:
                self._held[value] += 1
                self._secrets.add(value)

    def release(self, values: Iterable[str]) -> None:
        for value in values:
            if self._held[value] > 1:
                self._held[value] -= 1
            elif value in self._held:
                del self._held[value]
                self._secrets.discard(value)

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            try:
                message = record.getMessage()
            except Exception:  # a call whose arguments do not fit its format: logged as it is, scrubbed
                message = f"{record.msg!s} (arguments that do not fit: {record.args!r})"
            record.msg = scrub(message, self._secrets)
            record.args = None
            if record.exc_info:
                record.exc_text = scrub(logging.Formatter().formatException(record.exc_info), self._secrets)
                record.exc_info = None
            if record.exc_text:
                record.exc_text = scrub(record.exc_text, self._secrets)
            if record.stack_info:
                record.stack_info = scrub(record.stack_info, self._secrets)
        return True
