"""Statements the store runs for every command, result and watcher, built once.

Building a SQLAlchemy statement costs more than running it on SQLite: 0.1-0.3 ms each (``values()``,
``excluded``, comparisons, the cache key). Timestamped round trips of one command to one agent
measured the store's jobs on that path (targets 0.95, create 1.83, result 3.39 ms) at half of a 13.7 ms
round trip; with these, create 1.03 and result 1.64 ms. They are built at import with bind parameters
and run with each call's values; SQLAlchemy's compiled cache keeps their SQL, and constructs are
immutable, so sharing them is safe. Those that depend on the dialect (ON CONFLICT) are built once per
dialect.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from controller.store.schema import (
    commands,
    documents,
    invocations,
    node_tags,
    nodes,
    output_chunks,
    step_outputs,
    step_results,
)
from plugins.sdk.status import Detail


def _insert_for(dialect: str, table: Table) -> PgInsert | SqliteInsert:
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


def dialect_insert(conn: Connection, table: Table) -> PgInsert | SqliteInsert:
    """INSERT with the dialect's ON CONFLICT support."""
    return _insert_for(conn.dialect.name, table)


# -- commands -----------------------------------------------------------------------------------------

COMMAND_INSERT = commands.insert()
COMMAND_BY_ID = select(commands).where(commands.c.command_id == bindparam("cid"))
# a command's counters, as every batch of results stores them (parameters: counter_params)
COMMAND_COUNTERS = update(commands).where(commands.c.command_id == bindparam("cid")).values(
    status=bindparam("st"), status_detail=bindparam("sd"), completed_count=bindparam("cc"),
    error_count=bindparam("ec"), delivery_timed_out_count=bindparam("dto"))


def counter_params(command_id: str, detail: Detail, completed_count: int, error_count: int,
                   delivery_timed_out_count: int) -> dict[str, str | int]:
    """COMMAND_COUNTERS' parameters."""
    return {"cid": command_id, "st": detail.status.value, "sd": detail.value, "cc": completed_count,
            "ec": error_count, "dto": delivery_timed_out_count}


@lru_cache(maxsize=4)
def document_insert(dialect: str) -> PgInsert | SqliteInsert:
    """A document is stored once per sha256."""
    return _insert_for(dialect, documents).on_conflict_do_nothing(index_elements=[documents.c.sha256])


# -- invocations and their steps ----------------------------------------------------------------------

INVOCATION_INSERT = invocations.insert()
INVOCATIONS_OF_COMMAND = select(invocations).where(invocations.c.command_id == bindparam("cid")).order_by(
    invocations.c.node_id)
# an invocation's final report (Store.settle, executemany)
INVOCATION_RESULT = update(invocations).where(
    invocations.c.command_id == bindparam("c"), invocations.c.node_id == bindparam("n")).values(
    status=bindparam("st"), status_detail=bindparam("sd"), exit_code=bindparam("ec"), started_at_ms=bindparam("sa"),
    ended_at_ms=bindparam("ea"))

_STEP_ORDER = (step_results.c.command_id, step_results.c.node_id, step_results.c.step_index)
_OF_COMMANDS = step_results.c.command_id.in_(bindparam("cids", expanding=True))
STEPS_OF_COMMANDS = select(step_results).where(_OF_COMMANDS).order_by(*_STEP_ORDER)
STEPS_OF_NODES = select(step_results).where(
    _OF_COMMANDS, step_results.c.node_id.in_(bindparam("nids", expanding=True))).order_by(*_STEP_ORDER)


@lru_cache(maxsize=8)
def step_upsert(dialect: str, columns: tuple[str, ...]) -> PgInsert | SqliteInsert:
    """Step results inserted, or updated by (command, node, step index), for rows of ``columns``."""
    s = step_results.c
    stmt = _insert_for(dialect, step_results)
    return stmt.on_conflict_do_update(
        index_elements=[s.command_id, s.node_id, s.step_index],
        set_={k: stmt.excluded[k] for k in columns if k not in ("command_id", "node_id", "step_index")})


# -- output, as a watcher that starts late replays it -------------------------------------------------

_so, _o = step_outputs.c, output_chunks.c
SETTLED_OUTPUT_OF_COMMAND = select(_so.node_id, _so.step_name, _so.stream, _so.data).where(
    _so.command_id == bindparam("cid")).order_by(_so.node_id, _so.step_name, _so.stream)
CHUNKS_OF_COMMAND = select(_o.node_id, _o.step_name, _o.stream, _o.seq, _o.data).where(
    _o.command_id == bindparam("cid")).order_by(_o.node_id, _o.step_name, _o.stream, _o.seq)

# -- nodes --------------------------------------------------------------------------------------------

# what resolving targets reads
ALL_NODE_IDS = select(nodes.c.node_id).order_by(nodes.c.node_id)
ALL_NODE_TAGS = select(node_tags.c.node_id, node_tags.c.key, node_tags.c.value).order_by(
    node_tags.c.node_id, node_tags.c.position)
# which of the nodes a command names are registered (checked as it is stored)
NODES_AMONG = select(nodes.c.node_id).where(nodes.c.node_id.in_(bindparam("ids", expanding=True)))
