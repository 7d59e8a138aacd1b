"""A node's stored output read in full, a piece at a time (StreamOutput).

A step keeps up to 16 MB a stream (the agent's cap), more than a gRPC message may carry and more
than is worth holding at once, so a stream is read and inflated in pieces of at most PIECE_BYTES:
sealed segments of the compressed bytes are taken from the database a few at a time (SQLite's
incremental blob I/O, PostgreSQL's ``substr`` of a bytea), opened, and inflated with zlib's
``max_length``; chunks are taken a few rows at a time by their plaintext lengths. Memory stays at a
piece or two per reader, whatever the stream's size: reading 16 MB grew a reading process by 2-3 MB,
where ``get_output`` grew it by 63 MB (SQLite) and 112 MB (PostgreSQL).

A stream is what ``output._outputs`` joins: its compacted blob (step_outputs, zlib, sealed) followed
by its chunks (output_chunks, by seq). Each piece is read in a transaction of its own, so a reader holds
nothing of the database between pieces and a slow caller never keeps a transaction open. The
invocation may settle meanwhile, its chunks folded into the blob; what a stream holds only ever
grows at its end, so the reader keeps its place as the count of bytes given and looks again at
each piece: once the blob holds more than that, the rest comes from the blob.
"""
from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Engine, LargeBinary, Table, func, literal_column, select

from controller.model import PIECE_BYTES, OutputPiece
from controller.store.engine import read_tx
from controller.store.errors import StoreError
from controller.store.output import STREAMS, TRUNCATED_MARKER
from controller.store.places import blob_place, chunk_place
from controller.store.schema import invocations, output_chunks, step_outputs, step_results
from controller.store.sealer import Sealer
from plugins.sdk.contract import OutputStreamKind

# compressed bytes read at once: incompressible output comes in pieces of about this size
SLICE_BYTES = 256 * 1024
CHUNK_ROWS = 64  # chunk lengths looked at per piece: enough for a piece of small chunks
_TAIL = len(TRUNCATED_MARKER) + 1  # what compact() looks at for the marker: the agent's ends in a newline


@dataclass(frozen=True)
class _Stream:
    command_id: str
    node_id: str
    step_name: str
    stream: str

    def where(self, table: Table) -> tuple[ColumnElement[bool], ...]:
        c = table.c
        return c.command_id == self.command_id, c.node_id == self.node_id, c.step_name == self.step_name, \
            c.stream == self.stream


def _packed(conn: Connection, key: _Stream) -> int | None:
    """The compressed length of the stream's compacted part, None when it has none. Cheap on both
    databases (SQLite reads it from the record's header), where ``size`` is not on SQLite: the row
    keeps it after the blob, and reaching it walks the blob's overflow pages (8 ms for 16 MB)."""
    length = conn.execute(select(func.length(step_outputs.c.data)).where(*key.where(step_outputs))).scalar()
    return None if length is None else int(length)


def _blob_size(conn: Connection, key: _Stream) -> int:
    """The uncompressed size of the stream's compacted part; 0 when it has none."""
    return int(conn.execute(select(step_outputs.c.size).where(*key.where(step_outputs))).scalar_one_or_none() or 0)


class _Inflater:
    """The compacted part of one stream, inflated a piece at a time from ``skip`` bytes on: its
    sealed record is fetched a few segments at a time, each opened, then inflated."""

    def __init__(self, conn: Connection, sealer: Sealer, key: _Stream, packed: int, skip: int,
                 slice_bytes: int) -> None:
        self.packed = packed  # the blob's sealed length when this began: another length is another blob
        self._key = key
        self._skip = skip
        self._z = zlib.decompressobj()
        # SQLite evaluates substr() on the whole value, loading all of a 16 MB blob for each slice
        # (9 ms and 16 MB each); its incremental blob I/O reads just the slice's pages. PostgreSQL
        # reads a slice of an uncompressed out-of-line bytea (sealed bytes never compress) alone.
        self._rowid: int | None = None
        if conn.dialect.name == "sqlite":
            self._rowid = int(conn.execute(select(literal_column("rowid")).where(*key.where(step_outputs)))
                              .scalar_one())
        place = blob_place(key.command_id, key.node_id, key.step_name, key.stream)
        self._opener = sealer.segments(self._read(conn, 0, min(packed, sealer.header_max)), packed, place)
        self._per_fetch = max(1, slice_bytes // max(1, self._opener.span(0)[1]))
        self._next = 0  # the next segment to fetch

    @property
    def eof(self) -> bool:
        return self._z.eof

    def _read(self, conn: Connection, offset: int, length: int) -> bytes:
        if self._rowid is not None:
            dbapi = conn.connection.dbapi_connection
            assert isinstance(dbapi, sqlite3.Connection)
            with dbapi.blobopen(step_outputs.name, "data", self._rowid, readonly=True) as blob:
                blob.seek(offset)
                return blob.read(length)
        so = step_outputs.c
        return bytes(conn.execute(select(func.substr(so.data, offset + 1, length, type_=LargeBinary))
                                  .where(*self._key.where(step_outputs))).scalar_one())

    def _fetch(self, conn: Connection) -> bytes:
        """The next few segments, opened; empty past the last."""
        last = min(self._opener.count, self._next + self._per_fetch)
        if self._next >= last:
            return b""
        start, _ = self._opener.span(self._next)
        end = sum(self._opener.span(last - 1))
        sealed = memoryview(self._read(conn, start, end - start))
        out = []
        for i in range(self._next, last):
            at, length = self._opener.span(i)
            out.append(self._opener.open(i, sealed[at - start:at - start + length]))
        self._next = last
        return b"".join(out)

    def read(self, conn: Connection, limit: int) -> bytes:
        """At most ``limit`` bytes more; empty at the blob's end."""
        while True:
            src = self._z.unconsumed_tail
            if not src and not self._z.eof:
                src = self._fetch(conn)
            if self._z.eof:
                return b""
            want = min(self._skip, limit) if self._skip else limit
            data = self._z.decompress(src, want)  # may hold back output it has room for next time
            if not data and not src:
                raise StoreError(f"the stored output of step {self._key.step_name!r} ({self._key.stream}) "
                                 "ends before its compressed stream does")
            if self._skip:
                self._skip -= len(data)
            elif data:
                return data


def _chunk(conn: Connection, sealer: Sealer, key: _Stream, seq: int, sealed: bytes | None = None) -> bytes:
    """One chunk's plaintext (fetched, unless its sealed bytes are given)."""
    if sealed is None:
        o = output_chunks.c
        sealed = bytes(conn.execute(select(o.data).where(*key.where(output_chunks), o.seq == seq)).scalar_one())
    return sealer.open(sealed, chunk_place(key.command_id, key.node_id, key.step_name, key.stream, seq))


def _chunks(conn: Connection, sealer: Sealer, key: _Stream, at: tuple[int, int], limit: int
            ) -> tuple[bytes, tuple[int, int]]:
    """At most ``limit`` bytes of the stream's chunks from ``at`` (a chunk's seq, a byte in it) on,
    and where the next read starts; empty when there are no more. Whole chunks in one query; a
    chunk bigger than a piece (the agent's are 64 KB, a plugin's may be more) a slice at a time,
    opened whole for each slice (a chunk is at most a message: 4 MB)."""
    o = output_chunks.c
    seq, pos = at
    lengths = conn.execute(select(o.seq, o.size).where(*key.where(output_chunks), o.seq >= seq)
                           .order_by(o.seq).limit(CHUNK_ROWS)).all()
    if not lengths:
        return b"", at
    first, first_len = int(lengths[0][0]), int(lengths[0][1])
    if first != seq:
        pos = 0  # the chunk this place was in is gone (or was never stored): the next one starts whole
    if pos or first_len > limit:
        count = min(limit, first_len - pos)
        part = _chunk(conn, sealer, key, first)[pos:pos + count]
        return part, ((first, pos + count) if pos + count < first_len else (first + 1, 0))
    last, total = first, 0
    for s, n in lengths:
        if total + int(n) > limit:
            break
        last, total = int(s), total + int(n)
    rows = conn.execute(select(o.seq, o.data).where(*key.where(output_chunks), o.seq >= first, o.seq <= last)
                        .order_by(o.seq)).all()
    return b"".join(_chunk(conn, sealer, key, int(s), bytes(d)) for s, d in rows), (last + 1, 0)


def _chunks_from(conn: Connection, key: _Stream, at: tuple[int, int]) -> bool:
    """Whether the stream has chunk bytes from ``at`` on."""
    o = output_chunks.c
    return conn.execute(select(o.seq).where(*key.where(output_chunks), o.seq >= at[0]).limit(1)).first() is not None


def _stream_data(engine: Engine, sealer: Sealer, key: _Stream, limit: int, slice_bytes: int
                 ) -> Iterator[tuple[bytes, bool]]:
    """The stream's bytes in order, in parts of at most ``limit`` bytes, each read in its own
    transaction, with whether it is the last (then empty when the stream holds nothing)."""
    given = 0  # bytes given so far: the place in the stream, whatever it is kept in now
    at = (0, 0)  # the next chunk to read, and the byte in it
    inflater: _Inflater | None = None
    passed: int | None = None  # the compressed length of a blob read to its end (or found behind us)
    while True:
        with read_tx(engine) as conn:
            packed = _packed(conn, key)
            if inflater is not None and inflater.packed != packed:
                inflater = None  # rewritten (more chunks folded in) or gone: look again from where we are
            if inflater is None and packed is not None and packed != passed:
                if given < _blob_size(conn, key):  # (since the invocation settled) the rest is in the blob
                    inflater = _Inflater(conn, sealer, key, packed, given, slice_bytes)
                else:
                    passed = packed
            data = b""
            if inflater is not None:
                data = inflater.read(conn, limit)
                if inflater.eof:
                    inflater, passed = None, packed
            if not data:
                data, at = _chunks(conn, sealer, key, at, limit)
            more = bool(data) and (inflater is not None or _chunks_from(conn, key, at))
        given += len(data)
        yield data, not more
        if not more:
            return


def _step_names(conn: Connection, command_id: str, node_id: str, step_name: str | None) -> list[str]:
    """The steps with a result or output, as ``get_output`` orders them: by step index, then those
    with output but no result yet, by name."""
    def mine(table: Table) -> list[ColumnElement[bool]]:
        c = table.c
        conds = [c.command_id == command_id, c.node_id == node_id]
        if step_name is not None:
            conds.append(c.step_name == step_name)
        return conds
    s = step_results.c
    index: dict[str, int] = {}
    for name, i in conn.execute(select(s.step_name, func.min(s.step_index)).where(*mine(step_results))
                                .group_by(s.step_name)):
        index[str(name)] = int(i)
    others: set[str] = set()
    for table in (step_outputs, output_chunks):
        others |= {str(n) for (n,) in conn.execute(select(table.c.step_name).distinct().where(*mine(table)))}
    return sorted(index, key=lambda n: (index[n], n)) + sorted(others - set(index))


class OutputReaderTables:
    """Mixed into Store: output read in full, a piece at a time."""

    _engine: Engine
    _sealer: Sealer

    def output_pieces(self, command_id: str, node_id: str, step_name: str | None = None,
                      piece_bytes: int = PIECE_BYTES, slice_bytes: int = SLICE_BYTES) -> Iterator[OutputPiece]:
        """Each step's stdout then stderr (steps as ``get_output`` orders them), in pieces of at most
        ``piece_bytes``; every stream has at least one piece (empty when it holds nothing) and its
        last one is flagged. Each ``next()`` runs its own read transaction: call it from the
        database thread (Db.run), one piece at a time; no transaction stays open between pieces."""
        with read_tx(self._engine) as conn:
            names = _step_names(conn, command_id, node_id, step_name)
        for name in names:
            for stream in STREAMS:
                tail = b""
                for data, last in _stream_data(self._engine, self._sealer, _Stream(command_id, node_id, name, stream),
                                               piece_bytes, slice_bytes):
                    tail = (tail + data[-_TAIL:])[-_TAIL:]
                    yield OutputPiece(name, OutputStreamKind(stream), data, last=last,
                                      truncated=last and TRUNCATED_MARKER in tail)

    def invocation_nodes(self, command_id: str, limit: int) -> tuple[list[str], int]:
        """Up to ``limit`` of the command's node ids, by id, and how many it has in all: what an
        error about a node it does not have lists."""
        i = invocations.c
        with read_tx(self._engine) as conn:
            ids = [str(n) for (n,) in conn.execute(select(i.node_id).where(i.command_id == command_id)
                                                   .order_by(i.node_id).limit(limit))]
            total = int(conn.execute(select(func.count()).select_from(invocations)
                                     .where(i.command_id == command_id)).scalar_one())
        return ids, total
