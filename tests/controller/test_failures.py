"""controller/server/failures.py: a DatabaseFailed raised by any kind of RPC handler is answered
UNAVAILABLE in one line; other errors and answers pass through untouched."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from controller.server.failures import DatabaseFailures
from controller.store import DatabaseFailed

FULL = DatabaseFailed("database failed: database or disk is full")


async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    if request == b"fail":
        raise FULL
    if request == b"bug":
        raise KeyError("not ours")
    return b"ok " + request


async def streaming(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    yield b"first"
    if request == b"fail":
        raise FULL
    yield b"second"


async def writing(request: bytes, context: grpc.aio.ServicerContext) -> None:
    await context.write(b"written")
    if request == b"fail":
        raise FULL


async def call_all() -> dict[str, object]:
    server = grpc.aio.server(interceptors=(DatabaseFailures(),))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.S", {
        "U": grpc.unary_unary_rpc_method_handler(unary),
        "S": grpc.unary_stream_rpc_method_handler(streaming),
        "W": grpc.unary_stream_rpc_method_handler(writing),
    }),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    seen: dict[str, object] = {}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for name, request in (("U", b"x"), ("U", b"fail"), ("U", b"bug"), ("S", b"x"), ("S", b"fail"),
                                  ("W", b"fail")):
                got: list[bytes] = []
                try:
                    if name == "U":
                        got.append(await channel.unary_unary(f"/t.S/{name}")(request))
                    else:
                        async for r in channel.unary_stream(f"/t.S/{name}")(request):
                            got.append(r)
                    seen[f"{name} {request.decode()}"] = got
                except grpc.aio.AioRpcError as exc:
                    seen[f"{name} {request.decode()}"] = (got, exc.code(), exc.details())
    finally:
        await server.stop(None)
    return seen


def test_a_failed_database_is_unavailable_in_one_line_for_every_kind_of_call() -> None:
    seen = asyncio.run(call_all())
    line = ("the controller's database failed: database or disk is full; try again once it is fixed "
            "(the controller's log names this call)")
    assert seen["U x"] == [b"ok x"]
    assert seen["U fail"] == ([], grpc.StatusCode.UNAVAILABLE, line)
    assert seen["S x"] == [b"first", b"second"]
    assert seen["S fail"] == ([b"first"], grpc.StatusCode.UNAVAILABLE, line)
    assert seen["W fail"] == ([b"written"], grpc.StatusCode.UNAVAILABLE, line)
    got, code, _details = seen["U bug"]  # type: ignore[misc]
    assert code == grpc.StatusCode.UNKNOWN  # not a database failure: left to gRPC as before


@pytest.mark.parametrize("error", ["operational", "integrity"])
def test_the_store_says_a_database_error_in_one_line(tmp_path, error: str) -> None:
    from sqlalchemy import text

    from controller.store import StoreError
    from controller.store.engine import create_store_engine, write_tx

    engine = create_store_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with write_tx(engine) as conn:
        conn.execute(text("create table t (k integer primary key)"))
        conn.execute(text("insert into t values (1)"))
    statement = "insert into nosuch values (1)" if error == "operational" else "insert into t values (1)"
    with pytest.raises(StoreError) as caught:
        with write_tx(engine) as conn:
            conn.execute(text(statement))
    message = str(caught.value)
    assert "\n" not in message and "sqlalche.me" not in message and "[SQL" not in message
    assert isinstance(caught.value, DatabaseFailed) == (error == "operational")
