"""Errors the playbook compiler raises. Every one of them names the file, the line and the field."""
from __future__ import annotations

from plugins.sdk.errors import OutpostError


class PlaybookError(OutpostError):
    """A playbook cannot be compiled.

    The message has the form ``site.yml:14: tasks[2].shell: expected a string, got a mapping``:
    the file as the user named it, the 1-based line of the offending YAML node, the field path
    relative to its play (``targets.tags.Role``, ``tasks[0].name``) and what is wrong. Parts that
    do not apply (no file for ``-e`` items, no field for a YAML syntax error) are left out.
    """

    def __init__(self, message: str, *, filename: str | None = None, line: int | None = None,
                 where: str = "") -> None:
        self.filename = filename
        self.line = line
        self.where = where
        self.message = message
        location = ""
        if filename is not None:
            location = f"{filename}:{line}: " if line is not None else f"{filename}: "
        field = f"{where}: " if where else ""
        super().__init__(f"{location}{field}{message}")


class TemplateError(OutpostError):
    """A template is malformed, refused, or cannot be evaluated. It carries no file: the compiler
    re-raises it as a :class:`PlaybookError` naming the string it came from. ``line`` is the
    1-based line within that string when Jinja2 knows it (a multi-line string), else None."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message)
