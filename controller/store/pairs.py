"""(command id, node id) pairs in queries: one ``command_id = ? AND node_id IN (...)`` filter per
command and slice. That is what the (command_id, node_id) key's index serves on both backends: a
row-value ``(command_id, node_id) IN (...)`` makes SQLite scan the whole table (every invocation of
the history, per query), and PostgreSQL overflows its stack on IN lists of ~10,000 pairs."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import ColumnElement, and_

SLICE = 500  # node ids per IN list


def pair_filters(command_col: ColumnElement[str], node_col: ColumnElement[str],
                 pairs: Iterable[tuple[str, str]], size: int = SLICE) -> Iterator[ColumnElement[bool]]:
    by_command: dict[str, dict[str, None]] = {}
    for command_id, node_id in pairs:
        by_command.setdefault(command_id, {})[node_id] = None
    for command_id, node_set in by_command.items():
        node_ids = list(node_set)
        for start in range(0, len(node_ids), size):
            yield and_(command_col == command_id, node_col.in_(node_ids[start:start + size]))
