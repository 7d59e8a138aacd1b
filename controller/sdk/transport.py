"""The operator's connection to the controller: mutual TLS with the operator certificate.

The SDK's transport, and the CLI's only connection: the CLI's command modules and
:class:`controller.sdk.Outpost` call these methods with typed values (the controller's model) and
never build a protobuf request; the answers come back as the controller's messages, which the CLI's
render.py turns into rows and the SDK's convert.py into its records."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import grpc

from controller.model import EventFilter, OutputPiece, Tag, Targets
from controller.notification import NotificationConfig
from controller.runtime.config import CliConfig
from controller.sdk.transport_stores import StoreRequests
from controller.wire import tags_to_pb, targets_to_pb
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.errors import OutpostError
from plugins.sdk.host.handshake import connection_failure
from plugins.sdk.wire import convert as wire


class _Paged(Protocol):
    """A paged listing's request or response."""
    next_token: str


Q = TypeVar("Q", bound=_Paged)
R = TypeVar("R", bound=_Paged)


# grpc.experimental.ChannelOptions.SingleThreadedUnaryStream (importing grpc.experimental costs the CLI's start)
SINGLE_THREADED_UNARY_STREAM = "SingleThreadedUnaryStream"
# What the controller may send on a stream ahead of what the CLI has read: 1 MB, fixed. gRPC's default
# grows the window with its bandwidth estimate (BDP probes), and a controller that reads faster than
# the CLI writes then filled the CLI with up to 19 MB of a 16 MB `command output --full` (3-7 MB fixed
# at 1 MB). 1 MB still keeps 20 MB/s in flight over a 50 ms round trip.
CHANNEL_OPTIONS = ((SINGLE_THREADED_UNARY_STREAM, 1), ("grpc.http2.bdp_probe", 0),
                   ("grpc.http2.lookahead_bytes", 1024 * 1024))


def command_end(events: Iterable[pb.CommandEvent]) -> pb.CommandInfo | None:
    """Read a command's events (RunCommand's or WatchCommand's) up to its end; the command as it
    ended, or None when the events stopped first (the controller went away)."""
    for event in events:
        if event.HasField("command") and wire.detail_from_pb(event.command.detail).terminal:
            return event.command
    return None


CommandView = pb.GetCommandResponse  # a command with every invocation (get_command)
CommandInfo = pb.CommandInfo  # a command with its counters, no invocations (list_commands)
CommandEvent = pb.CommandEvent  # one of a command's events (run_command, watch_command)
StatusEvent = pb.StatusEvent  # one of the fleet's status events (watch_events, list_events)


@dataclass(frozen=True)
class NodeListing:
    """Every registered node, and the controller's room for agent streams as of the last page."""
    nodes: list[pb.Node]
    capacity: pb.StreamCapacity


@dataclass(frozen=True)
class CommandSpec:
    """What an operator sends (SSM's SendCommand): an inline document, or a stored one by name."""
    targets: Targets
    document: bytes = b""  # an inline document (a playbook's play), canonical JSON
    document_name: str = ""
    document_version: str = ""
    document_hash: str = ""
    parameters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    max_concurrency: str = "50"
    max_errors: str = "0"
    timeout_seconds: int = 0
    comment: str = ""
    notification: NotificationConfig | None = None  # the command's own webhook (SSM's NotificationConfig)

    def to_pb(self) -> pb.SendCommandRequest:
        n = self.notification
        return pb.SendCommandRequest(
            document=self.document, document_name=self.document_name, document_version=self.document_version,
            document_hash=self.document_hash, targets=targets_to_pb(self.targets),
            parameters={k: pb.ParameterValues(values=list(v)) for k, v in self.parameters.items()},
            max_concurrency=self.max_concurrency, max_errors=self.max_errors,
            timeout_seconds=self.timeout_seconds, comment=self.comment,
            notification_config=None if n is None else pb.NotificationConfig(url=n.url, events=n.event_names,
                                                                               type=n.type.value))


class AdminClient(StoreRequests):
    def __init__(self, config: CliConfig, timeout_seconds: float = 30.0) -> None:
        ca, key, cert = config.credentials()
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        self._ca_pem, self._cert_pem = ca, cert  # to say why a handshake failed (connection_failure)
        self.address = config.controller
        self.timeout = timeout_seconds
        # a streaming answer (RunCommand, WatchCommand, WatchEvents) is read on the calling thread, not
        # handed over from gRPC's channel thread message by message (a thread switch each)
        self._channel = grpc.secure_channel(config.controller, creds, options=CHANNEL_OPTIONS)
        self.stub = pbg.AdminServiceStub(self._channel)

    # ---- commands

    def send_command(self, spec: CommandSpec) -> pb.SendCommandResponse:
        return self.stub.SendCommand(spec.to_pb(), timeout=self.timeout)

    def run_command(self, spec: CommandSpec) -> tuple[pb.CommandInfo, Iterator[pb.CommandEvent]]:
        """RunCommand: the command as sent, and an iterator of its events after it, until its end."""
        events = self.stub.RunCommand(spec.to_pb())
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

    def list_commands(self, limit: int, command_id: str = "") -> list[pb.CommandInfo]:
        request = pb.ListCommandsRequest(limit=limit, command_id=command_id)
        return list(self.stub.ListCommands(request, timeout=self.timeout).commands)

    def watch_command(self, command_id: str, timeout: float | None = None) -> Iterator[pb.CommandEvent]:
        """WatchCommand: no deadline unless ``timeout`` (then DEADLINE_EXCEEDED past it)."""
        return self.stub.WatchCommand(pb.WatchCommandRequest(command_id=command_id), timeout=timeout)

    def cancel_command(self, command_id: str, node_ids: Iterable[str] = ()) -> pb.CommandInfo:
        request = pb.CancelCommandRequest(command_id=command_id, node_ids=list(node_ids))
        return self.stub.CancelCommand(request, timeout=self.timeout).command

    def get_output(self, command_id: str, node_id: str, step_name: str = "", full: bool = False
                   ) -> list[pb.StepOutput]:
        request = pb.GetOutputRequest(command_id=command_id, node_id=node_id, step_name=step_name, full=full)
        return list(self.stub.GetOutput(request, timeout=self.timeout).steps)

    def stream_output(self, command_id: str, node_id: str, step_name: str = "") -> Iterator[OutputPiece]:
        """StreamOutput: the node's whole stored output, a piece at a time as it arrives (a stream may
        hold 16 MB, past what one message can carry). No deadline, as for the other streams."""
        request = pb.StreamOutputRequest(command_id=command_id, node_id=node_id, step_name=step_name)
        call = self.stub.StreamOutput(request)
        try:
            for msg in call:
                yield OutputPiece(msg.step_name, wire.stream_from_pb(msg.stream), msg.data, msg.last, msg.truncated)
        finally:
            call.cancel()  # when the reader stops early (a closed pipe); nothing once the stream has ended

    def watch_events(self, chosen: EventFilter, replay: bool = False) -> Iterator[pb.StatusEvent]:
        """WatchEvents: live events that pass ``chosen``; with ``replay``, the stored ones past its
        after_seq (or from its since_ms) first. No deadline."""
        request = pb.WatchEventsRequest(since_ms=chosen.since_ms, command_id=chosen.command_id,
                                        node_id=chosen.node_id)
        if replay:
            request.after_seq = chosen.after_seq
        return self.stub.WatchEvents(request)

    def list_events(self, chosen: EventFilter, limit: int) -> pb.ListEventsResponse:
        """ListEvents: the newest ``limit`` that pass ``chosen``, or, from its after_seq or since_ms,
        the first ``limit`` from there (``more``: others follow)."""
        request = pb.ListEventsRequest(after_seq=chosen.after_seq, since_ms=chosen.since_ms,
                                       command_id=chosen.command_id, node_id=chosen.node_id, limit=limit)
        return self.stub.ListEvents(request, timeout=self.timeout)

    def expand_document(self, document: bytes) -> bytes:
        """An inline document as the controller would run it: its aws:runDocument steps expanded."""
        return self.stub.ExpandDocument(pb.ExpandDocumentRequest(document=document), timeout=self.timeout).document

    # ---- activations and nodes

    def create_activation(self, tags: tuple[Tag, ...], limit: int, expires_seconds: int, description: str
                          ) -> pb.CreateActivationResponse:
        request = pb.CreateActivationRequest(tags=tags_to_pb(tags), registration_limit=limit,
                                             expires_seconds=expires_seconds, description=description)
        return self.stub.CreateActivation(request, timeout=self.timeout)

    def list_activations(self) -> list[pb.Activation]:
        return list(self.stub.ListActivations(pb.ListActivationsRequest(), timeout=self.timeout).activations)

    def delete_activation(self, activation_id: str) -> pb.Activation:
        request = pb.DeleteActivationRequest(activation_id=activation_id)
        return self.stub.DeleteActivation(request, timeout=self.timeout).activation

    # ---- paged listings

    def list_nodes(self, page_size: int = 0) -> list[pb.Node]:
        """Every registered node, by node id, a page at a time (0: the controller's largest)."""
        return self.node_listing(page_size).nodes

    def node_listing(self, page_size: int = 0) -> NodeListing:
        """``list_nodes``, with the controller's stream capacity."""
        pages = list(self._pages(self.stub.ListNodes, pb.ListNodesRequest(max_results=page_size)))
        return NodeListing([n for page in pages for n in page.nodes], pages[-1].stream_capacity)

    def resolve_targets(self, targets: Targets, page_size: int = 0) -> list[pb.Node]:
        """The nodes ``targets`` select now, by node id, a page at a time (0: the controller's largest)."""
        request = pb.ResolveTargetsRequest(targets=targets_to_pb(targets), max_results=page_size)
        return [n for page in self._pages(self.stub.ResolveTargets, request) for n in page.nodes]

    def get_command(self, command_id: str, page_size: int = 0) -> CommandView:
        """The command with every invocation, a page at a time (0: the controller's largest); the
        command and document as the last page gave them."""
        pages = list(self._pages(self.stub.GetCommand, pb.GetCommandRequest(command_id=command_id,
                                                                            max_results=page_size)))
        return pb.GetCommandResponse(command=pages[-1].command, document=pages[-1].document,
                                     invocations=[i for page in pages for i in page.invocations])

    def node_page(self, page_size: int, next_token: str = "") -> tuple[list[pb.Node], str]:
        """One page of the registered nodes, and the token of the next ("" on the last)."""
        page = self.stub.ListNodes(pb.ListNodesRequest(max_results=page_size, next_token=next_token),
                                   timeout=self.timeout)
        return list(page.nodes), page.next_token

    def command_page(self, command_id: str, page_size: int, next_token: str = "") -> CommandView:
        """One page of a command's invocations (its next_token says where the next begins)."""
        request = pb.GetCommandRequest(command_id=command_id, max_results=page_size, next_token=next_token)
        return self.stub.GetCommand(request, timeout=self.timeout)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """Closes the channel; a call that failed to connect raises an OutpostError saying why
        (a certificate the controller refuses, one it presents that is not trusted here, ...)."""
        self.close()
        if isinstance(exc, grpc.RpcError) and (reason := self.connection_failure(exc)):
            raise OutpostError(reason) from None

    def connection_failure(self, exc: grpc.RpcError) -> str | None:
        code = exc.code() if hasattr(exc, "code") else None
        details = (exc.details() if hasattr(exc, "details") else "") or ""
        return connection_failure(code.name if code is not None else "", details, self.address,
                                  cert_pem=self._cert_pem, ca_pem=self._ca_pem)


def rpc_error_message(exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"the controller is unavailable: {details}"
    return details or (code.name if code else "error")
