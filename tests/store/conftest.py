"""Store fixtures, parametrized over SQLite (always) and PostgreSQL (when OUTPOST_TEST_POSTGRES_DSN
is set): tests/support/databases.py."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.store import Store
from tests.support.databases import BACKENDS, empty_database
from tests.support.keys import fixed_sealer


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database (not yet migrated)."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store."""
    s = Store.open(store_url, fixed_sealer())
    s.migrate()
    try:
        yield s
    finally:
        s.close()
