"""AdminService's status events: ListEvents (`outpost events`: the newest, or a page from a seq or a
time) and WatchEvents (`outpost events --follow`). A follow from a seq or a time reads the store
first (controller/store/events.py), a page at a time, then the live bus, subscribed before the first
read so that nothing falls between; what both carry is told once (by seq). A live subscriber that
fell behind (the bus dropped its oldest events) has the gap filled from the store."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import grpc
from google.protobuf.message import Message

from controller.events.bus import EventBus
from controller.model import EventFilter, StatusEvent
from controller.server import convert
from controller.store.db import Db
from controller.store.events import MAX_EVENT_PAGE
from outpost.v1 import outpost_pb2 as pb

DEFAULT_LIST = 100
REPLAY_PAGE = 1000  # stored events a follower is replayed per database job


class EventsApi:
    """Mixed into AdminService, which has these:"""
    _db: Db
    _events: EventBus
    _operator: Callable[[grpc.aio.ServicerContext, str, Message], Awaitable[str]]  # admits the call

    async def ListEvents(self, request: pb.ListEventsRequest,  # noqa: N802
                         context: grpc.aio.ServicerContext) -> pb.ListEventsResponse:
        await self._operator(context, "ListEvents", request)
        limit = request.limit or DEFAULT_LIST
        if limit > MAX_EVENT_PAGE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"limit: at most {MAX_EVENT_PAGE}, got {limit}")
        chosen = await _filter(request, context)
        store = self._db.store
        if chosen.after_seq or chosen.since_ms:
            found = await self._db.run(store.events_after, chosen, limit + 1)  # one more: are there more?
            return pb.ListEventsResponse(events=[convert.status_event_to_pb(e) for e in found[:limit]],
                                         more=len(found) > limit)
        found = await self._db.run(store.newest_events, chosen, limit)
        return pb.ListEventsResponse(events=[convert.status_event_to_pb(e) for e in found])

    async def WatchEvents(self, request: pb.WatchEventsRequest,  # noqa: N802
                          context: grpc.aio.ServicerContext) -> AsyncIterator[pb.StatusEvent]:
        """Live status changes until the controller stops; from after_seq or since_ms, the stored ones
        from there first."""
        await self._operator(context, "WatchEvents", request)
        chosen = await _filter(request, context)
        queue = self._events.subscribe_fleet()  # before the store is read: no event falls between
        try:
            await context.send_initial_metadata(())  # the follower knows it is connected
            last = chosen.after_seq
            if request.HasField("after_seq") or chosen.since_ms:
                async for event in self._stored(chosen, None):
                    last = event.seq
                    yield convert.status_event_to_pb(event)
            lost = 0
            while (event := await queue.get()) is not None:
                if event.seq <= last:
                    continue  # read from the store already
                if self._events.dropped_for(queue) > lost:  # the bus dropped some for this slow follower
                    lost = self._events.dropped_for(queue)
                    async for missed in self._stored(replace(chosen, after_seq=last), event.seq):
                        yield convert.status_event_to_pb(missed)
                last = event.seq
                if chosen.passes(event):
                    yield convert.status_event_to_pb(event)
        finally:
            self._events.unsubscribe_fleet(queue)

    async def _stored(self, chosen: EventFilter, before_seq: int | None) -> AsyncIterator[StatusEvent]:
        """The stored events that pass ``chosen`` (and come before ``before_seq``), a page at a time."""
        while True:
            page = await self._db.run(self._db.store.events_after, chosen, REPLAY_PAGE)
            for event in page:
                if before_seq is not None and event.seq >= before_seq:
                    return
                yield event
            if len(page) < REPLAY_PAGE:
                return
            chosen = replace(chosen, after_seq=page[-1].seq)


async def _filter(request: pb.ListEventsRequest | pb.WatchEventsRequest,
                  context: grpc.aio.ServicerContext) -> EventFilter:
    if request.since_ms < 0:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"since_ms: must be 0 or more, got {request.since_ms}")
    return EventFilter(request.after_seq, request.since_ms, request.command_id, request.node_id)
