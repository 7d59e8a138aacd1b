"""The content store: files that copy steps send to nodes (``copy: {src: NAME}``), kept a chunk a
row, each chunk sealed at rest with its place (a configuration file may hold secrets), and read a
chunk at a time as agents fetch them over their streams (controller/server/content.py)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Engine, RowMapping, delete, select

from controller.store.engine import read_tx, write_tx
from controller.store.errors import NotFound
from controller.store.places import content_place
from controller.store.schema import content_chunks, content_files
from controller.store.sealer import Sealer
from plugins.sdk.wire.messages import CONTENT_CHUNK_BYTES


@dataclass(frozen=True)
class ContentRecord:
    name: str
    sha256: str
    size: int
    chunks: int
    stored_at_ms: int
    stored_by: str


def _record(r: RowMapping) -> ContentRecord:
    return ContentRecord(str(r["name"]), str(r["sha256"]), int(r["size"]), int(r["chunks"]), int(r["stored_at_ms"]),
                         str(r["stored_by"]))


class ContentTables:
    """Mixed into Store: the content store."""

    _engine: Engine
    _sealer: Sealer

    def put_content(self, name: str, data: bytes, at_ms: int, by: str) -> ContentRecord:
        """Store ``data`` as ``name``, replacing what was stored under it (its chunks go with it)."""
        pieces = [data[i:i + CONTENT_CHUNK_BYTES] for i in range(0, len(data), CONTENT_CHUNK_BYTES)] or [b""]
        rec = ContentRecord(name, hashlib.sha256(data).hexdigest(), len(data), len(pieces), at_ms, by)
        sealed = [{"name": name, "seq": i, "data": self._sealer.seal(p, content_place(name, i))}
                  for i, p in enumerate(pieces)]
        with write_tx(self._engine) as conn:
            conn.execute(delete(content_files).where(content_files.c.name == name))
            conn.execute(content_files.insert().values(name=name, sha256=rec.sha256, size=rec.size,
                                                       chunks=rec.chunks, stored_at_ms=at_ms, stored_by=by))
            conn.execute(delete(content_chunks).where(content_chunks.c.name == name))  # no cascade on SQLite w/o FKs
            conn.execute(content_chunks.insert(), sealed)
        return rec

    def list_content(self) -> list[ContentRecord]:
        with read_tx(self._engine) as conn:
            return [_record(r) for r in conn.execute(select(content_files).order_by(content_files.c.name)).mappings()]

    def get_content(self, name: str) -> ContentRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(content_files).where(content_files.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no content named {name!r} in the content store")
        return _record(row)

    def delete_content(self, name: str) -> None:
        with write_tx(self._engine) as conn:
            conn.execute(delete(content_chunks).where(content_chunks.c.name == name))
            if conn.execute(delete(content_files).where(content_files.c.name == name)).rowcount == 0:
                raise NotFound(f"no content named {name!r} in the content store")

    def content_chunk(self, sha256: str, seq: int) -> tuple[ContentRecord, bytes]:
        """The record of a file whose content has ``sha256``, and its chunk ``seq``, opened. Agents
        fetch by sha256 alone, which only a signed command sent to them names: a node cannot list or
        guess the store's files (controller/server/content.py)."""
        with read_tx(self._engine) as conn:
            q = select(content_files).where(content_files.c.sha256 == sha256).limit(1)
            row = conn.execute(q).mappings().first()
            if row is None:
                raise NotFound("no content with that sha256 in the content store (replaced or deleted since the "
                               "command was sent?)")
            name = str(row["name"])
            data = conn.execute(select(content_chunks.c.data).where(content_chunks.c.name == name,
                                                                    content_chunks.c.seq == seq)).scalar()
        if data is None:
            raise NotFound(f"content {name!r} has no chunk {seq}")
        return _record(row), self._sealer.open(bytes(data), content_place(name, seq))
