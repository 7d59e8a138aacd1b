"""Patch baselines (docs/patching.md): stored as the operator wrote them, by name, for the ``patch``
steps that name them; the controller puts a baseline's canonical text into each such step when it
sends the document (controller/documents/resolve.py). The server checks a baseline with
plugins/sdk/patching.py before it stores it; the store keeps what it is given."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, RowMapping, delete, select, update
from sqlalchemy.exc import IntegrityError

from controller.store.engine import read_tx, write_tx
from controller.store.errors import Conflict, NotFound
from controller.store.schema import baselines


@dataclass(frozen=True)
class BaselineRecord:
    name: str
    content: str  # as the operator wrote it ("" in listings)
    sha256: str  # hex, of the content's UTF-8
    operating_system: str
    description: str
    created_at_ms: int
    updated_at_ms: int
    updated_by: str


_b = baselines.c
_LISTED = (_b.name, _b.sha256, _b.operating_system, _b.description, _b.created_at_ms, _b.updated_at_ms,
           _b.updated_by)


def _baseline(r: RowMapping) -> BaselineRecord:
    return BaselineRecord(str(r["name"]), str(r.get("content", "")), str(r["sha256"]), str(r["operating_system"]),
                          str(r["description"]), int(r["created_at_ms"]), int(r["updated_at_ms"]),
                          str(r["updated_by"]))


def _missing(name: str) -> NotFound:
    return NotFound(f"no patch baseline named {name!r}")


class BaselineTables:
    """Mixed into Store: patch baselines."""

    _engine: Engine

    def put_baseline(self, rec: BaselineRecord, *, create: bool) -> BaselineRecord:
        """Create a baseline (Conflict when the name is taken) or replace one's content (NotFound when
        there is none by that name; its creation time stays). Returns it as stored."""
        with write_tx(self._engine) as conn:
            if create:
                if conn.execute(select(_b.name).where(_b.name == rec.name)).first() is not None:
                    raise Conflict(f"patch baseline {rec.name!r} already exists; `outpost baseline update` "
                                   "replaces its content")
                try:
                    conn.execute(baselines.insert().values(
                        name=rec.name, content=rec.content, sha256=rec.sha256, operating_system=rec.operating_system,
                        description=rec.description, created_at_ms=rec.updated_at_ms,
                        updated_at_ms=rec.updated_at_ms, updated_by=rec.updated_by))
                except IntegrityError as exc:  # created meanwhile by another controller
                    raise Conflict(f"patch baseline {rec.name!r} already exists") from exc
            else:
                done = conn.execute(update(baselines).where(_b.name == rec.name).values(
                    content=rec.content, sha256=rec.sha256, operating_system=rec.operating_system,
                    description=rec.description, updated_at_ms=rec.updated_at_ms, updated_by=rec.updated_by))
                if done.rowcount == 0:
                    raise NotFound(f"no patch baseline named {rec.name!r}; `outpost baseline create` makes one")
            row = conn.execute(select(baselines).where(_b.name == rec.name)).mappings().one()
        return _baseline(row)

    def get_baseline(self, name: str) -> BaselineRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(baselines).where(_b.name == name)).mappings().first()
        if row is None:
            raise _missing(name)
        return _baseline(row)

    def list_baselines(self) -> list[BaselineRecord]:
        """Every baseline by name, without its content (up to 64 KB each: GetBaseline has it)."""
        with read_tx(self._engine) as conn:
            return [_baseline(r) for r in conn.execute(select(*_LISTED).order_by(_b.name)).mappings()]

    def delete_baseline(self, name: str) -> None:
        """Commands sent before keep the baseline's text they carry; nodes keep their compliance."""
        with write_tx(self._engine) as conn:
            if conn.execute(delete(baselines).where(_b.name == name)).rowcount == 0:
                raise _missing(name)

    def baselines_for_send(self, names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
        """The content of each of ``names`` that is stored, by name; and, when one is not, every
        stored name, sorted (else []): what a send needs to fill in its patch steps, or to say which
        names there are. One read."""
        wanted = sorted(set(names))
        with read_tx(self._engine) as conn:
            found = {str(r[0]): str(r[1]) for r in conn.execute(select(_b.name, _b.content)
                                                                  .where(_b.name.in_(wanted)))}
            every = ([str(r[0]) for r in conn.execute(select(_b.name).order_by(_b.name))]
                     if len(found) < len(wanted) else [])
        return found, every
