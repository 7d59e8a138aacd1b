"""The operator client's channel options are gRPC's own."""
from __future__ import annotations

import grpc.experimental

from controller.cli.client import SINGLE_THREADED_UNARY_STREAM


def test_streaming_answers_are_read_on_the_calling_thread() -> None:
    # spelled out in client.py so the CLI need not import grpc.experimental; a rename in gRPC would
    # silently turn the option off
    assert grpc.experimental.ChannelOptions.SingleThreadedUnaryStream == SINGLE_THREADED_UNARY_STREAM
