"""Secrets are typed, so they can be scrubbed centrally: a Secret never prints its value."""
from __future__ import annotations

import logging
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
    """A logging filter that masks known secret values in every record that passes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set(secrets)

    def add(self, value: str) -> None:
        if value:
            self._secrets.add(value)

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
