from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.databases import BACKENDS, empty_database


@contextmanager
def _initialised(tmp_path: Path, request: pytest.FixtureRequest, database_url: str | None = None
                 ) -> Iterator[Cluster]:
    """A cluster set up in ``tmp_path``, closed at the end, its logs printed when the test failed."""
    c = Cluster(tmp_path, database_url)
    c.init()
    try:
        yield c
    finally:
        c.close()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(c.logs())


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    with _initialised(tmp_path, request) as c:
        yield c


@pytest.fixture(params=BACKENDS)
def cluster_on(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """``cluster`` on each database: SQLite, and a PostgreSQL schema of its own when
    OUTPOST_TEST_POSTGRES_DSN is set (tests/support/databases.py)."""
    with empty_database(request.param, tmp_path) as url, _initialised(tmp_path, request, url) as c:
        yield c


@pytest.fixture
def fleet_cluster(fleet: Cluster, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The requesting module's ``fleet`` (a module-scoped Cluster it defines), its logs printed when a
    test fails: a module that shares one fleet among its tests names this ``cluster``."""
    yield fleet
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(fleet.logs())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]
