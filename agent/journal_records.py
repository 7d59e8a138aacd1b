"""The records of an agent's journal file (agent/journal_file.py) and how they are read back.

Each record names its owner (the agent it belongs to: ``""`` for an agent alone, the state
directory's name in a swarm) and its command, and is framed: payload length, CRC-32 of kind and
payload, kind; the payload starts with the lengths of owner and command id, then both, then the
body. A command acknowledged by the controller gets a tombstone (``F``): what it recorded before is
forgotten. Reading stops at the first record cut short or garbled: nothing after it is trusted, and
every command still held then is marked damaged.
"""
from __future__ import annotations

import struct
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_FRAME = struct.Struct(">IIc")  # payload length, CRC-32 of kind and payload, kind
_KEY = struct.Struct(">BB")  # lengths of owner and command id, which start the payload
FORGOTTEN = b"F"
MAX_RECORD = 64 * 1024 * 1024  # a longer length is garbage, never a record this agent wrote

Key = tuple[str, str]  # (owner, command id)


@dataclass
class HeldRecords:
    """One command's records as read back: (kind, body) in the order written."""
    records: list[tuple[bytes, bytes]] = field(default_factory=list)
    damaged: bool = False


def key_prefix(owner: str, command_id: str) -> bytes:
    """What starts the payload of every record of one command (encoded once per command held)."""
    o, c = owner.encode(), command_id.encode()
    return _KEY.pack(len(o), len(c)) + o + c


def framed(kind: bytes, prefix: bytes, body: bytes) -> bytes:
    payload = prefix + body
    return _FRAME.pack(len(payload), zlib.crc32(payload, zlib.crc32(kind)), kind) + payload


def frame(kind: bytes, owner: str, command_id: str, body: bytes) -> bytes:
    return framed(kind, key_prefix(owner, command_id), body)


def _frames(data: bytes | memoryview) -> Iterator[tuple[int, bytes, Key, bytes]]:
    """(end offset, kind, key, body) of each intact record, up to the first one that is not."""
    at = 0
    while len(data) - at >= _FRAME.size:
        length, crc, kind = _FRAME.unpack_from(data, at)
        start = at + _FRAME.size
        payload = bytes(data[start:start + length])
        if length > MAX_RECORD or len(payload) < length or zlib.crc32(kind + payload) != crc \
                or length < _KEY.size:
            return
        olen, clen = _KEY.unpack_from(payload)
        body_at = _KEY.size + olen + clen
        if body_at > length:
            return
        try:
            key = (payload[_KEY.size:_KEY.size + olen].decode(), payload[_KEY.size + olen:body_at].decode())
        except UnicodeDecodeError:
            return
        at = start + length
        yield at, kind, key, payload[body_at:]


def read_journal(path: Path) -> dict[Key, HeldRecords]:
    """What a journal file holds, by (owner, command id), without changing it (tests, tools)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    return parse(data)[0]


# Where the records of each command held lie in the file: start, end, start, end... (adjacent
# records in one span; an array of machine integers holds no objects for the collector to visit).
Spans = dict[Key, array]


def add_span(spans: Spans, key: Key, start: int, end: int) -> None:
    where = spans.get(key)
    if where is None:
        spans[key] = array("q", (start, end))
    elif where[-1] == start:  # right after the command's last record
        where[-1] = end
    else:
        where.append(start)
        where.append(end)


def span_bytes(where: array) -> int:
    return sum(where[1::2]) - sum(where[::2])


def parse(data: bytes) -> tuple[dict[Key, HeldRecords], Spans, int]:
    """What is held, where its records lie, and where the intact records end (short of the length:
    damaged). A command forgotten and held again holds only what came after its last tombstone."""
    held: dict[Key, HeldRecords] = {}
    spans: Spans = {}
    intact = 0
    for end, kind, key, body in _frames(data):
        start, intact = intact, end
        if kind == FORGOTTEN:
            held.pop(key, None)
            spans.pop(key, None)
        else:
            held.setdefault(key, HeldRecords()).records.append((kind, body))
            add_span(spans, key, start, end)
    if intact != len(data):
        for records in held.values():
            records.damaged = True
    return held, spans, intact


def bytes_in(spans: Spans) -> int:
    return sum(span_bytes(where) for where in spans.values())
