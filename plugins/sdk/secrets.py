"""Secrets are typed, so they can be scrubbed centrally: a Secret never prints its value."""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

MASK = "********"


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
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
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
        for value in values:
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
            record.msg = scrub(record.getMessage(), self._secrets)
            record.args = None
            if record.exc_info:
                record.exc_text = scrub(logging.Formatter().formatException(record.exc_info), self._secrets)
                record.exc_info = None
            if record.exc_text:
                record.exc_text = scrub(record.exc_text, self._secrets)
            if record.stack_info:
                record.stack_info = scrub(record.stack_info, self._secrets)
        return True
