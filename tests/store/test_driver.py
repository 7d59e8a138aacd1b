"""controller/store/driver.py: Core statements run on the driver's cursor behave as through
``Connection.execute``: parameters by name, expanding IN lists, bind processors, SQLAlchemy's
exceptions. On SQLite (qmark) and PostgreSQL (pyformat)."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from controller.store import Store, StoreError, driver
from controller.store.engine import read_tx, write_tx
from controller.store.schema import invocations
from controller.store.statements import COMMAND_INSERT, INVOCATION_RESULT, NODES_AMONG
from tests.store.test_store import DOC, command, node
from tests.store.test_store import invocations as invocation_records


def _command_row(command_id: str, *, cancel_requested: bool) -> dict[str, object]:
    c = command(command_id)
    return dict(command_id=c.command_id, document_name=c.document_name, document_sha256=c.document_sha256,
                targets="{}", comment="", requested_by="alice", created_at_ms=1, expires_at_ms=2, status="Pending",
                status_detail="Pending", target_count=0, completed_count=0, error_count=0,
                delivery_timed_out_count=0, max_concurrency="50", max_errors="0", document_version=0,
                parameters="{}", cancel_requested=cancel_requested)


def test_a_row_written_on_the_driver_reads_back_through_sqlalchemy(store: Store) -> None:
    store.create_command(command("seed"), DOC, [])  # the document row the commands refer to
    with write_tx(store.engine) as conn:
        driver.execute(conn, COMMAND_INSERT, _command_row("c-true", cancel_requested=True))
        driver.execute(conn, COMMAND_INSERT, _command_row("c-false", cancel_requested=False))
    assert store.get_command("c-true").cancel_requested is True  # Boolean's bind processor applied
    assert store.get_command("c-false").cancel_requested is False


def test_expanding_lists_and_rows(store: Store) -> None:
    for n in ("mi-1", "mi-2", "mi-3"):
        store.add_node(node(n))
    with read_tx(store.engine) as conn:
        found = driver.execute(conn, NODES_AMONG, {"ids": ["mi-3", "mi-9", "mi-1"]})
        one = driver.execute(conn, NODES_AMONG, {"ids": ["mi-2"]})
        with pytest.raises(ValueError, match="'ids' needs at least one value"):
            driver.execute(conn, NODES_AMONG, {"ids": []})
    assert sorted(found) == [("mi-1",), ("mi-3",)] and one == [("mi-2",)]


def test_executemany_updates_each_row(store: Store) -> None:
    for n in ("mi-1", "mi-2"):
        store.add_node(node(n))
    store.create_command(command("cmd-1"), DOC, invocation_records("cmd-1", ("mi-1", "mi-2")))
    moves = [{"c": "cmd-1", "n": n, "st": "Success", "sd": "Success", "ec": code, "sa": 5, "ea": 6}
             for n, code in (("mi-1", 0), ("mi-2", 7))]
    with write_tx(store.engine) as conn:
        driver.executemany(conn, INVOCATION_RESULT, moves)
        driver.executemany(conn, INVOCATION_RESULT, [])  # nothing to do
    assert [(i.node_id, i.detail.value, i.exit_code, i.ended_at_ms) for i in store.list_invocations("cmd-1")] == \
        [("mi-1", "Success", 0, 6), ("mi-2", "Success", 7, 6)]


def test_driver_errors_are_sqlalchemys_and_roll_back(store: Store) -> None:
    store.create_command(command("seed"), DOC, [])
    with pytest.raises(StoreError) as dup, write_tx(store.engine) as conn:
        driver.execute(conn, COMMAND_INSERT, _command_row("dup", cancel_requested=False))
        driver.execute(conn, COMMAND_INSERT, _command_row("dup", cancel_requested=False))
    with pytest.raises(StoreError) as missing, read_tx(store.engine) as conn:
        driver.execute(conn, text("SELECT * FROM no_such_table"))
    assert isinstance(dup.value.__cause__, IntegrityError)  # what create_command turns into Conflict
    assert isinstance(missing.value.__cause__, DBAPIError) and "no_such_table" in str(missing.value)
    assert [c.command_id for c in store.list_commands()] == ["seed"]  # the first insert went with the second


def test_statements_built_per_call_do_not_pile_up(store: Store) -> None:
    store.add_node(node("mi-1"))
    with read_tx(store.engine) as conn:
        for i in range(200):
            rows = driver.execute(conn, select(invocations.c.node_id).where(invocations.c.exit_code == i))
            assert rows == []
        assert len(conn.connection.info["outpost_driver_statements"]) <= 64
