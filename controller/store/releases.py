"""Agent releases: the wheels published for agent self-update, and the slices agents fetch of them
over their streams (controller/server/content.py)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, RowMapping, delete, func, select

from controller.store.engine import read_tx, write_tx
from controller.store.errors import NotFound, StoreError
from controller.store.schema import agent_releases


@dataclass(frozen=True)
class ReleaseRecord:
    version: str
    filename: str
    sha256: str
    size: int
    published_at_ms: int
    published_by: str
    signing_key_id: str
    signature: bytes


_LISTED = (agent_releases.c.version, agent_releases.c.filename, agent_releases.c.sha256, agent_releases.c.size,
           agent_releases.c.published_at_ms, agent_releases.c.published_by, agent_releases.c.signing_key_id,
           agent_releases.c.signature)


def _release(r: RowMapping) -> ReleaseRecord:
    return ReleaseRecord(str(r["version"]), str(r["filename"]), str(r["sha256"]), int(r["size"]),
                         int(r["published_at_ms"]), str(r["published_by"]), str(r["signing_key_id"]),
                         bytes(r["signature"]))


class ReleaseTables:
    """Mixed into Store: agent releases."""

    _engine: Engine

    def put_release(self, rec: ReleaseRecord, content: bytes) -> ReleaseRecord:
        """Store a new release; StoreError when its version is published already (a version names
        one build for good: delete it first to publish another)."""
        with write_tx(self._engine) as conn:
            if conn.execute(select(agent_releases.c.version).where(agent_releases.c.version == rec.version)).first():
                raise StoreError(f"agent release {rec.version} is published already (sha256 of the stored one: "
                                 f"{self.get_release(rec.version).sha256}); delete it first to replace it")
            conn.execute(agent_releases.insert().values(
                version=rec.version, filename=rec.filename, sha256=rec.sha256, size=rec.size,
                published_at_ms=rec.published_at_ms, published_by=rec.published_by,
                signing_key_id=rec.signing_key_id, signature=rec.signature, content=content))
        return rec

    def list_releases(self) -> list[ReleaseRecord]:
        with read_tx(self._engine) as conn:
            return [_release(r) for r in conn.execute(select(*_LISTED)).mappings()]

    def get_release(self, version: str) -> ReleaseRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(*_LISTED).where(agent_releases.c.version == version)).mappings().first()
        if row is None:
            raise NotFound(f"agent release {version!r} is not published")
        return _release(row)

    def delete_release(self, version: str) -> None:
        with write_tx(self._engine) as conn:
            if conn.execute(delete(agent_releases).where(agent_releases.c.version == version)).rowcount == 0:
                raise NotFound(f"agent release {version!r} is not published")

    def release_slice(self, version: str, offset: int, length: int) -> tuple[int, bytes]:
        """(the release's size, ``length`` bytes of it from ``offset``): what one ContentChunk carries,
        read as a slice in the database (never the whole wheel a chunk)."""
        r = agent_releases.c
        with read_tx(self._engine) as conn:
            row = conn.execute(select(r.size, func.substr(r.content, offset + 1, length))
                               .where(r.version == version)).first()
        if row is None:
            raise NotFound(f"agent release {version!r} is not published")
        return int(row[0]), bytes(row[1] or b"")
