"""A failure of the controller's database, answered in one line on every RPC of a server.

Any call may find the database failed under it (its disk full, PostgreSQL gone): the store raises
DatabaseFailed (controller/store/engine.py). Left to gRPC, the caller would read "Unexpected <class
...>" with a second line pointing at SQLAlchemy's documentation, and the log would hold a traceback
per call. This interceptor, on each server, answers it UNAVAILABLE (gRPC's code for a condition that
is likely to pass: the CLI says "the controller is unavailable: ...", an agent reconnects with its
backoff) and logs one line naming the method.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from controller.store.errors import DatabaseFailed

log = logging.getLogger(__name__)


def answer(exc: DatabaseFailed) -> str:
    return f"the controller's {exc}; try again once it is fixed (the controller's log names this call)"


class DatabaseFailures(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, method), handler.request_deserializer, handler.response_serializer)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _unary(handler.stream_unary, method), handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(handler.unary_stream, method), handler.request_deserializer, handler.response_serializer)
        return grpc.stream_stream_rpc_method_handler(
            _streaming(handler.stream_stream, method), handler.request_deserializer, handler.response_serializer)


async def _abort(context: grpc.aio.ServicerContext, method: str, exc: DatabaseFailed) -> None:
    log.warning("%s: %s", method, exc)
    await context.abort(grpc.StatusCode.UNAVAILABLE, answer(exc))


def _unary(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(request, context)
        except DatabaseFailed as exc:
            await _abort(context, method, exc)
    return call


def _streaming(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    """A streaming behaviour as it is written: an async generator stays one (each response passes
    through here); a coroutine that writes with ``context.write`` (the agents' stream) stays a
    coroutine, so its messages take no extra step."""
    if not inspect.isasyncgenfunction(behaviour):
        return _unary(behaviour, method)

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            async for response in behaviour(request, context):
                yield response
        except DatabaseFailed as exc:
            await _abort(context, method, exc)
    return call
