"""``Outpost``: the typed Python client of a controller, as an operator (docs/sdk.md).

    from controller.sdk import Outpost, targets

    with Outpost.from_config() as outpost:                     # the CLI's own configuration
        cmd = outpost.run("AWS-RunShellScript", {"commands": ["uptime"]},
                          targets(tags={"Role": ["web"]}), timeout=300)
        for inv in cmd.invocations:
            print(inv.node_id, inv.detail, inv.steps[0].stdout)

Every answer is a frozen record of controller.sdk.models; every failure an
:class:`~controller.sdk.errors.ApiError` (the controller refused, and why) or
:class:`~controller.sdk.errors.WaitTimeout`. The ``outpost`` CLI is built on the same transport
(``controller.sdk.transport``) and, for sending and waiting, on this class.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import grpc

from controller.model import EventFilter, Tag, Targets
from controller.runtime.config import CliConfig, default_cli_config_path
from controller.sdk.convert import command_from_pb, document_from_pb, event_from_pb, node_from_pb
from controller.sdk.errors import ApiError, WaitTimeout
from controller.sdk.models import Command, Document, DocumentVersion, Event, Node, OutputText
from controller.sdk.transport import AdminClient, CommandSpec

T = TypeVar("T")
Parameters = Mapping[str, str | Sequence[str]]


def _calling(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except grpc.RpcError as exc:
        raise ApiError.from_rpc(exc) from None


class Outpost:
    """One mutually authenticated connection to a controller. Thread-safe for calls; close it (or use
    ``with``) when done."""

    def __init__(self, controller: str, *, ca: str | Path, certificate: str | Path, key: str | Path,
                 timeout: float = 30.0) -> None:
        """``controller`` is ``host:port``; ``ca``, ``certificate`` and ``key`` are PEM files: the
        controller's CA and the operator's certificate and key (``outpost operator create``)."""
        config = CliConfig(controller, Path(ca), Path(certificate), Path(key), operator="")
        self.transport = AdminClient(config, timeout)

    @classmethod
    def from_config(cls, path: str | Path | None = None, timeout: float = 30.0) -> Outpost:
        """The connection the ``outpost`` CLI uses: its configuration file (``--config``,
        ``$OUTPOST_CONFIG``, or the default that ``outpost controller init`` writes)."""
        config = CliConfig.load(Path(path) if path else default_cli_config_path())
        out = cls.__new__(cls)
        out.transport = AdminClient(config, timeout)
        return out

    @classmethod
    def over(cls, transport: AdminClient) -> Outpost:
        """Typed calls over an open transport (how the CLI uses this class)."""
        out = cls.__new__(cls)
        out.transport = transport
        return out

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Outpost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- commands

    def send(self, document: str, parameters: Parameters | None = None, targets: Targets | None = None, *,
             version: str = "", max_concurrency: str = "50", max_errors: str = "0", timeout_seconds: int = 600,
             comment: str = "", content: bytes = b"") -> Command:
        """SendCommand: the stored document ``document`` (a name such as ``AWS-RunShellScript``;
        ``version`` a number, ``$LATEST`` or ``$DEFAULT``) with ``parameters``, or with ``content``
        an inline document (its canonical JSON) labelled ``document``. Returns the command as sent."""
        values = {k: (v,) if isinstance(v, str) else tuple(v) for k, v in (parameters or {}).items()}
        spec = CommandSpec(targets or Targets(), document=content, document_name=document, document_version=version,
                           parameters=values,
                           max_concurrency=max_concurrency, max_errors=max_errors, timeout_seconds=timeout_seconds,
                           comment=comment)
        return command_from_pb(_calling(lambda: self.transport.send_command(spec)).command)

    def run(self, document: str, parameters: Parameters | None = None, targets: Targets | None = None, *,
            version: str = "", max_concurrency: str = "50", max_errors: str = "0", timeout_seconds: int = 600,
            comment: str = "", content: bytes = b"", timeout: float | None = None) -> Command:
        """:meth:`send`, then :meth:`wait` (up to ``timeout`` seconds): the command at its end, every
        invocation with its steps."""
        sent = self.send(document, parameters, targets, version=version, max_concurrency=max_concurrency,
                         max_errors=max_errors, timeout_seconds=timeout_seconds, comment=comment, content=content)
        return self.wait(sent.command_id, timeout)

    def wait(self, command_id: str, timeout: float | None = None, reconnect_timeout: float = 300.0) -> Command:
        """Block until the command ends and return it with its invocations. Raises WaitTimeout past
        ``timeout`` seconds; rides out a controller restart or a cut connection (reading the command
        again once it answers) for up to ``reconnect_timeout`` seconds at a time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        lost_since: float | None = None
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            try:
                current = self.command(command_id)
                if current.done:
                    return current
                if left is not None and left <= 0:
                    raise WaitTimeout(f"command {command_id} has not ended after {timeout:g} s "
                                      f"({current.detail.value})")
                for event in self.transport.watch_command(command_id, left):
                    if event.WhichOneof("body") == "command" and command_from_pb(event.command).done:
                        break
                lost_since = None
            except (ApiError, grpc.RpcError) as exc:
                code = exc.code if isinstance(exc, ApiError) else exc.code().name
                if code == "DEADLINE_EXCEEDED":
                    continue  # past the deadline: the next read says so
                if code != "UNAVAILABLE":
                    raise exc if isinstance(exc, ApiError) else ApiError.from_rpc(exc) from None
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > reconnect_timeout:
                    raise ApiError("UNAVAILABLE", f"no controller for {reconnect_timeout:g} s while waiting for "
                                                  f"{command_id}") from None
                time.sleep(1.0)

    def command(self, command_id: str) -> Command:
        """The command with every invocation and each step's output views."""
        view = _calling(lambda: self.transport.get_command(command_id))
        return command_from_pb(view.command, tuple(view.invocations))

    def commands(self, limit: int = 50) -> list[Command]:
        """The newest commands, newest first (without invocations)."""
        return [command_from_pb(c) for c in _calling(lambda: self.transport.list_commands(limit))]

    def cancel(self, command_id: str, node_ids: Sequence[str] = ()) -> Command:
        return command_from_pb(_calling(lambda: self.transport.cancel_command(command_id, node_ids)))

    def output(self, command_id: str, node_id: str, step: str = "") -> list[OutputText]:
        """Each stream of each step (or of ``step``) as the node wrote it, whole."""
        out: dict[tuple[str, str], list[bytes]] = {}
        cut: dict[tuple[str, str], bool] = {}

        def read() -> None:
            for piece in self.transport.stream_output(command_id, node_id, step):
                key = (piece.step_name, piece.stream.value)
                out.setdefault(key, []).append(piece.data)
                cut[key] = cut.get(key, False) or piece.truncated
        _calling(read)
        return [OutputText(name, stream, b"".join(parts), cut[(name, stream)]) for (name, stream), parts in out.items()]

    def events(self, after_seq: int | None = None, *, command_id: str = "", node_id: str = "",
               reconnect_timeout: float = 300.0) -> Iterator[Event]:
        """Every status change in the fleet (of one command, of one node), as it happens: from now
        on, or (``after_seq``) the stored ones past that seq first. Across a controller restart or a
        cut connection it reconnects and resumes past the last event it gave, each event once, for up
        to ``reconnect_timeout`` seconds without a controller. Ends when the iterator is closed."""
        last = self._newest_seq() if after_seq is None else after_seq  # "from now on": past what is stored
        lost_since: float | None = None
        while True:
            chosen = EventFilter(after_seq=last, command_id=command_id, node_id=node_id)
            stream = self.transport.watch_events(chosen, replay=True)
            try:
                for e in stream:
                    lost_since = None
                    if e.seq <= last:
                        continue
                    last = e.seq
                    yield event_from_pb(e)
                return
            except grpc.RpcError as exc:
                if exc.code() is grpc.StatusCode.CANCELLED:
                    return
                if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                    raise ApiError.from_rpc(exc) from None
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since > reconnect_timeout:
                    raise ApiError("UNAVAILABLE", f"no controller for {reconnect_timeout:g} s") from None
                time.sleep(1.0)
            finally:
                stream.cancel()

    def recent_events(self, limit: int = 100, *, after_seq: int = 0, command_id: str = "",
                      node_id: str = "") -> list[Event]:
        """Stored events, oldest first: the newest ``limit``, or those past ``after_seq``."""
        chosen = EventFilter(after_seq=after_seq, command_id=command_id, node_id=node_id)
        answer = _calling(lambda: self.transport.list_events(chosen, limit))
        return [event_from_pb(e) for e in answer.events]

    def _newest_seq(self) -> int:
        newest = self.recent_events(1)
        return newest[-1].seq if newest else 0

    # ---- nodes

    def nodes(self) -> list[Node]:
        return [node_from_pb(n) for n in _calling(self.transport.list_nodes)]

    def tag(self, node_id: str, **tags: str) -> Node:
        chosen = tuple(Tag(k, v) for k, v in tags.items())
        return node_from_pb(_calling(lambda: self.transport.tag_node(node_id, tags=chosen)))

    # ---- documents

    def documents(self) -> list[DocumentVersion]:
        return [document_from_pb(d) for d in _calling(self.transport.list_documents)]

    def document(self, name: str, version: str = "", version_name: str = "") -> Document:
        got = _calling(lambda: self.transport.get_document(name, version, version_name))
        return Document(document_from_pb(got.document), got.content)

    def document_versions(self, name: str) -> list[DocumentVersion]:
        return [document_from_pb(d) for d in _calling(lambda: self.transport.list_document_versions(name))]

    def put_document(self, name: str, content: str | bytes, *, create: bool = True, format: str = "",
                     version_name: str = "") -> DocumentVersion:
        """Create the document (or, ``create=False``, add a version); checked as a send would be."""
        data = content.encode() if isinstance(content, str) else content
        answer = _calling(lambda: self.transport.put_document(name, data, format, create, version_name))
        return document_from_pb(answer.document)

    def delete_document(self, name: str, version: int = 0, version_name: str = "") -> None:
        _calling(lambda: self.transport.delete_document(name, version, version_name))
