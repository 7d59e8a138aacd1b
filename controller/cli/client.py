"""The operator's connection to the controller: mutual TLS with the operator certificate."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

import grpc

from controller.runtime.config import CliConfig
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.errors import OutpostError
from plugins.sdk.wire import convert as wire


class _Paged(Protocol):
    """A paged listing's request or response."""
    next_token: str


Q = TypeVar("Q", bound=_Paged)
R = TypeVar("R", bound=_Paged)


# grpc.experimental.ChannelOptions.SingleThreadedUnaryStream (importing grpc.experimental costs the CLI's start)
SINGLE_THREADED_UNARY_STREAM = "SingleThreadedUnaryStream"


def command_end(events: Iterable[pb.CommandEvent]) -> pb.CommandInfo | None:
    """Read a command's events (RunCommand's or WatchCommand's) up to its end; the command as it
    ended, or None when the events stopped first (the controller went away)."""
    for event in events:
        if event.HasField("command") and wire.detail_from_pb(event.command.detail).terminal:
            return event.command
    return None


class AdminClient:
    def __init__(self, config: CliConfig, timeout_seconds: float = 30.0) -> None:
        ca, key, cert = config.credentials()
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        self.address = config.controller
        self.timeout = timeout_seconds
        # a streaming answer (RunCommand, WatchCommand, WatchEvents) is read on the calling thread, not
        # handed over from gRPC's channel thread message by message (a thread switch each)
        self._channel = grpc.secure_channel(config.controller, creds, options=((SINGLE_THREADED_UNARY_STREAM, 1),))
        self.stub = pbg.AdminServiceStub(self._channel)

    def run_command(self, request: pb.SendCommandRequest) -> tuple[pb.CommandInfo, Iterator[pb.CommandEvent]]:
        """RunCommand: the command as sent, and an iterator of its events after it, until its end."""
        events = self.stub.RunCommand(request)
        first = next(events, None)
        if first is None or not first.HasField("command"):
            events.cancel()
            raise OutpostError("the controller's answer to RunCommand did not begin with the command")
        return first.command, events

    def _pages(self, call: Callable[..., R], request: Q) -> Iterator[R]:
        """Every page of a paged listing: ``request`` again with each next_token, until there is none."""
        while True:
            page = call(request, timeout=self.timeout)
            yield page
            if not page.next_token:
                return
            request.next_token = page.next_token

    def list_nodes(self, page_size: int = 0) -> list[pb.Node]:
        """Every registered node, by node id, a page at a time (0: the controller's largest)."""
        return [n for page in self._pages(self.stub.ListNodes, pb.ListNodesRequest(max_results=page_size))
                for n in page.nodes]

    def resolve_targets(self, targets: pb.Targets, page_size: int = 0) -> list[pb.Node]:
        """The nodes ``targets`` select now, by node id, a page at a time (0: the controller's largest)."""
        request = pb.ResolveTargetsRequest(targets=targets, max_results=page_size)
        return [n for page in self._pages(self.stub.ResolveTargets, request) for n in page.nodes]

    def get_command(self, command_id: str, page_size: int = 0) -> pb.GetCommandResponse:
        """The command with every invocation, a page at a time (0: the controller's largest); the
        command and document as the last page gave them."""
        pages = list(self._pages(self.stub.GetCommand, pb.GetCommandRequest(command_id=command_id,
                                                                            max_results=page_size)))
        return pb.GetCommandResponse(command=pages[-1].command, document=pages[-1].document,
                                     invocations=[i for page in pages for i in page.invocations])

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rpc_error_message(exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"the controller is unavailable: {details}"
    return details or (code.name if code else "error")
