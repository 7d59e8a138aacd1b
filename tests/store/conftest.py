"""Store fixtures, parametrized over SQLite (always) and PostgreSQL (when OUTPOST_TEST_POSTGRES_DSN
is set, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test). Each PostgreSQL test gets its own
freshly created schema, dropped afterwards, so parallel runs do not collide."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from controller.store import Store

PG_ENV = "OUTPOST_TEST_POSTGRES_DSN"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql",
                 marks=pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set")),
]


def _pg_schema_url(dsn: str, schema: str) -> str:
    url = make_url(dsn).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database (not yet migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'outpost.db'}"
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


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store."""
    s = Store.open(store_url)
    s.migrate()
    try:
        yield s
    finally:
        s.close()
