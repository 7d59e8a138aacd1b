"""How a value is kept sealed in the database (issue 18, point 4): each stored record carries its own
data key, wrapped under the keyring's current master key, and its bytes encrypted under that key with
AES-256-GCM in segments, so a 16 MB output is opened a segment at a time, never whole.

    b"R1" | segment shift (1 byte) | wrapped key length (1 byte) | wrapped data key | segments

Segment i holds plaintext bytes [i*S, (i+1)*S) (S = 2**shift), encrypted with the nonce i (11 bytes,
big-endian) followed by one byte that is 1 for the last segment and 0 before it (the STREAM
construction): a record cut short, or with segments reordered, does not open. Every segment but the
last is S + 16 bytes long; an empty value is one empty last segment. Nonces may count from zero
because a data key seals one record only. The associated data is where the record belongs (its
table, column and key, ``where``), so a value copied into another row does not open there.

Rotating the master key re-wraps the header's data key and leaves the segments as they are."""
from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from controller.trust.sealing import Keyring, SealError, wrapped_key_id

MAGIC = b"R1"
TAG_BYTES = 16
SEGMENT_SHIFT = 16  # 64 KiB of plaintext a segment
HEADER_MAX = 4 + 255  # what a reader fetches to be sure of holding a record's whole header


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def seal_record(keyring: Keyring, plain: bytes, where: bytes, shift: int = SEGMENT_SHIFT) -> bytes:
    key = keyring.new_data_key()
    aead = AESGCM(key.plain)
    size = 1 << shift
    count = max(1, -(-len(plain) // size))
    parts = [MAGIC, bytes([shift, len(key.wrapped)]), key.wrapped]
    view = memoryview(plain)
    for i in range(count):
        parts.append(aead.encrypt(_nonce(i, i == count - 1), view[i * size:(i + 1) * size], where))
    return b"".join(parts)


@dataclass(frozen=True)
class Header:
    length: int  # bytes before the first segment
    shift: int
    wrapped: bytes

    @property
    def segment(self) -> int:
        """A sealed segment's length (all but the last)."""
        return (1 << self.shift) + TAG_BYTES


def read_header(head: bytes, where: bytes) -> Header:
    """The header at the start of ``head`` (a record, or at least its first HEADER_MAX bytes)."""
    if len(head) < 4 or head[:2] != MAGIC:
        raise SealError(f"{_place(where)}: not a sealed record")
    shift, n = head[2], head[3]
    if not 10 <= shift <= 24 or len(head) < 4 + n:
        raise SealError(f"{_place(where)}: a sealed record with a broken header")
    return Header(4 + n, shift, bytes(head[4:4 + n]))


def _place(where: bytes) -> str:
    return where.replace(b"\x00", b"/").decode("utf-8", "replace")


class SegmentOpener:
    """Opens one record's segments one at a time (for readers that fetch a record in slices)."""

    def __init__(self, keyring: Keyring, header: Header, total: int, where: bytes) -> None:
        self.header = header
        self._total = total  # the record's sealed length
        self._where = where
        self._aead = AESGCM(keyring.unwrap(header.wrapped))
        body = total - header.length
        if body < TAG_BYTES:
            raise SealError(f"{_place(where)}: a sealed record cut short")
        self.count = max(1, -(-body // header.segment))

    def span(self, index: int) -> tuple[int, int]:
        """Where segment ``index`` lies in the record: (offset, length)."""
        start = self.header.length + index * self.header.segment
        return start, min(self.header.segment, self._total - start)

    def open(self, index: int, sealed: bytes) -> bytes:
        last = index == self.count - 1
        try:
            return self._aead.decrypt(_nonce(index, last), sealed, self._where)
        except InvalidTag:
            raise SealError(f"{_place(self._where)}: segment {index} does not open "
                            "(another row's, cut short, or altered)") from None


def open_record(keyring: Keyring, record: bytes, where: bytes) -> bytes:
    header = read_header(record, where)
    opener = SegmentOpener(keyring, header, len(record), where)
    view = memoryview(record)
    out = []
    for i in range(opener.count):
        start, length = opener.span(i)
        out.append(opener.open(i, view[start:start + length]))
    return b"".join(out)


def master_key_of(record: bytes, where: bytes) -> str:
    """The id of the master key a record's data key is wrapped under (from its header alone)."""
    return wrapped_key_id(read_header(record, where).wrapped)


def rewrap_record(keyring: Keyring, record: bytes, where: bytes) -> bytes | None:
    """The record with its data key wrapped under the current master key; None when it already is."""
    header = read_header(record, where)
    wrapped = keyring.rewrap(header.wrapped)
    if wrapped == header.wrapped:
        return None
    return b"".join([MAGIC, bytes([header.shift, len(wrapped)]), wrapped, record[header.length:]])


class RecordSealer:
    """The store's Sealer (controller/store/sealer.py) over a keyring."""

    header_max = HEADER_MAX

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    @property
    def current_key_id(self) -> str:
        return self.keyring.current.key_id

    def seal(self, plain: bytes, where: bytes) -> bytes:
        return seal_record(self.keyring, plain, where)

    def open(self, record: bytes, where: bytes) -> bytes:
        return open_record(self.keyring, record, where)

    def segments(self, head: bytes, total: int, where: bytes) -> SegmentOpener:
        return SegmentOpener(self.keyring, read_header(head, where), total, where)

    def key_id_of(self, head: bytes, where: bytes) -> str:
        return master_key_of(head, where)

    def rewrap(self, record: bytes, where: bytes) -> bytes | None:
        return rewrap_record(self.keyring, record, where)
