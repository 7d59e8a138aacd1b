"""The operator's connection to the controller: mutual TLS with the operator certificate."""
from __future__ import annotations

import grpc

from controller.config import CliConfig
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg


class AdminClient:
    def __init__(self, config: CliConfig, timeout_seconds: float = 30.0) -> None:
        ca, key, cert = config.credentials()
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        self.address = config.controller
        self.timeout = timeout_seconds
        self._channel = grpc.secure_channel(config.controller, creds)
        self.stub = pbg.AdminServiceStub(self._channel)

    def list_nodes(self, page_size: int = 0) -> list[pb.Node]:
        """Every registered node, by node id, a page at a time (0: the controller's largest)."""
        out: list[pb.Node] = []
        token = ""
        while True:
            page = self.stub.ListNodes(pb.ListNodesRequest(max_results=page_size, next_token=token),
                                       timeout=self.timeout)
            out.extend(page.nodes)
            token = page.next_token
            if not token:
                return out

    def get_command(self, command_id: str, page_size: int = 0) -> pb.GetCommandResponse:
        """The command with every invocation, a page at a time (0: the controller's largest); the
        command and document as the last page gave them."""
        invocations: list[pb.Invocation] = []
        token = ""
        while True:
            page = self.stub.GetCommand(pb.GetCommandRequest(command_id=command_id, max_results=page_size,
                                                             next_token=token), timeout=self.timeout)
            invocations.extend(page.invocations)
            token = page.next_token
            if not token:
                return pb.GetCommandResponse(command=page.command, invocations=invocations, document=page.document)

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
