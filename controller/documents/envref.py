"""How a step refers to an ``interpolationType: ENV_VAR`` parameter's environment variable, by the
language of its action (controller/documents/placeholders.py substitutes it for ``{{ name }}``).

A POSIX shell gets one quoted word, whatever the value holds: ``"${OUTPOST_P}"``, so the value is
never split into several arguments or expanded as a glob (``name=ok.txt /elsewhere`` stays one file
name, ``name=*`` the name ``*``). Where the reference already stands inside double quotes it is
``${OUTPOST_P}``; inside single quotes (where nothing expands) the quote is closed around it:
``'a '"${OUTPOST_P}"' b'``. The quoting is read from the text before the reference: quotes,
backslash escapes, and ``$(...)`` and backticks, inside which quoting starts afresh. PowerShell gets
``$env:OUTPOST_P``, which is one argument however it is used.
"""
from __future__ import annotations

import enum
from collections.abc import Callable

POWERSHELL_ACTIONS = frozenset({"aws:runPowerShellScript", "powershell"})
SHELL_ACTIONS = frozenset({"aws:runShellScript", "shell"})

EnvReference = Callable[[str, str], str]  # (variable name, the text before the reference) -> reference


class Quote(enum.Enum):
    NONE = "none"
    SINGLE = "single"
    DOUBLE = "double"


def quoting_at_end(text: str) -> Quote:
    """The quoting in force at the end of ``text``, read as a POSIX shell reads it."""
    stack = [Quote.NONE]  # a context per $( ... ) or backtick, each with its own quoting
    backticks: list[int] = []  # the stack depths where a backtick context began
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        top = stack[-1]
        if top is Quote.SINGLE:
            if c == "'":
                stack[-1] = Quote.NONE
        elif c == "\\":
            i += 1  # the next character is taken literally
        elif c == "$" and text.startswith("$(", i):
            stack.append(Quote.NONE)
            i += 1
        elif c == "`":
            if backticks and backticks[-1] == len(stack) - 1:
                backticks.pop()
                stack.pop()
            else:
                backticks.append(len(stack))
                stack.append(Quote.NONE)
        elif top is Quote.DOUBLE:
            if c == '"':
                stack[-1] = Quote.NONE
        elif c == "'":
            stack[-1] = Quote.SINGLE
        elif c == '"':
            stack[-1] = Quote.DOUBLE
        elif c == ")" and len(stack) > 1 and not (backticks and backticks[-1] == len(stack) - 1):
            stack.pop()
        i += 1
    return stack[-1]


def posix_reference(name: str, before: str) -> str:
    quoting = quoting_at_end(before)
    if quoting is Quote.DOUBLE:
        return "${" + name + "}"
    word = '"${' + name + '}"'
    return f"'{word}'" if quoting is Quote.SINGLE else word


def powershell_reference(name: str, before: str) -> str:
    return f"$env:{name}"


def env_reference_for(action: str) -> EnvReference:
    """How a step of ``action`` refers to an environment variable (see the module's docstring)."""
    return powershell_reference if action in POWERSHELL_ACTIONS else posix_reference
