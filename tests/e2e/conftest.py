from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    c.init()
    try:
        yield c
    finally:
        c.close()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(c.logs())


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
