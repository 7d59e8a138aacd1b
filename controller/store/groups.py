"""Target groups: named, saved Targets (SSM's ``resource-groups:Name`` target key)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, RowMapping, delete, select

from controller.model import Targets
from controller.store import codec
from controller.store.engine import read_tx, write_tx
from controller.store.errors import NotFound, StoreError
from controller.store.schema import target_groups
from controller.store.statements import dialect_insert


@dataclass(frozen=True)
class GroupRecord:
    name: str
    targets: Targets
    created_at_ms: int


def _group(r: RowMapping) -> GroupRecord:
    return GroupRecord(name=str(r["name"]), targets=codec.decode_targets(str(r["targets"])),
                       created_at_ms=int(r["created_at_ms"]))


class GroupTables:
    """Mixed into Store: target groups."""

    _engine: Engine

    def put_group(self, name: str, targets: Targets, at_ms: int) -> GroupRecord:
        """Create the group, or replace its targets (keeping when it was created)."""
        if not name:
            raise StoreError("group name must not be empty")
        g = target_groups.c
        with write_tx(self._engine) as conn:
            stmt = dialect_insert(conn, target_groups).values(
                name=name, targets=codec.encode_targets(targets), created_at_ms=at_ms)
            conn.execute(stmt.on_conflict_do_update(index_elements=[g.name],
                                                    set_={"targets": stmt.excluded.targets}))
            return _group(conn.execute(select(target_groups).where(g.name == name)).mappings().one())

    def get_group(self, name: str) -> GroupRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(target_groups).where(target_groups.c.name == name)).mappings().one_or_none()
        if row is None:
            raise NotFound(f"no group {name}")
        return _group(row)

    def list_groups(self) -> list[GroupRecord]:
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(target_groups).order_by(target_groups.c.name)).mappings().all()
        return [_group(r) for r in rows]

    def delete_group(self, name: str) -> None:
        with write_tx(self._engine) as conn:
            result = conn.execute(delete(target_groups).where(target_groups.c.name == name))
            if result.rowcount != 1:
                raise NotFound(f"no group {name}")
