"""controller/dispatchjobs.settle_forecast: a command's counters are stored with its results, in the
same transaction, only when the store moved every invocation as the dispatcher forecast (SQLite and
PostgreSQL)."""
from __future__ import annotations

import dataclasses

import pytest

from controller.dispatch.jobs import Forecast, settle_forecast
from controller.model import InvocationRecord
from controller.store import Store
from plugins.sdk.status import Detail
from tests.store.test_store import DOC, command, invocations


def _setup(store: Store) -> None:
    store.create_command(command("cmd-1"), DOC, [dataclasses.replace(i, detail=Detail.IN_PROGRESS)
                                                 for i in invocations("cmd-1", ("mi-1", "mi-2"))])


def _forecast(store: Store, moved: tuple[tuple[str, Detail], ...]) -> Forecast:
    base = store.get_command("cmd-1")
    record = dataclasses.replace(base, detail=Detail.IN_PROGRESS, completed_count=1)
    return Forecast(base, record, moved)


def test_a_forecast_that_came_true_stores_its_counters(store: Store) -> None:
    _setup(store)
    f = _forecast(store, (("mi-1", Detail.SUCCESS),))
    details, kept = settle_forecast(store, [InvocationRecord("cmd-1", "mi-1", Detail.SUCCESS, 0, 1, 2, ())], [f])
    assert (details, kept) == ([Detail.SUCCESS], [f])
    assert store.get_command("cmd-1").completed_count == 1


def test_a_forecast_the_store_did_not_follow_stores_nothing(store: Store) -> None:
    _setup(store)
    store.settle([InvocationRecord("cmd-1", "mi-1", Detail.FAILED, 1, 1, 2, ())])  # it ended otherwise first
    f = _forecast(store, (("mi-1", Detail.SUCCESS),))
    details, kept = settle_forecast(store, [InvocationRecord("cmd-1", "mi-1", Detail.SUCCESS, 0, 1, 2, ())], [f])
    assert (details, kept) == ([Detail.FAILED], [])
    assert store.get_command("cmd-1").completed_count == 0


def test_the_counters_go_in_the_results_transaction(store: Store) -> None:
    """A counters update that fails takes the results' update back with it: one transaction."""
    _setup(store)
    f = _forecast(store, (("mi-1", Detail.SUCCESS),))
    broken = dataclasses.replace(f, record=dataclasses.replace(f.record, completed_count=None))  # NOT NULL
    with pytest.raises(Exception):  # noqa: B017 - the database's own error, whichever backend
        settle_forecast(store, [InvocationRecord("cmd-1", "mi-1", Detail.SUCCESS, 0, 1, 2, ())], [broken])
    assert store.get_invocation("cmd-1", "mi-1").detail is Detail.IN_PROGRESS
    assert store.get_command("cmd-1").completed_count == 0
