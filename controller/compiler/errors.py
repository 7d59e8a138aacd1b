"""Errors the playbook compiler raises. Every one of them names the file, the line and the field."""
from __future__ import annotations

from plugins.sdk.errors import OutpostError


def _one_line(text: str) -> str:
    """``text`` with every character a terminal would act on (a line feed, an escape) shown escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class PlaybookError(OutpostError):
    """A playbook cannot be compiled.

    The message has the form ``site.yml:14: tasks[2].shell: expected a string, got a mapping``:
    the file as the user named it, the 1-based line of the offending YAML node, the field path
    relative to its play (``targets.tags.Role``, ``tasks[0].name``) and what is wrong. Parts that
    do not apply (no file for ``-e`` items, no field for a YAML syntax error) are left out.
    """

    def __init__(self, message: str, *, filename: str | None = None, line: int | None = None,
                 where: str = "") -> None:
        where, message = _one_line(where), _one_line(message)  # a YAML key or value may hold anything
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


class InventoryError(PlaybookError):
    """An Ansible inventory, or a host pattern over one, cannot be read. Frozen: raised as built.

    The message reads ``hosts.ini:7: [usa:children] names 'southeast', a group defined nowhere``:
    the file and 1-based line (``group_vars/web.yml:3:`` for a vars file), then one line saying
    what is wrong. The fields are :class:`PlaybookError`'s, so the play executor can show it as
    it shows any other playbook error.
    """

    def __init__(self, message: str, *, filename: str | None = None, line: int | None = None,
                 where: str = "") -> None:
        super().__init__(message, filename=filename, line=line, where=where)
        object.__setattr__(self, "_sealed", True)

    def __setattr__(self, name: str, value: object) -> None:
        # Python itself sets __traceback__, __cause__, __notes__...: those stay writable
        if getattr(self, "_sealed", False) and not (name.startswith("__") and name.endswith("__")):
            raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")
        object.__setattr__(self, name, value)


class HostPatternError(InventoryError):
    """A ``hosts:`` pattern or a ``--limit`` is malformed (a bad regex, ``a:&`` naming nothing,
    a subscript past the end of its group). A pattern that is well formed but matches no host is
    not an error: Ansible warns and skips the play."""
