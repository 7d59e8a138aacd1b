"""Waiting that a stop cuts short: the agent's reconnect backoff, the swarm's status lines and the
idle-memory trimmer all sleep this way."""
from __future__ import annotations

import asyncio


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when it is (the caller should end)."""
    if stop.is_set():  # even for 0 s, where wait_for would time out before looking
        return True
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
