"""What the SDK raises: the controller's refusal with its reason, or a wait that ran out of time."""
from __future__ import annotations

import grpc

from plugins.sdk.errors import OutpostError


class ApiError(OutpostError):
    """The controller answered with an error. ``code`` is the gRPC status name (``NOT_FOUND``,
    ``INVALID_ARGUMENT``, ``PERMISSION_DENIED``, ``UNAVAILABLE``...), ``message`` its one-line reason."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}" if message else code)

    @classmethod
    def from_rpc(cls, exc: grpc.RpcError) -> ApiError:
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        return cls(code.name if code is not None else "UNKNOWN", details or "")


class WaitTimeout(OutpostError):
    """A command did not end within the time given to wait for it."""
