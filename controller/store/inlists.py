"""IN lists kept short and index-friendly. Every list of ids a query takes goes in slices of at most
``SLICE`` (PostgreSQL overflows its stack on lists of ~10,000), and (command id, node id) pairs go as
one ``command_id = ? AND node_id IN (...)`` filter per command and slice: that is what the
(command_id, node_id) key's index serves on both backends, where a row-value
``(command_id, node_id) IN (...)`` makes SQLite scan the whole table (every invocation of the
history, per query)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import ColumnElement, and_, bindparam

SLICE = 500  # ids per IN list

T = TypeVar("T")


def slices(items: Sequence[T], size: int = SLICE) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def pair_where(command_col: ColumnElement[str], node_col: ColumnElement[str]) -> ColumnElement[bool]:
    """``command_id = :c AND node_id IN :n``: for a statement built once (building one costs more
    than running it: 0.1-0.3 ms of SQLAlchemy per statement, measured on the one-result path), run
    with each of pair_params' parameters."""
    return and_(command_col == bindparam("c"), node_col.in_(bindparam("n", expanding=True)))


def pair_params(pairs: Iterable[tuple[str, str]], size: int = SLICE) -> Iterator[dict[str, str | list[str]]]:
    """pair_where's parameters for ``pairs``: one set per command and slice of its nodes."""
    by_command: dict[str, dict[str, None]] = {}
    for command_id, node_id in pairs:
        by_command.setdefault(command_id, {})[node_id] = None
    for command_id, node_set in by_command.items():
        for node_ids in slices(list(node_set), size):
            yield {"c": command_id, "n": node_ids}


def page_range(column: ColumnElement[str], between: tuple[str, str]) -> ColumnElement[bool]:
    """``column`` within (after, last]: the keys of one page of a listing by key."""
    after, last = between
    return and_(column > after, column <= last)
