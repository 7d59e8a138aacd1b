"""The store, called from the event loop without blocking it: every call runs on one
database thread, in submission order (SQLite has one writer anyway)."""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from controller.store import Store, StoreError

P = ParamSpec("P")
T = TypeVar("T")


class Db:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outpost-db")
        self._fenced = ""

    def fence(self, reason: str) -> None:
        """Run no job from now on: each raises StoreError(``reason``). For a controller that no longer
        holds its database (controller/runtime/lease.py): what it would still write while it stops
        could undo what the controller that holds it now wrote."""
        self._fenced = reason

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._fenced:
            raise StoreError(self._fenced)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()
