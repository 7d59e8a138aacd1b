"""Statements the store runs for every command, result and watcher, built once.

Building a SQLAlchemy statement costs more than running it on SQLite: 0.1-0.3 ms each (``values()``,
``excluded``, comparisons, the cache key). Timestamped round trips of one command to one agent
measured the store's jobs on that path (targets 0.95, create 1.83, result 3.39 ms) at half of a 13.7 ms
round trip; with these, create 1.03 and result 1.64 ms. They are built at import with bind parameters
and run with each call's values; SQLAlchemy's compiled cache keeps their SQL, and constructs are
immutable, so sharing them is safe.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import bindparam, select, update
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

# a command's counters, as every batch of results stores them
COMMAND_COUNTERS = update(commands).where(commands.c.command_id == bindparam("cid")).values(
    status=bindparam("st"), status_detail=bindparam("sd"), completed_count=bindparam("cc"),
    error_count=bindparam("ec"), delivery_timed_out_count=bindparam("dto"))


def counter_params(command_id: str, detail: Detail, completed_count: int, error_count: int,
                   delivery_timed_out_count: int) -> dict[str, str | int]:
    """COMMAND_COUNTERS' parameters."""
    return {"cid": command_id, "st": detail.status.value, "sd": detail.value, "cc": completed_count,
            "ec": error_count, "dto": delivery_timed_out_count}
# a command, its invocations and their steps: what a watcher reads first
COMMAND_BY_ID = select(commands).where(commands.c.command_id == bindparam("cid"))
INVOCATIONS_OF_COMMAND = select(invocations).where(invocations.c.command_id == bindparam("cid")).order_by(
    invocations.c.node_id)
COMMAND_INSERT = commands.insert()


@lru_cache(maxsize=4)
def document_insert(dialect: str) -> PgInsert | SqliteInsert:
    """A document is stored once per sha256."""
    stmt = pg_insert(documents) if dialect == "postgresql" else sqlite_insert(documents)
    return stmt.on_conflict_do_nothing(index_elements=[documents.c.sha256])


_STEP_ORDER = (step_results.c.command_id, step_results.c.node_id, step_results.c.step_index)
STEPS_OF_COMMANDS = select(step_results).where(step_results.c.command_id.in_(bindparam("cids", expanding=True)))
STEPS_OF_NODES = STEPS_OF_COMMANDS.where(step_results.c.node_id.in_(bindparam("nids", expanding=True))).order_by(
    *_STEP_ORDER)
STEPS_OF_COMMANDS = STEPS_OF_COMMANDS.order_by(*_STEP_ORDER)

# a command's output, as a watcher that starts late replays it
_so, _o = step_outputs.c, output_chunks.c
SETTLED_OUTPUT_OF_COMMAND = select(_so.node_id, _so.step_name, _so.stream, _so.data).where(
    _so.command_id == bindparam("cid")).order_by(_so.node_id, _so.step_name, _so.stream)
CHUNKS_OF_COMMAND = select(_o.node_id, _o.step_name, _o.stream, _o.seq, _o.data).where(
    _o.command_id == bindparam("cid")).order_by(_o.node_id, _o.step_name, _o.stream, _o.seq)

# what resolving targets reads
ALL_NODE_IDS = select(nodes.c.node_id).order_by(nodes.c.node_id)
ALL_NODE_TAGS = select(node_tags.c.node_id, node_tags.c.key, node_tags.c.value).order_by(
    node_tags.c.node_id, node_tags.c.position)

# which of the nodes a command names are registered (checked as it is stored)
NODES_AMONG = select(nodes.c.node_id).where(nodes.c.node_id.in_(bindparam("ids", expanding=True)))

# an invocation's final report (Store.settle, executemany)
INVOCATION_RESULT = update(invocations).where(
    invocations.c.command_id == bindparam("c"), invocations.c.node_id == bindparam("n")).values(
    status=bindparam("st"), status_detail=bindparam("sd"), exit_code=bindparam("ec"), started_at_ms=bindparam("sa"),
    ended_at_ms=bindparam("ea"))
