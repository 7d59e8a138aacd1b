"""The AWS CLI's ``--query`` (JMESPath) and ``--output json|text|table|yaml`` for ``outpost ssm``.

json: 4-space indent, non-ASCII as it is (the AWS CLI's); text: the AWS CLI's tab-separated form
(awscli/text.py's rules: a dict's scalars on one line, sorted by key, prefixed by its key in capitals
below the top; a list of dicts a line each); table: rich tables, one per list of objects; yaml:
PyYAML's block form. An empty answer (CancelCommand's) prints nothing, as the AWS CLI does."""
from __future__ import annotations

import json
import sys
from typing import IO, Any

import yaml
from rich.table import Table

from controller.cli.render import make_console
from controller.cli.terminal import cell, terminal_text


def emit(data: Any, output: str, query: str | None, title: str, stream: IO[str] | None = None) -> None:
    stream = stream or sys.stdout
    if query:
        import jmespath

        data = jmespath.search(query, data)
    if data == {} or (data is None and not query):
        return
    if output == "json":
        stream.write(json.dumps(data, indent=4, ensure_ascii=False) + "\n")
    elif output == "yaml":
        stream.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    elif output == "text":
        stream.write(terminal_text(text(data)) if stream.isatty() else text(data))
    else:
        table(data, title)


def _scalar(v: Any) -> bool:
    return not isinstance(v, (dict, list))


def _str(v: Any) -> str:
    return "None" if v is None else str(v)


def text(data: Any) -> str:
    lines: list[str] = []
    _text(data, lines, None, None)
    return "".join(f"{line}\n" for line in lines)


def _text(item: Any, lines: list[str], identifier: str | None, scalar_keys: list[str] | None) -> None:
    if isinstance(item, dict):
        _text_dict(item, lines, identifier, scalar_keys)
    elif isinstance(item, list):
        _text_list(item, lines, identifier)
    else:
        lines.append(_str(item))


def _text_list(items: list, lines: list[str], identifier: str | None) -> None:
    if not items:
        return
    if any(isinstance(e, dict) for e in items):
        keys = sorted({k for e in items if isinstance(e, dict) for k, v in e.items() if _scalar(v)})
        for e in items:
            _text(e, lines, identifier, keys)
    elif any(isinstance(e, list) for e in items):
        scalars = [e for e in items if _scalar(e)]
        if scalars:
            _text_scalars(scalars, lines, identifier)
        for e in items:
            if not _scalar(e):
                _text(e, lines, identifier, None)
    else:
        _text_scalars(items, lines, identifier)


def _text_scalars(items: list, lines: list[str], identifier: str | None) -> None:
    if identifier is not None:
        lines.extend(f"{identifier.upper()}\t{_str(e)}" for e in items)
    else:
        lines.append("\t".join(_str(e) for e in items))


def _text_dict(item: dict, lines: list[str], identifier: str | None, scalar_keys: list[str] | None) -> None:
    if scalar_keys is None:
        scalars = [_str(v) for _, v in sorted(item.items()) if _scalar(v)]
        rest = [(k, v) for k, v in sorted(item.items()) if not _scalar(v)]
    else:
        scalars = [_str(item.get(k, "")) for k in scalar_keys]
        rest = [(k, item[k]) for k in sorted(set(item) - set(scalar_keys))]
    if scalars:
        lines.append("\t".join(([identifier.upper()] if identifier is not None else []) + scalars))
    for key, value in rest:
        _text(value, lines, key, None)


def _cell(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False) if not _scalar(v) else _str(v)


def table(data: Any, title: str) -> None:
    """A simple rendering: a dict's scalars as key/value rows, each list of objects as a table of
    their scalar fields (nested values as JSON)."""
    console = make_console()
    if isinstance(data, dict):
        scalars = {k: v for k, v in data.items() if _scalar(v)}
        if scalars:
            t = Table(title=title, title_justify="left", show_header=False)
            for k, v in scalars.items():
                t.add_row(cell(k), cell(_str(v)))
            console.print(t)
        for key, value in data.items():
            if not _scalar(value):
                table(value, key)
    elif isinstance(data, list) and any(isinstance(e, dict) for e in data):
        columns = list(dict.fromkeys(k for e in data if isinstance(e, dict) for k in e))
        t = Table(title=title, title_justify="left")
        for c in columns:
            t.add_column(c, overflow="fold")
        for e in data:
            t.add_row(*(cell(_cell(e.get(c, ""))) for c in columns) if isinstance(e, dict) else [cell(_str(e))])
        console.print(t)
    elif isinstance(data, list):
        t = Table(title=title, title_justify="left", show_header=False)
        for e in data:
            t.add_row(cell(_cell(e)))
        console.print(t)
    else:
        console.print(cell(_str(data)))
