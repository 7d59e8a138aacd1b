"""The AWS CLI's ways of writing ``--parameters`` and ``--targets``, read as it reads them, so that a
command pasted from an SSM script runs unchanged:

- JSON: ``--parameters '{"commands": ["echo a", "echo b"]}'``,
  ``--targets '[{"Key": "tag:Role", "Values": ["web"]}]'``;
- shorthand: ``commands=echo a,echo b`` (a token without ``=`` is one more value of the key before
  it, as the AWS CLI reads a list), ``commands=["echo a","echo b"]`` or ``commands=[echo a,echo b]``,
  a value in double or single quotes keeps its commas (``commands="awk -F, '{print $1}' f"``), and
  ``\\,`` is a comma in a value.

Everything else (the names and values' meaning, the limits) is checked where it was before:
controller/fleet/targets.py and the controller.
"""
from __future__ import annotations

import json

from plugins.sdk.errors import InputError
from plugins.sdk.limits import shown

_OPEN = {"[": "]", "{": "}", '"': '"', "'": "'"}


def _closing(text: str, i: int, where: str) -> int:
    """Where the quote or bracket opened at ``text[i]`` closes: the index after it. Inside brackets
    or braces, quoted parts are skipped whole and brackets nest."""
    want = [_OPEN[text[i]]]
    j = i + 1
    while j < len(text):
        ch = text[j]
        if want[-1] in "\"'":  # in quotes: only the closing quote (or an escaped one) counts
            if ch == "\\" and j + 1 < len(text):
                j += 2
                continue
            if ch == want[-1]:
                want.pop()
        elif ch in _OPEN:
            want.append(_OPEN[ch])
        elif ch == want[-1]:
            want.pop()
        j += 1
        if not want:
            return j
    raise InputError(where, f"a {'quote' if want[0] in chr(34) + chr(39) else 'bracket'} is not closed in "
                            f"{shown(text)}")


def split_top(text: str, where: str, sep: str = ",") -> list[str]:
    """``text`` cut at each ``sep``, as the AWS CLI's shorthand cuts it: a value (a piece, or what
    follows a piece's first ``=``) that starts with a quote, a bracket or a brace runs to where that
    closes; anywhere else quotes and brackets are ordinary characters (``if [ -f x ]`` is a script);
    ``\\,`` is a comma. The quotes and brackets stay in the pieces (:func:`value_of` reads them)."""
    pieces: list[str] = []
    i = 0
    while True:
        current: list[str] = []
        value_starts, keyed = True, False
        while i < len(text) and text[i] != sep:
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) and text[i + 1] in (sep, "\\"):
                current.append(text[i:i + 2])
                i, value_starts = i + 2, False
                continue
            if value_starts and ch in _OPEN:
                end = _closing(text, i, where)
                current.append(text[i:end])
                i, value_starts = end, False
                continue
            current.append(ch)
            i += 1
            value_starts = ch == "=" and not keyed
            keyed = keyed or ch == "="
        pieces.append("".join(current))
        if i >= len(text):
            return pieces
        i += 1


def _unescape(text: str) -> str:
    return text.replace("\\,", ",").replace("\\\\", "\\")


def value_of(text: str, where: str) -> list[str]:
    """One shorthand value: ``[a,"b,c"]`` is a list; ``"a,b"`` or ``'a,b'`` one string, unquoted;
    anything else one string, ``\\,`` a comma. Only a bracket or a quote that spans the whole value
    makes a list or a quoted string: ``[ "$n" -ne 2 ] && [ "$n" -ne 4 ]`` is a script line."""
    text = text.strip()
    whole = bool(text) and text[0] in _OPEN and _closing(text, 0, where) == len(text)
    if whole and text[0] == "[":
        inner = text[1:-1].strip()
        return [] if not inner else [one for piece in split_top(inner, where) for one in value_of(piece, where)]
    if whole and text[0] in "\"'":
        return [text[1:-1]]
    return [_unescape(text)]


def parameters_of(items: tuple[str, ...], where: str = "--parameters") -> dict[str, list[str]]:
    """``--parameters`` as given (each option JSON or shorthand): NAME -> its values, in order; a
    name given again adds values (a StringList)."""
    out: dict[str, list[str]] = {}
    for text in items:
        stripped = text.strip()
        if stripped.startswith("{"):
            for name, values in _json_parameters(stripped, where).items():
                out.setdefault(name, []).extend(values)
            continue
        name: str | None = None
        for piece in split_top(text, where):
            key, sep, rest = piece.partition("=")
            if sep and key.strip() and not key.strip().startswith(("[", '"', "'")):
                name = key.strip()
                out.setdefault(name, []).extend(value_of(rest, where))
            elif name is not None:  # the AWS CLI reads it as one more value of the name before
                out[name].extend(value_of(piece, where))
            elif piece.strip():
                raise InputError(where, f"expected NAME=VALUE, got {shown(piece)}")
    return out


def _json_parameters(text: str, where: str) -> dict[str, list[str]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(where, f"not valid JSON: {exc.msg} at character {exc.pos + 1}") from None
    if not isinstance(value, dict):
        raise InputError(where, "JSON parameters must be an object of NAME: [values]")
    out: dict[str, list[str]] = {}
    for name, given in value.items():
        values = given if isinstance(given, list) else [given]
        if not all(isinstance(v, (str, int, float, bool)) and v is not None for v in values):
            raise InputError(f"{where}.{name}", "expected a string or a list of strings")
        out[name] = [json.dumps(v) if isinstance(v, bool) else str(v) for v in values]
    return out


def targets_of(items: tuple[str, ...], where: str = "--targets") -> list[tuple[str, list[str]]]:
    """``--targets`` as given (each option JSON or shorthand): (Key, Values) pairs, in order."""
    out: list[tuple[str, list[str]]] = []
    for text in items:
        stripped = text.strip()
        if stripped.startswith(("[", "{")):
            out += _json_targets(stripped, where)
            continue
        fields: dict[str, list[str]] = {}
        current: str | None = None
        for piece in split_top(text, where):
            name, sep, rest = piece.partition("=")
            field = name.strip().capitalize() if sep else ""
            if field in ("Key", "Values"):
                if field in fields:
                    raise InputError(where, f"{field}= is given twice in {shown(text)}")
                current = field
                fields[field] = value_of(rest, where)
            elif current == "Values":
                fields[current] += value_of(piece, where)
            elif current is None:
                raise InputError(where, f"expected Key=KEY,Values=V1[,V2...], got {shown(text)}")
            else:
                raise InputError(where, f"Key takes one value: {shown(piece)} in {shown(text)} is not part of it "
                                        "(did you mean Values=...?)")
        out.append((_one_key(fields, text, where), fields.get("Values", [])))
    return out


def _one_key(fields: dict[str, list[str]], text: str, where: str) -> str:
    keys = fields.get("Key", [])
    if len(keys) != 1 or not keys[0]:
        raise InputError(where, f"Key= is missing or empty in {shown(text)}")
    if "Values" not in fields:
        raise InputError(where, f"Values= is missing in {shown(text)}")
    return keys[0]


def _json_targets(text: str, where: str) -> list[tuple[str, list[str]]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(where, f"not valid JSON: {exc.msg} at character {exc.pos + 1}") from None
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or set(item) - {"Key", "Values"}:
            raise InputError(at, 'expected {"Key": KEY, "Values": [V1, ...]}')
        key, values = item.get("Key"), item.get("Values")
        if not isinstance(key, str) or not key:
            raise InputError(f"{at}.Key", "expected a non-empty string")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InputError(f"{at}.Values", "expected a list of strings")
        out.append((key, values))
    return out
