"""Reading registered nodes: one, some, every one, or a page of them by node id."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, RowMapping, select

from controller.model import NodeRecord
from controller.store.engine import read_tx
from controller.store.errors import NotFound, StoreError
from controller.store.inlists import page_range, slices
from controller.store.rows import node_from_row
from controller.store.schema import node_tags, nodes


def _records(rows: Sequence[RowMapping], tag_rows: Sequence[RowMapping]) -> list[NodeRecord]:
    by_node: dict[str, list[RowMapping]] = {}
    for tag in tag_rows:
        by_node.setdefault(str(tag["node_id"]), []).append(tag)
    return [node_from_row(r, by_node.get(str(r["node_id"]), [])) for r in rows]


class NodeListTables:
    """Mixed into Store."""

    _engine: Engine

    def get_node(self, node_id: str) -> NodeRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(nodes).where(nodes.c.node_id == node_id)).mappings().one_or_none()
            tag_rows = conn.execute(select(node_tags).where(node_tags.c.node_id == node_id)
                                    .order_by(node_tags.c.position)).mappings().all()
        if row is None:
            raise NotFound(f"no node {node_id}")
        return node_from_row(row, tag_rows)

    def list_nodes(self, after: str = "", limit: int | None = None) -> list[NodeRecord]:
        """By node id: every node, or a page of at most ``limit`` whose ids come after ``after``."""
        if limit is not None and limit < 1:
            raise StoreError(f"limit must be positive, got {limit}")
        n, t = nodes.c, node_tags.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(nodes).where(n.node_id > after).order_by(n.node_id).limit(limit)
                                ).mappings().all()
            if not rows:
                return []
            last = str(rows[-1]["node_id"])
            tag_rows = conn.execute(select(node_tags).where(page_range(t.node_id, (after, last)))
                                    .order_by(t.node_id, t.position)).mappings().all()
        return _records(rows, tag_rows)

    def get_nodes(self, node_ids: Sequence[str]) -> list[NodeRecord]:
        """Those of ``node_ids`` that are registered, by node id."""
        n, t = nodes.c, node_tags.c
        rows: list[RowMapping] = []
        tag_rows: list[RowMapping] = []
        with read_tx(self._engine) as conn:
            for part in slices(sorted(set(node_ids))):
                rows += conn.execute(select(nodes).where(n.node_id.in_(part))).mappings().all()
                tag_rows += conn.execute(select(node_tags).where(t.node_id.in_(part))
                                         .order_by(t.node_id, t.position)).mappings().all()
        return _records(sorted(rows, key=lambda r: str(r["node_id"])), tag_rows)
