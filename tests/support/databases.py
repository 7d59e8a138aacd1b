"""The databases tests run on: SQLite always, PostgreSQL when OUTPOST_TEST_POSTGRES_DSN is set (e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test), each test in a freshly created schema of its own,
dropped afterwards, so that parallel runs do not collide."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from controller.store import Store
from controller.store.db import Db
from tests.support.keys import fixed_sealer

PG_ENV = "OUTPOST_TEST_POSTGRES_DSN"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql",
                 marks=pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set")),
]


def _pg_schema_url(dsn: str, schema: str) -> str:
    url = make_url(dsn).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def empty_database(backend: str, directory: Path) -> Iterator[str]:
    """A URL to an empty database (not yet migrated): a SQLite file in ``directory``, or a new
    PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'outpost.db'}"
        return
    dsn = os.environ[PG_ENV]
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(dsn, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield _pg_schema_url(dsn, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def sqlite_db(directory: Path, store_class: type[Store] = Store) -> Iterator[Db]:
    """A migrated SQLite store in ``directory`` behind the controller's Db (its one worker thread)."""
    store = store_class.open(f"sqlite:///{directory / 'outpost.db'}", fixed_sealer())
    store.migrate()
    db = Db(store)
    try:
        yield db
    finally:
        db.close()
