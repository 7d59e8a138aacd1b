"""Named, versioned documents (SSM's CreateDocument / UpdateDocument / DescribeDocument ...).

One ``document_heads`` row per name holds the latest and default version numbers and the builtin
and deleted flags; one ``document_versions`` row per version holds the content. Every change locks
the head row first (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises
writers anyway), so concurrent updates get distinct, consecutive version numbers. Versions are never
removed: deleting a document only marks its head, and creating the name again continues the
numbering, so a name and version recorded with a command never comes to mean other content.
Deleting one version (SSM's DeleteDocument with a DocumentVersion) marks that row alike; the default
version cannot be deleted. A version may have a name (SSM's VersionName), unique per document for
good: a deleted version keeps its name.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, RowMapping, func, select, update

from controller.model import DOCUMENT_VERSION_NAME
from controller.store.engine import read_tx, write_tx
from controller.store.errors import Conflict, NotFound, StoreError
from controller.store.schema import document_heads, document_versions
from controller.store.statements import dialect_insert

VERSION_DEFAULT = "$DEFAULT"
VERSION_LATEST = "$LATEST"
FORMATS = ("YAML", "JSON")
VERSION_NAME = DOCUMENT_VERSION_NAME


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
    version_name: str = ""  # SSM's VersionName; "" when the version has none


class BuiltinDocument(StoreError):
    """A built-in document cannot be changed or deleted by an operator."""


class DefaultVersion(StoreError):
    """The default version of a document cannot be deleted: another must be made the default first."""


def version_name_problem(version_name: str) -> str | None:
    """Why ``version_name`` cannot name a version, or None."""
    if VERSION_NAME.match(version_name):
        return None
    return (f"version name {version_name[:140]!r}: use 1 to 128 characters from letters, digits, "
            f"'_', '.' and '-'")


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
        version_name=str(row["version_name"] or ""),
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
    def _live_latest(conn: Connection, name: str) -> int:
        """The highest version of ``name`` not deleted (what ``$LATEST`` means; 0 for none)."""
        v = document_versions.c
        return int(conn.execute(select(func.max(v.version)).where(v.name == name, v.deleted.is_(False))
                                ).scalar_one_or_none() or 0)

    @staticmethod
    def _named_version(conn: Connection, name: str, version_name: str) -> RowMapping | None:
        v = document_versions.c
        return conn.execute(select(document_versions).where(v.name == name, v.version_name == version_name)
                            ).mappings().one_or_none()

    def _live_record(self, conn: Connection, head: RowMapping, row: RowMapping) -> DocumentRecord:
        """``row`` as a record whose latest version is the highest one not deleted."""
        return replace(_record(head, row), latest_version=self._live_latest(conn, str(head["name"])))

    @staticmethod
    def _head(conn: Connection, name: str) -> RowMapping:
        h = document_heads.c
        return conn.execute(select(document_heads).where(h.name == name)).mappings().one()

    # -- writes -------------------------------------------------------------------------------------

    def put_document(self, name: str, content: bytes, fmt: str, sha256_hex: str, description: str,
                     created_by: str, at_ms: int, *, create: bool, builtin: bool = False,
                     version_name: str = "") -> DocumentRecord:
        """A new version of ``name``: version 1 (also the default) for a new name, latest + 1 for an
        update (the default stays where it is).

        Operators (``builtin=False``): ``create=True`` needs a name that does not exist or was
        deleted (Conflict otherwise; a deleted name continues its numbering and the new version
        becomes the default); ``create=False`` needs an existing, undeleted name (NotFound). A
        built-in document cannot be changed (BuiltinDocument).

        Seeding (``builtin=True``; ``create`` is ignored): creates the built-in document, or adds a
        version and makes it the default when the content changed, or returns the latest version
        unchanged when the content is the same; Conflict if an operator's document has the name.

        ``version_name``: the new version's name (SSM's VersionName), "" for none; Conflict when
        another version of ``name``, deleted or not, has it.
        """
        if not name:
            raise StoreError("document name must not be empty")
        if fmt not in FORMATS:
            raise StoreError(f"document {name}: format must be one of {FORMATS}, got {fmt!r}")
        if hashlib.sha256(content).hexdigest() != sha256_hex:
            raise StoreError(f"document {name}: content does not match sha256 {sha256_hex}")
        if version_name and (problem := version_name_problem(version_name)):
            raise StoreError(f"document {name}: {problem}")
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
            if version_name and (taken := self._named_version(conn, name, version_name)) is not None:
                raise Conflict(f"document {name} already has a version named {version_name!r} (version "
                               f"{taken['version']}{', deleted' if taken['deleted'] else ''}): version names "
                               f"are never reused")
            conn.execute(document_versions.insert().values(
                name=name, version=version, content=content, format=fmt, sha256=sha256_hex,
                description=description, created_at_ms=at_ms, created_by=created_by,
                version_name=version_name or None))
            conn.execute(update(document_heads).where(h.name == name).values(
                latest_version=version, default_version=default, deleted=False))
            head = self._head(conn, name)
            row = self._version_row(conn, name, version)
            assert row is not None
            return self._live_record(conn, head, row)

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
                raise NotFound(f"document {name} has no version {version} (latest is {self._live_latest(conn, name)})")
            if row["deleted"]:
                raise NotFound(f"document {name} version {version} was deleted")
            conn.execute(update(document_heads).where(document_heads.c.name == name)
                         .values(default_version=version))
            return self._live_record(conn, self._head(conn, name), row)

    def delete_document_version(self, name: str, version: int) -> DocumentRecord:
        """Delete one version of ``name`` (the row is marked, its number never used again); the
        version as it was. NotFound for a missing document or version (or one deleted already),
        BuiltinDocument for a built-in document, DefaultVersion for the default version."""
        with write_tx(self._engine) as conn:
            head = self._locked_head(conn, name)
            if head is None or head["deleted"]:
                raise NotFound(f"no document {name}")
            _refuse_builtin(head, "changed")
            row = self._version_row(conn, name, version)
            if row is None or row["deleted"]:
                raise NotFound(f"document {name} has no version {version}"
                               + (" (it was deleted)" if row is not None else
                                  f" (latest is {self._live_latest(conn, name)})"))
            if version == int(head["default_version"]):
                raise DefaultVersion(f"document {name} version {version} is its default version and cannot be "
                                     f"deleted: set another default first (document set-default)")
            v = document_versions.c
            conn.execute(update(document_versions).where(v.name == name, v.version == version).values(deleted=True))
            return self._live_record(conn, head, row)

    # -- reads --------------------------------------------------------------------------------------

    def get_document_version(self, name: str, selector: str = VERSION_DEFAULT, *,
                             include_deleted: bool = False, version_name: str = "") -> DocumentRecord:
        """One version of ``name``: ``$DEFAULT`` (also ``""``), ``$LATEST`` or ``"N"``, or the one
        called ``version_name`` (which, with a version number too, must be that version: SSM's
        GetDocument). NotFound naming the document and the version; a deleted document or version is
        not found unless ``include_deleted``."""
        wanted = parse_version_selector(selector)
        h = document_heads.c
        with read_tx(self._engine) as conn:
            head = conn.execute(select(document_heads).where(h.name == name)).mappings().one_or_none()
            if head is None or (head["deleted"] and not include_deleted):
                raise NotFound(f"no document {name}")
            latest = self._live_latest(conn, name)
            if version_name:
                row = self._named_version(conn, name, version_name)
                if row is None or (row["deleted"] and not include_deleted):
                    raise NotFound(f"document {name} has no version named {version_name!r}")
                if isinstance(wanted, int) and wanted != int(row["version"]):
                    raise NotFound(f"document {name}: version {wanted} is not the one named {version_name!r} "
                                   f"(that is version {row['version']})")
                return replace(_record(head, row), latest_version=latest)
            if wanted == VERSION_DEFAULT:
                version = int(head["default_version"])
            elif wanted == VERSION_LATEST:
                version = latest or int(head["latest_version"])
            else:
                assert isinstance(wanted, int)
                version = wanted
            row = self._version_row(conn, name, version)
        if row is None:
            raise NotFound(f"document {name} has no version {version} (latest is {latest})")
        if row["deleted"] and not include_deleted:
            raise NotFound(f"document {name} version {version} was deleted")
        return replace(_record(head, row), latest_version=latest or int(head["latest_version"]))

    def list_document_versions(self, name: str) -> list[DocumentRecord]:
        """Every version of ``name`` not deleted, oldest first (SSM's ListDocumentVersions);
        NotFound for a missing or deleted document."""
        v = document_versions.c
        with read_tx(self._engine) as conn:
            head = conn.execute(select(document_heads).where(document_heads.c.name == name)).mappings().one_or_none()
            if head is None or head["deleted"]:
                raise NotFound(f"no document {name}")
            rows = conn.execute(select(document_versions).where(v.name == name, v.deleted.is_(False))
                                .order_by(v.version)).mappings().all()
        latest = max((int(r["version"]) for r in rows), default=0)
        return [replace(_record(head, r), latest_version=latest) for r in rows]

    def list_documents(self) -> list[DocumentRecord]:
        """Every undeleted document at its default version, by name."""
        h, v = document_heads.c, document_versions.c
        q = (select(document_heads, document_versions)
             .join(document_versions, (v.name == h.name) & (v.version == h.default_version))
             .where(h.deleted.is_(False))
             .order_by(h.name))
        v2 = document_versions.alias("live")
        latest_q = (select(v2.c.name, func.max(v2.c.version).label("latest")).where(v2.c.deleted.is_(False))
                    .group_by(v2.c.name))
        with read_tx(self._engine) as conn:
            rows = conn.execute(q).mappings().all()
            latest = {str(r.name): int(r.latest) for r in conn.execute(latest_q)}
        return [replace(_record(r, r), latest_version=latest.get(str(r["name"]), int(r["latest_version"])))
                for r in rows]
