"""The serials of revoked certificates, checked whenever a stream or an admin call opens: gRPC
Python has no CRL or OCSP hook on the server side, so revocation is the application's. Loaded from
the store at start; each revocation adds to it at once (and to the store first)."""
from __future__ import annotations

from collections.abc import Iterable


class Denylist:
    def __init__(self, serials: Iterable[str] = ()) -> None:
        self._serials = {s.lower() for s in serials}

    def __contains__(self, serial: str) -> bool:
        return serial.lower() in self._serials

    def add(self, serials: Iterable[str]) -> None:
        self._serials.update(s.lower() for s in serials)

    def __len__(self) -> int:
        return len(self._serials)
