"""What the store needs to keep values sealed at rest, and no more: the controller passes an
implementation in (controller/trust/sealed_records.py's RecordSealer, over the master keyring), so
the store never holds a key or knows a cipher. ``where`` is a value's place (controller/store/places.py),
sealed with it as associated data."""
from __future__ import annotations

from typing import Protocol


class SegmentReader(Protocol):
    """One sealed record opened a segment at a time, for readers that fetch it in slices."""

    count: int

    def span(self, index: int) -> tuple[int, int]:
        """Where segment ``index`` lies in the record: (offset, length)."""
        ...

    def open(self, index: int, sealed: bytes) -> bytes: ...


class Sealer(Protocol):
    header_max: int  # a record's header lies within its first header_max bytes

    @property
    def current_key_id(self) -> str:
        """The master key new values are sealed under."""
        ...

    def seal(self, plain: bytes, where: bytes) -> bytes: ...

    def open(self, record: bytes, where: bytes) -> bytes: ...

    def segments(self, head: bytes, total: int, where: bytes) -> SegmentReader:
        """A reader of the record whose first bytes are ``head`` and whose length is ``total``."""
        ...

    def key_id_of(self, head: bytes, where: bytes) -> str:
        """The master key a record (or its first header_max bytes) is sealed under."""
        ...

    def rewrap(self, record: bytes, where: bytes) -> bytes | None:
        """The record under the current master key; None when it already is."""
        ...
