"""controller.trust.sealed_records: a record opens with its keyring and its place only, a segment at
a time as well as whole; a record moved to another row, cut short, with segments swapped or a byte
altered does not open; re-wrapping changes the header alone."""
from __future__ import annotations

import pytest

from controller.store.places import where_of
from controller.trust.sealed_records import (
    SegmentOpener,
    master_key_of,
    open_record,
    read_header,
    rewrap_record,
    seal_record,
)
from controller.trust.sealing import Keyring, MasterKey, SealError

WHERE = where_of("output_chunks.data", "cmd-1", "mi-1", "step", "stdout", 0)
SHIFT = 10  # 1 KiB segments: a few kilobytes make several


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 5000])
def test_a_record_opens_whole_and_a_segment_at_a_time(size: int) -> None:
    ring = Keyring(MasterKey.generate())
    plain = bytes(i % 251 for i in range(size))
    record = seal_record(ring, plain, WHERE, shift=SHIFT)
    assert open_record(ring, record, WHERE) == plain
    header = read_header(record[:300], WHERE)
    opener = SegmentOpener(ring, header, len(record), WHERE)
    assert opener.count == max(1, -(-size // 1024))
    parts = []
    for i in range(opener.count):
        at, length = opener.span(i)
        parts.append(opener.open(i, record[at:at + length]))
    assert b"".join(parts) == plain
    assert seal_record(ring, plain, WHERE, shift=SHIFT) != record  # a fresh data key each time


def test_no_plaintext_and_no_key_in_a_record() -> None:
    ring = Keyring(MasterKey.generate())
    record = seal_record(ring, b"s3cr3t-output " * 100, WHERE)
    assert b"s3cr3t" not in record and ring.current.secret not in record


def _cases(record: bytes) -> dict[str, bytes]:
    header = read_header(record, WHERE)
    seg = header.segment
    body = record[header.length:]
    altered = bytearray(record)
    altered[header.length + 5] ^= 1
    return {
        "cut short by a segment": record[:header.length + 2 * seg],
        "cut inside the last segment": record[:-1],
        "segments swapped": record[:header.length] + body[seg:2 * seg] + body[:seg] + body[2 * seg:],
        "a byte altered": bytes(altered),
    }


@pytest.mark.parametrize("case", ["cut short by a segment", "cut inside the last segment", "segments swapped",
                                  "a byte altered"])
def test_a_damaged_record_does_not_open(case: str) -> None:
    ring = Keyring(MasterKey.generate())
    record = seal_record(ring, bytes(3500), WHERE, shift=SHIFT)
    with pytest.raises(SealError, match="does not open"):
        open_record(ring, _cases(record)[case], WHERE)


def test_a_record_opens_in_its_own_place_only() -> None:
    ring = Keyring(MasterKey.generate())
    record = seal_record(ring, b"output", WHERE)
    with pytest.raises(SealError, match="output_chunks.data/cmd-1/mi-2/step/stdout/0: segment 0 does not open"):
        open_record(ring, record, where_of("output_chunks.data", "cmd-1", "mi-2", "step", "stdout", 0))
    with pytest.raises(SealError, match="not a sealed record"):
        open_record(ring, b"plain output", WHERE)
    with pytest.raises(SealError, match="not in the keyring"):
        open_record(Keyring(MasterKey.generate()), record, WHERE)


def test_rewrapping_changes_the_header_alone() -> None:
    old = MasterKey.generate()
    record = seal_record(Keyring(old), bytes(3000), WHERE, shift=SHIFT)
    new = MasterKey.generate()
    rotating = Keyring(new, [old])
    rewrapped = rewrap_record(rotating, record, WHERE)
    assert rewrapped is not None and master_key_of(rewrapped, WHERE) == new.key_id
    assert rewrapped[-3000:] == record[-3000:]  # the segments untouched
    assert open_record(Keyring(new), rewrapped, WHERE) == bytes(3000)  # the old key is not needed
    assert rewrap_record(rotating, rewrapped, WHERE) is None  # already under the current key
