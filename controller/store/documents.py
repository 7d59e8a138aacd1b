"""Named, versioned documents (SSM's CreateDocument / UpdateDocument / DescribeDocument ...).

One ``document_heads`` row per name holds the latest and default version numbers and the builtin
and deleted flags; one ``document_versions`` row per version holds the content. Every change locks
the head row first (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises
writers anyway), so concurrent updates get distinct, consecutive version numbers. Versions are never
removed: deleting a document only marks its head, and creating the name again continues the
numbering, so a name and version recorded with a command never comes to mean other content.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, RowMapping, select, update

from controller.store.engine import read_tx, write_tx
from controller.store.errors import Conflict, NotFound, StoreError
from controller.store.schema import document_heads, document_versions
from controller.store.statements import dialect_insert

VERSION_DEFAULT = "$DEFAULT"
VERSION_LATEST = "$LATEST"
FORMATS = ("YAML", "JSON")


@dataclass(frozen=True)
class DocumentRecord:
    name: str
    version: int
    latest_version: int
    default_version: int
    content: bytes
    format: str  # YAML | JSON
    sha256: str  # hex of content
    description: str
    created_at_ms: int
    created_by: str
    builtin: bool


class BuiltinDocument(StoreError):
    """A built-in document cannot be changed or deleted by an operator."""


MAX_VERSION = 2**31 - 1  # the largest the column holds (SQLite and PostgreSQL alike)


def parse_version_selector(selector: str) -> int | str:
    """``""`` and ``"$DEFAULT"`` -> VERSION_DEFAULT, ``"$LATEST"`` -> VERSION_LATEST, ``"N"`` -> N
    (a positive decimal integer); anything else is a StoreError."""
    s = selector.strip()
    if s in ("", VERSION_DEFAULT):
        return VERSION_DEFAULT
    if s == VERSION_LATEST:
        return VERSION_LATEST
    if s.isascii() and s.isdigit() and 1 <= int(s) <= MAX_VERSION:
        return int(s)
    raise StoreError(f"document version must be $DEFAULT, $LATEST or a version number (1 to {MAX_VERSION}), "
                     f"got {selector[:40]!r}")


def _record(head: RowMapping, row: RowMapping) -> DocumentRecord:
    return DocumentRecord(
        name=str(row["name"]),
        version=int(row["version"]),
        latest_version=int(head["latest_version"]),
        default_version=int(head["default_version"]),
        content=bytes(row["content"]),
        format=str(row["format"]),
        sha256=str(row["sha256"]),
        description=str(row["description"]),
        created_at_ms=int(row["created_at_ms"]),
        created_by=str(row["created_by"]),
        builtin=bool(head["builtin"]),
    )


def _refuse_builtin(head: RowMapping, doing: str) -> None:
    if head["builtin"]:
        raise BuiltinDocument(f"document {head['name']} is built in: it cannot be {doing}")


class DocumentTables:
    """Mixed into Store: named, versioned documents."""

    _engine: Engine

    # -- helpers (inside a transaction) -------------------------------------------------------------

    @staticmethod
    def _locked_head(conn: Connection, name: str) -> RowMapping | None:
        h = document_heads.c
        return conn.execute(select(document_heads).where(h.name == name).with_for_update()).mappings().one_or_none()

    @staticmethod
    def _version_row(conn: Connection, name: str, version: int) -> RowMapping | None:
        v = document_versions.c
        return conn.execute(select(document_versions).where(v.name == name, v.version == version)
                            ).mappings().one_or_none()

    @staticmethod
    def _head(conn: Connection, name: str) -> RowMapping:
        h = document_heads.c
        return conn.execute(select(document_heads).where(h.name == name)).mappings().one()

    # -- writes -------------------------------------------------------------------------------------

    def put_document(self, name: str, content: bytes, fmt: str, sha256_hex: str, description: str,
                     created_by: str, at_ms: int, *, create: bool, builtin: bool = False) -> DocumentRecord:
        """A new version of ``name``: version 1 (also the default) for a new name, latest + 1 for an
        update (the default stays where it is).

        Operators (``builtin=False``): ``create=True`` needs a name that does not exist or was
        deleted (Conflict otherwise; a deleted name continues its numbering and the new version
        becomes the default); ``create=False`` needs an existing, undeleted name (NotFound). A
        built-in document cannot be changed (BuiltinDocument).

        Seeding (``builtin=True``; ``create`` is ignored): creates the built-in document, or adds a
        version and makes it the default when the content changed, or returns the latest version
        unchanged when the content is the same; Conflict if an operator's document has the name.
        """
        if not name:
            raise StoreError("document name must not be empty")
        if fmt not in FORMATS:
            raise StoreError(f"document {name}: format must be one of {FORMATS}, got {fmt!r}")
        if hashlib.sha256(content).hexdigest() != sha256_hex:
            raise StoreError(f"document {name}: content does not match sha256 {sha256_hex}")
        h = document_heads.c
        with write_tx(self._engine) as conn:
            # A placeholder head (version 0) makes the row exist so that it can be locked; it is
            # rolled back with everything else when the put is refused.
            conn.execute(dialect_insert(conn, document_heads)
                         .values(name=name, latest_version=0, default_version=0, builtin=builtin, deleted=True)
                         .on_conflict_do_nothing(index_elements=[h.name]))
            head = self._locked_head(conn, name)
            assert head is not None
            latest = int(head["latest_version"])
            fresh = latest == 0
            version = latest + 1
            default = int(head["default_version"])
            if builtin:
                if not fresh and not head["builtin"]:
                    raise Conflict(f"document {name} already exists and is not built in")
                if not fresh:
                    current = self._version_row(conn, name, latest)
                    if current is not None and current["sha256"] == sha256_hex:  # seeded already
                        if head["deleted"]:
                            conn.execute(update(document_heads).where(h.name == name).values(deleted=False))
                            head = self._head(conn, name)
                        return _record(head, current)
                default = version
            else:
                if not fresh:
                    _refuse_builtin(head, "changed")
                if create:
                    if not head["deleted"]:
                        raise Conflict(f"document {name} already exists")
                    default = version  # a new name, or a deleted one created again
                elif head["deleted"]:
                    raise NotFound(f"no document {name}")
            conn.execute(document_versions.insert().values(
                name=name, version=version, content=content, format=fmt, sha256=sha256_hex,
                description=description, created_at_ms=at_ms, created_by=created_by))
            conn.execute(update(document_heads).where(h.name == name).values(
                latest_version=version, default_version=default, deleted=False))
            head = self._head(conn, name)
            row = self._version_row(conn, name, version)
            assert row is not None
            return _record(head, row)

    def delete_document(self, name: str, *, builtin: bool = False) -> None:
        """Mark ``name`` deleted (its versions stay). NotFound if there is no such document;
        BuiltinDocument for a built-in one unless ``builtin`` (the seeding path)."""
        with write_tx(self._engine) as conn:
            head = self._locked_head(conn, name)
            if head is None or head["deleted"]:
                raise NotFound(f"no document {name}")
            if not builtin:
                _refuse_builtin(head, "deleted")
            conn.execute(update(document_heads).where(document_heads.c.name == name).values(deleted=True))

    def set_default_version(self, name: str, version: int, *, builtin: bool = False) -> DocumentRecord:
        """Make ``version`` the default; NotFound for a missing document or version."""
        with write_tx(self._engine) as conn:
            head = self._locked_head(conn, name)
            if head is None or head["deleted"]:
                raise NotFound(f"no document {name}")
            if not builtin:
                _refuse_builtin(head, "changed")
            row = self._version_row(conn, name, version)
            if row is None:
                raise NotFound(f"document {name} has no version {version} (latest is {head['latest_version']})")
            conn.execute(update(document_heads).where(document_heads.c.name == name)
                         .values(default_version=version))
            return _record(self._head(conn, name), row)

    # -- reads --------------------------------------------------------------------------------------

    def get_document_version(self, name: str, selector: str = VERSION_DEFAULT, *,
                             include_deleted: bool = False) -> DocumentRecord:
        """One version of ``name``: ``$DEFAULT`` (also ``""``), ``$LATEST`` or ``"N"``. NotFound
        naming the document and the version; a deleted document is not found unless
        ``include_deleted``."""
        wanted = parse_version_selector(selector)
        h = document_heads.c
        with read_tx(self._engine) as conn:
            head = conn.execute(select(document_heads).where(h.name == name)).mappings().one_or_none()
            if head is None or (head["deleted"] and not include_deleted):
                raise NotFound(f"no document {name}")
            if wanted == VERSION_DEFAULT:
                version = int(head["default_version"])
            elif wanted == VERSION_LATEST:
                version = int(head["latest_version"])
            else:
                assert isinstance(wanted, int)
                version = wanted
            row = self._version_row(conn, name, version)
        if row is None:
            raise NotFound(f"document {name} has no version {version} (latest is {head['latest_version']})")
        return _record(head, row)

    def list_documents(self) -> list[DocumentRecord]:
        """Every undeleted document at its default version, by name."""
        h, v = document_heads.c, document_versions.c
        q = (select(document_heads, document_versions)
             .join(document_versions, (v.name == h.name) & (v.version == h.default_version))
             .where(h.deleted.is_(False))
             .order_by(h.name))
        with read_tx(self._engine) as conn:
            rows = conn.execute(q).mappings().all()
        return [_record(r, r) for r in rows]
