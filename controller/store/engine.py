"""Engine construction for the two supported backends, and the transaction helpers the store uses.

SQLite: every connection gets WAL, synchronous=NORMAL, foreign keys and a busy timeout. pysqlite's
own implicit transactions are switched off and the store issues BEGIN itself, so that a write
transaction takes the database's write lock up front (BEGIN IMMEDIATE): a read-then-write inside a
deferred transaction could otherwise fail with SQLITE_BUSY instead of waiting for the lock.

PostgreSQL (``postgresql+psycopg://``): writes run at READ COMMITTED with row locks where needed;
multi-statement reads run at REPEATABLE READ so they see one snapshot.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from controller.store.errors import DatabaseFailed, StoreError

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

SUPPORTED_DIALECTS = ("sqlite", "postgresql")
DEFAULT_BUSY_TIMEOUT_MS = 10_000
_WRITE_OPTION = "outpost_write"


def _enable_wal(cur: sqlite3.Cursor, busy_timeout_ms: int) -> None:
    """WAL is a property of the file, so usually already on. Switching a fresh file over needs an
    exclusive lock and SQLite reports "database is locked" at once, without waiting on busy_timeout,
    when another connection is doing the same: retry until the timeout."""
    if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _sqlite_on_connect(busy_timeout_ms: int) -> Callable[[sqlite3.Connection, ConnectionPoolEntry], None]:
    def on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None  # no implicit BEGIN; see _sqlite_on_begin
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            _enable_wal(cur, busy_timeout_ms)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()
    return on_connect


def _private_files(database: Path) -> None:
    """The database file 0600 before SQLite first opens it (SQLite gives its -wal and -shm the
    database's mode), and an existing database and its -wal and -shm tightened to 0600."""
    database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(database, os.O_RDONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600))
    except OSError as e:
        raise DatabaseFailed(f"database {database}: {e.strerror}") from e
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        try:
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                os.chmod(path, 0o600)
                logger.warning("%s was readable by others: made it 0600", path)
        except FileNotFoundError:
            pass
        except OSError as e:
            logger.warning("could not make %s private: %s", path, e.strerror)


def _postgresql_on_connect(dbapi_conn: psycopg.Connection, _record: ConnectionPoolEntry) -> None:
    """Plan every statement for its values. psycopg prepares a statement once it has run five times,
    and PostgreSQL then switches to a generic plan, estimated without the values: for ``command_id
    = $1 AND node_id IN ($2, ...)`` that plan scans every invocation of the history (measured: a
    10,000-node fan-out's writes 4x slower from the second command on)."""
    with dbapi_conn.cursor() as cur:
        cur.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_conn.commit()


def _sqlite_on_begin(conn: Connection) -> None:
    # straight to the driver: through exec_driver_sql, SQLAlchemy's execution machinery cost more
    # than the statement (about a tenth of a small transaction here)
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "BEGIN")


def create_store_engine(url: str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise StoreError(f"bad database URL: {e}") from e
    dialect = parsed.get_backend_name()
    if dialect not in SUPPORTED_DIALECTS:
        raise StoreError(f"unsupported database {dialect!r}: use sqlite:/// or postgresql+psycopg://")
    if dialect == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True)
        event.listen(engine, "connect", _postgresql_on_connect)
        return engine
    database = parsed.database or ""
    if database in ("", ":memory:"):
        # One shared connection, or every pooled connection would see its own empty database.
        # Fine for single-threaded tools and tests; use a file for anything concurrent.
        engine = create_engine(parsed, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        _private_files(Path(database))
        engine = create_engine(parsed)
    event.listen(engine, "connect", _sqlite_on_connect(busy_timeout_ms))
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _store_error(e: SQLAlchemyError) -> StoreError:
    """The store's error for SQLAlchemy's, in one line (its own text adds a second, a link to its docs):
    a failure of the database itself (OperationalError: disk full, server gone, locked out) is a
    DatabaseFailed, anything else a StoreError."""
    cause = getattr(e, "orig", None) or e
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if isinstance(e, OperationalError | InterfaceError):
        return DatabaseFailed(f"database failed: {first}")
    return StoreError(f"database error: {first}")


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: BEGIN IMMEDIATE on SQLite, READ COMMITTED on PostgreSQL."""
    try:
        with engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn
    except StoreError:
        raise
    except SQLAlchemyError as e:
        raise _store_error(e) from e


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction seeing one snapshot of the database."""
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                yield conn
    except StoreError:
        raise
    except SQLAlchemyError as e:
        raise _store_error(e) from e
