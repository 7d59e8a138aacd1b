"""Prebuilt Core statements run straight on the driver's cursor, for the few a command's round trip
makes (storing the command, settling its results).

SQLAlchemy Core still writes every statement and compiles it for the dialect (once per pooled
connection: the compiled form is kept in the connection's ``info``); what is skipped is its
per-execution machinery: cache key, execution context, events, result wrapping. On the one-node
path that machinery was three quarters of each small transaction (measured: 0.27 ms to store a
command through ``Connection.execute``), and it runs cold there, once per command, where it
costs about three times as much as in a loop (docs/performance.md, seventh pass).

Parameters are given by name as with ``Connection.execute``. Expanding IN parameters
(``bindparam(..., expanding=True)``) take a non-empty list. Type bind processors (Boolean on
SQLite) are applied as SQLAlchemy would. Driver errors come out as SQLAlchemy's own exceptions
(``IntegrityError`` and the rest), so callers and ``write_tx`` handle them as before.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")
_INFO_KEY = "outpost_driver_statements"
# compiled statements kept per connection at most: the prebuilt ones are a dozen; a statement built
# per call would only ever miss, and must not pile up
_CACHE_LIMIT = 64

Params = Mapping[str, Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter names in placeholder order (qmark), None when named
    expanding: frozenset[str]
    processors: Mapping[str, Callable[[Any], Any]]
    literals: Mapping[str, Any]  # values the statement carries itself (``column == 5``)

    def render(self, params: Params) -> tuple[str, Sequence[Any] | dict[str, Any]]:
        given = {**self.literals, **params} if self.literals else params
        values = {k: (self.processors[k](v) if k in self.processors else v) for k, v in given.items()}
        sql = self.sql
        if self.expanding:
            sizes = {}
            for name in self.expanding:
                items = values[name]
                if not items:
                    raise ValueError(f"expanding parameter {name!r} needs at least one value")
                sizes[name] = len(items)
            if self.positional is None:
                for name in self.expanding:
                    items = values.pop(name)
                    values.update({f"{name}_{i}": v for i, v in enumerate(items, 1)})
                sql = _POSTCOMPILE.sub(lambda m: ", ".join(f"%({m[1]}_{i})s" for i in range(1, sizes[m[1]] + 1)),
                                       sql)
            else:
                sql = _POSTCOMPILE.sub(lambda m: ", ".join("?" * sizes[m[1]]), sql)
        if self.positional is None:
            return sql, values
        out: list[Any] = []
        for name in self.positional:
            if name in self.expanding:
                out.extend(values[name])
            else:
                out.append(values[name])
        return sql, out


def _compiled(conn: Connection, stmt: ClauseElement) -> _Compiled:
    cache: dict[int, tuple[ClauseElement, _Compiled]] = conn.connection.info.setdefault(_INFO_KEY, {})
    hit = cache.get(id(stmt))
    if hit is not None and hit[0] is stmt:
        return hit[1]
    c = stmt.compile(dialect=conn.dialect)
    positional = tuple(c.positiontup) if c.positional and c.positiontup is not None else None
    if c.positional and positional is None:
        raise TypeError(f"cannot run {stmt} on the driver: no parameter order")
    # SQLAlchemy's bind processors (e.g. Boolean to 0/1 on SQLite): a private attribute, read once here
    processors = dict(c._bind_processors)  # noqa: SLF001
    compiled = _Compiled(c.string, positional, frozenset(k for k, b in c.binds.items() if b.expanding), processors,
                         {k: b.effective_value for k, b in c.binds.items() if not b.required})
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[id(stmt)] = (stmt, compiled)  # the statement is kept with it: its id stays its own
    return compiled


def _translated(conn: Connection, sql: str, params: object, exc: Exception) -> DBAPIError:
    """The driver's error as SQLAlchemy's exception for it (IntegrityError, OperationalError, ...)."""
    return DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error,  # type: ignore[arg-type]
                               dialect=conn.dialect)


def execute(conn: Connection, stmt: ClauseElement, params: Params | None = None) -> list[tuple[Any, ...]]:
    """Run ``stmt`` once in ``conn``'s transaction; its rows, all fetched (none for a write)."""
    compiled = _compiled(conn, stmt)
    sql, args = compiled.render(params or {})
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, args)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description is not None else []
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _translated(conn, sql, args, exc) from exc
    finally:
        cursor.close()


def executemany(conn: Connection, stmt: ClauseElement, rows: Sequence[Params]) -> None:
    """Run ``stmt`` (no expanding parameters) for each of ``rows`` in ``conn``'s transaction."""
    if not rows:
        return
    compiled = _compiled(conn, stmt)
    if compiled.expanding:
        raise TypeError("executemany takes no expanding parameters")
    rendered = [compiled.render(r) for r in rows]
    sql = rendered[0][0]
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, [args for _, args in rendered])
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _translated(conn, sql, None, exc) from exc
    finally:
        cursor.close()
