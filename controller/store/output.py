"""Step results and output chunks: the part of the store the agents' reports write most."""
from __future__ import annotations

import zlib
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, select
from sqlalchemy.exc import IntegrityError

from controller.model import StepOutput, StepOutputView, StepRecord, output_view
from controller.store import driver
from controller.store.engine import read_tx, write_tx
from controller.store.errors import NotFound, StoreError
from controller.store.inlists import page_range, pair_params, pair_where
from controller.store.places import blob_place, chunk_place
from controller.store.rows import step_values
from controller.store.schema import output_chunks, step_outputs, step_results
from controller.store.sealer import Sealer
from controller.store.statements import CHUNKS_OF_COMMAND, SETTLED_OUTPUT_OF_COMMAND, dialect_insert, step_upsert
from plugins.sdk.contract import OutputStreamKind
from plugins.sdk.wire.results import OutputChunk

STREAMS = ("stdout", "stderr")
TRUNCATED_MARKER = b"--output truncated--"  # what the agent appends when it caps a step's output
# What invocation views carry (SSM's GetCommandInvocation); the rest stays retrievable in full.
def upsert_step_rows(conn: Connection, rows: list[dict[str, str | int | bool]]) -> None:
    """Insert step results, or update those already stored (by command, node and step index)."""
    if not rows:
        return
    driver.executemany(conn, step_upsert(conn.dialect.name, tuple(rows[0])), rows)


_CHUNKED = select(output_chunks.c.command_id, output_chunks.c.node_id).distinct().where(
    pair_where(output_chunks.c.command_id, output_chunks.c.node_id))


def with_chunks(conn: Connection, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of the (command id, node id) pairs that have output chunks, in their order (a few
    queries for a whole batch, where most invocations of a fan-out printed nothing)."""
    found: set[tuple[str, str]] = set()
    for params in pair_params(keys):
        found |= {(str(c), str(n)) for c, n in driver.execute(conn, _CHUNKED, params)}
    return [k for k in keys if k in found]


def _outputs(conn: Connection, sealer: Sealer, command_id: str, node_id: str | None = None,
             step_name: str | None = None, between: tuple[str, str] | None = None) -> dict[str, list[StepOutput]]:
    """``OutputTables.get_output`` inside the caller's transaction, for one node, the nodes whose ids
    are in ``between`` (after, last], or (neither) all of the command's, by node id."""
    s, o, so = step_results.c, output_chunks.c, step_outputs.c

    def narrowed(table: Table) -> list[ColumnElement[bool]]:
        c = table.c
        conds = [c.command_id == command_id]
        if node_id is not None:
            conds.append(c.node_id == node_id)
        if between is not None:
            conds.append(page_range(c.node_id, between))
        if step_name is not None:
            conds.append(c.step_name == step_name)
        return conds

    step_q = select(s.node_id, s.step_name, s.step_index).where(*narrowed(step_results))
    blob_q = select(so.node_id, so.step_name, so.stream, so.data).where(*narrowed(step_outputs))
    chunk_q = (select(o.node_id, o.step_name, o.stream, o.seq, o.data).where(*narrowed(output_chunks))
               .order_by(o.node_id, o.step_name, o.stream, o.seq))
    index: dict[tuple[str, str], int] = {}
    out: dict[str, dict[str, dict[str, bytearray]]] = {}

    def streams(node: object, name: object) -> dict[str, bytearray]:
        return out.setdefault(str(node), {}).setdefault(str(name), {k: bytearray() for k in STREAMS})

    for node, name, step_index in conn.execute(step_q):
        key = (str(node), str(name))
        index[key] = min(int(step_index), index.get(key, int(step_index)))
        streams(node, name)
    for node, name, stream, data in conn.execute(blob_q):
        place = blob_place(command_id, str(node), str(name), str(stream))
        streams(node, name)[stream] += zlib.decompress(sealer.open(data, place))
    for node, name, stream, seq, data in conn.execute(chunk_q):
        place = chunk_place(command_id, str(node), str(name), str(stream), int(seq))
        streams(node, name)[stream] += sealer.open(data, place)
    result: dict[str, list[StepOutput]] = {}
    for node, steps in out.items():
        names = sorted(steps, key=lambda n: (0, index[(node, n)], n) if (node, n) in index else (1, 0, n))
        result[node] = [StepOutput(step_name=n, stdout=bytes(steps[n]["stdout"]), stderr=bytes(steps[n]["stderr"]))
                        for n in names]
    return result


def output_views_in(conn: Connection, sealer: Sealer, command_id: str, between: tuple[str, str] | None = None
                    ) -> dict[str, dict[str, StepOutputView]]:
    """``OutputTables.output_views`` of every node of a command (or of those ``between``, see
    ``_outputs``), by node id, inside the caller's transaction: GetCommand on a 10,000-node command
    made 10,000 database jobs of 0.5 ms each when it asked node by node."""
    return {n: _views(outs) for n, outs in _outputs(conn, sealer, command_id, between=between).items()}


def _views(outputs: list[StepOutput]) -> dict[str, StepOutputView]:
    out = {}
    for o in outputs:
        stdout, so_cut = output_view(o.stdout, "stdout")
        stderr, se_cut = output_view(o.stderr, "stderr")
        out[o.step_name] = StepOutputView(o.step_name, stdout, stderr, so_cut, se_cut)
    return out


def chunks_of_command(conn: Connection, sealer: Sealer, command_id: str, between: tuple[str, str] | None = None
                      ) -> list[tuple[str, OutputChunk]]:
    """``OutputTables.output_chunks`` inside the caller's transaction (``between``: only the nodes
    whose ids are in (after, last])."""
    settled, chunks = SETTLED_OUTPUT_OF_COMMAND, CHUNKS_OF_COMMAND
    if between is not None:
        settled = settled.where(page_range(step_outputs.c.node_id, between))
        chunks = chunks.where(page_range(output_chunks.c.node_id, between))
    out: list[tuple[str, OutputChunk]] = []
    for node_id, step, stream, data in conn.execute(settled, {"cid": command_id}):
        plain = sealer.open(data, blob_place(command_id, str(node_id), str(step), str(stream)))
        out.append((str(node_id), OutputChunk(command_id, str(step), OutputStreamKind(stream), -1,
                                              zlib.decompress(plain))))
    for node_id, step, stream, seq, data in conn.execute(chunks, {"cid": command_id}):
        plain = sealer.open(data, chunk_place(command_id, str(node_id), str(step), str(stream), int(seq)))
        out.append((str(node_id), OutputChunk(command_id, str(step), OutputStreamKind(stream), int(seq), plain)))
    out.sort(key=lambda item: (item[0], item[1].step_name, item[1].stream.value, item[1].seq))
    return out


def compact(conn: Connection, sealer: Sealer, command_id: str, node_id: str) -> int:
    """``compact_output`` inside the caller's transaction."""
    o, so = output_chunks.c, step_outputs.c
    rows = conn.execute(select(o.step_name, o.stream, o.seq, o.data).where(
        o.command_id == command_id, o.node_id == node_id).order_by(o.step_name, o.stream, o.seq)).all()
    if not rows:
        return 0
    joined: dict[tuple[str, str], bytearray] = {}
    for name, stream, seq, data in rows:
        place = chunk_place(command_id, node_id, str(name), str(stream), int(seq))
        joined.setdefault((str(name), str(stream)), bytearray()).extend(sealer.open(data, place))
    for (name, stream), data in joined.items():
        place = blob_place(command_id, node_id, name, stream)
        previous = conn.execute(select(so.data).where(
            so.command_id == command_id, so.node_id == node_id, so.step_name == name,
            so.stream == stream)).scalar_one_or_none()
        whole = (zlib.decompress(sealer.open(previous, place)) if previous is not None else b"") + bytes(data)
        values = {"data": sealer.seal(zlib.compress(whole, 6), place), "size": len(whole),
                  "truncated": TRUNCATED_MARKER in whole[-len(TRUNCATED_MARKER) - 1:]}
        stmt = dialect_insert(conn, step_outputs).values(
            command_id=command_id, node_id=node_id, step_name=name, stream=stream, **values)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[so.command_id, so.node_id, so.step_name, so.stream], set_=values))
    conn.execute(delete(output_chunks).where(o.command_id == command_id, o.node_id == node_id))
    return len(rows)


class OutputTables:
    """Mixed into Store: step results and output."""

    _engine: Engine
    _sealer: Sealer

    def upsert_step(self, rec: StepRecord) -> None:
        with write_tx(self._engine) as conn:
            try:
                upsert_step_rows(conn, [step_values(rec)])
            except IntegrityError as e:
                raise NotFound(f"no invocation of command {rec.command_id} on node {rec.node_id}") from e

    def append_output(self, command_id: str, node_id: str, step_name: str, stream: str, seq: int,
                      data: bytes) -> None:
        """Store one chunk; a chunk already stored under the same seq is left as it is."""
        if stream not in STREAMS:
            raise StoreError(f"stream must be one of {STREAMS}, got {stream!r}")
        if seq < 0:
            raise StoreError(f"seq must not be negative, got {seq}")
        o, so = output_chunks.c, step_outputs.c
        with write_tx(self._engine) as conn:
            compacted = conn.execute(select(so.size).where(
                so.command_id == command_id, so.node_id == node_id, so.step_name == step_name,
                so.stream == stream)).first()
            if compacted is not None:
                return  # a replay after the invocation was settled: its output is already kept whole
            sealed = self._sealer.seal(data, chunk_place(command_id, node_id, step_name, stream, seq))
            stmt = dialect_insert(conn, output_chunks).values(
                command_id=command_id, node_id=node_id, step_name=step_name, stream=stream, seq=seq,
                size=len(data), data=sealed).on_conflict_do_nothing(
                index_elements=[o.command_id, o.node_id, o.step_name, o.stream, o.seq])
            try:
                conn.execute(stmt)
            except IntegrityError as e:
                raise NotFound(f"no invocation of command {command_id} on node {node_id}") from e

    def get_output(self, command_id: str, node_id: str, step_name: str | None = None) -> list[StepOutput]:
        """Each step's stdout and stderr, chunks joined in seq order. Steps come in step_index order
        (steps with a row but no output yet are included, empty); steps that have output but no
        row yet follow, by name."""
        with read_tx(self._engine) as conn:
            return _outputs(conn, self._sealer, command_id, node_id, step_name).get(node_id, [])

    def output_views(self, command_id: str, node_id: str) -> dict[str, StepOutputView]:
        """Each step's output cut to the view limits, with truncation flags, by step name."""
        return _views(self.get_output(command_id, node_id))

    def compact_output(self, command_id: str, node_id: str) -> int:
        """Once an invocation is settled, keep each step's output as one compressed blob outside the hot
        chunk table (step_outputs) and drop its chunks. Returns the number of chunks folded."""
        with write_tx(self._engine) as conn:
            return compact(conn, self._sealer, command_id, node_id)

    def output_chunks(self, command_id: str) -> list[tuple[str, OutputChunk]]:
        """Every stored piece of a command's output as (node id, chunk), by node, step, stream and seq:
        what a watcher that starts late replays. A settled step's whole output comes as one chunk
        with ``seq`` -1 (it stands for every sequence number)."""
        with read_tx(self._engine) as conn:
            return chunks_of_command(conn, self._sealer, command_id)
