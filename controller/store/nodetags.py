"""Changing a registered node's tags (SSM's AddTagsToResource / RemoveTagsFromResource)."""
from __future__ import annotations

from sqlalchemy import Engine, delete, select

from controller.model import Tag
from controller.store.engine import read_tx, write_tx
from controller.store.errors import NotFound, StoreError
from controller.store.schema import node_tags, nodes
from controller.store.statements import ALL_NODE_IDS, ALL_NODE_TAGS


def check_unique_tag_keys(what: str, keys: list[str]) -> None:
    """StoreError naming ``what`` when a tag key is given twice."""
    if len(set(keys)) != len(keys):
        raise StoreError(f"{what}: tag keys must be unique, got {keys}")


class TagLimitExceeded(StoreError):
    """The change would leave the node with more tags than allowed."""


class NodeTagTables:
    """Mixed into Store: node tags after registration."""

    _engine: Engine

    def set_node_tags(self, node_id: str, set_tags: tuple[Tag, ...], remove_keys: tuple[str, ...], *,
                      max_tags: int | None = None) -> tuple[Tag, ...]:
        """Remove ``remove_keys`` (absent keys are ignored), then set ``set_tags``: a key the node
        has keeps its place and takes the new value, a new key goes last. Returns the node's tags.
        NotFound for an unknown node; StoreError for a key given twice, or both set and removed;
        TagLimitExceeded when the node would end with more than ``max_tags``, atomically."""
        keys = [t.key for t in set_tags]
        check_unique_tag_keys(f"node {node_id}", keys)
        both = sorted(set(keys) & set(remove_keys))
        if both:
            raise StoreError(f"node {node_id}: tag keys both set and removed: {both}")
        t = node_tags.c
        with write_tx(self._engine) as conn:
            # Locking the node row serialises concurrent changes to one node's tags on PostgreSQL.
            found = conn.execute(select(nodes.c.node_id).where(nodes.c.node_id == node_id).with_for_update()
                                 ).scalar_one_or_none()
            if found is None:
                raise NotFound(f"no node {node_id}")
            rows = conn.execute(select(t.key, t.value).where(t.node_id == node_id).order_by(t.position)).all()
            before = tuple(Tag(str(k), str(v)) for k, v in rows)
            tags = {tag.key: tag.value for tag in before}
            for key in remove_keys:
                tags.pop(key, None)
            for tag in set_tags:
                tags[tag.key] = tag.value  # an existing key keeps its position in the dict
            after = tuple(Tag(k, v) for k, v in tags.items())
            if max_tags is not None and len(after) > max_tags:
                raise TagLimitExceeded(f"node {node_id}: at most {max_tags} tags, this would leave {len(after)}")
            if after != before:
                conn.execute(delete(node_tags).where(t.node_id == node_id))
                if after:
                    conn.execute(node_tags.insert(), [
                        {"node_id": node_id, "position": i, "key": tag.key, "value": tag.value}
                        for i, tag in enumerate(after)])
            return after

    def tagged_nodes(self) -> list[tuple[str, tuple[Tag, ...]]]:
        """Every registered node's id and tags, by node id: what targeting needs, without the rest
        of the node (resolving targets over 10,000 nodes reads just this)."""
        with read_tx(self._engine) as conn:
            ids = [str(n) for (n,) in conn.execute(ALL_NODE_IDS)]
            tags: dict[str, list[Tag]] = {}
            for node_id, key, value in conn.execute(ALL_NODE_TAGS):
                tags.setdefault(str(node_id), []).append(Tag(str(key), str(value)))
        return [(n, tuple(tags.get(n, ()))) for n in ids]
