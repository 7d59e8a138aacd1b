"""The strings of an operator's request, checked before the method it calls reads them: a NUL
character in any of them (a name, a tag, a comment, an id, a parameter's value) is refused by the
field's name. None can carry one: PostgreSQL's text columns refuse it (an UNKNOWN answer, after the
query has failed), so does every command line and environment variable a value may end up in, and
on SQLite it would be stored and shown back cut short. The check walks the message generically, so
a field added to a request later is covered too."""
from __future__ import annotations

from google.protobuf.message import Message

from plugins.sdk.limits import NUL


def nul_field(message: Message, prefix: str = "") -> str | None:
    """The first string of ``message`` (its nested messages, repeated fields and maps included) that
    holds a NUL, as a path such as ``targets.tags[0].values[1]``; None when none does."""
    for field, value in message.ListFields():
        name = prefix + field.name
        entry = field.message_type.GetOptions().map_entry if field.message_type is not None else False
        if entry:  # a map: its keys are strings here; its values strings or messages
            for key, item in value.items():
                if isinstance(key, str) and NUL in key:
                    return f"{name}[{key!r}]"
                found = _in_value(item, f"{name}[{key!r}]")
                if found:
                    return found
        elif field.is_repeated:
            for i, item in enumerate(value):
                found = _in_value(item, f"{name}[{i}]")
                if found:
                    return found
        else:
            found = _in_value(value, name)
            if found:
                return found
    return None


def _in_value(value: object, name: str) -> str | None:
    if isinstance(value, str):
        return name if NUL in value else None
    if isinstance(value, Message):
        return nul_field(value, f"{name}.")
    return None
