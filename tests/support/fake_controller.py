"""A stand-in controller for agent tests: real gRPC and real mutual TLS on 127.0.0.1, no database.

It plays the controller's side of ``AgentService.Connect`` the way ``controller/server`` does
(read the Hello, then write ControllerMessages and read AgentMessages), but the test decides
what to send: commands signed with any key, for any node, with any validity window, or
tampered with. Every AgentMessage received is recorded, per stream, for the test to inspect;
an InvocationResult or a refusal Ack is answered with a ResultAck at once (``auto_result_ack``;
the real controller gathers them, controller/fleet/sessions.py).

The gRPC server runs in a background thread with its own event loop, so tests stay plain
synchronous functions. :class:`AgentProcess` runs a real agent (``outpost agent run``) with its
stdout and stderr in a log file.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cryptography import x509

from agent.csr import make_key_and_csr
from agent.state import AgentIdentity, StateDir
from controller.trust.pki import CertificateAuthority, create_ca
from controller.trust.signing import DocumentSigner
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.errors import IdentityError
from plugins.sdk.host.clock import now_ms
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.document import Document
from plugins.sdk.wire.envelope import SignedCommand
from plugins.sdk.wire.identity import Identity, identity_of_certificate, new_node_id

ROOT = Path(__file__).resolve().parents[2]
OUTPOST = (sys.executable, "-m", "controller.cli.entry")
DEFAULT_TIMEOUT = 15.0


@dataclass
class Session:
    """One Connect stream from the agent."""

    index: int
    peer: Identity | None
    hello: pb.Hello
    outbound: asyncio.Queue[pb.ControllerMessage | None]
    closed: bool = False


@dataclass(frozen=True)
class Received:
    session: int
    msg: pb.AgentMessage
    at: float = field(default_factory=time.monotonic)

    @property
    def kind(self) -> str:
        return self.msg.WhichOneof("body") or ""

    @property
    def command_id(self) -> str:
        """The command this message is about ('' for Hello, heartbeats and refusals of garbage)."""
        kind = self.kind
        if kind in ("ack", "output", "step_result", "invocation_result"):
            return getattr(self.msg, kind).command_id
        return ""


class _Servicer(pbg.AgentServiceServicer):
    def __init__(self, owner: FakeController) -> None:
        self._owner = owner

    async def Enroll(self, request, context):  # noqa: N802 - gRPC's name
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the fake controller does not enroll")

    async def Connect(self, request_iterator, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        first = await asyncio.wait_for(context.read(), DEFAULT_TIMEOUT)
        if first is grpc.aio.EOF or first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be Hello")
        session = self._owner._attach(_peer_identity(context), first.hello)
        writer = asyncio.create_task(self._write(session, context))
        reader = asyncio.create_task(self._read(session, context))
        try:  # ends when the agent goes, or the test hangs up (the writer ends)
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            writer.cancel()
            reader.cancel()
            self._owner._detach(session)

    async def _read(self, session: Session, context: grpc.aio.ServicerContext) -> None:
        while True:
            msg = await context.read()
            if msg is grpc.aio.EOF:
                return
            self._owner._received(session, msg)

    @staticmethod
    async def _write(session: Session, context: grpc.aio.ServicerContext) -> None:
        while True:
            msg = await session.outbound.get()
            if msg is None:
                return
            await context.write(msg)


def _matches(r: Received, command_id: str | None, kind: str | None) -> bool:
    return (command_id is None or r.command_id == command_id) and (kind is None or r.kind == kind)


def _peer_identity(context: grpc.aio.ServicerContext) -> Identity | None:
    pems = context.auth_context().get("x509_pem_cert")
    if not pems:
        return None
    try:
        return identity_of_certificate(x509.load_pem_x509_certificate(pems[0]))
    except (IdentityError, ValueError):
        return None


class FakeController:
    """A CA, a server certificate for 127.0.0.1, a document signer and one enrolled node's identity,
    and a mutual-TLS AgentService listener that the test drives."""

    def __init__(self, signer: DocumentSigner | None = None) -> None:
        self.ca = CertificateAuthority(create_ca("Outpost test CA"))
        self.server = self.ca.issue_server(["127.0.0.1"])
        self.signer = signer or DocumentSigner.generate()
        self.node_id = new_node_id()
        self.node_key_pem, csr_pem = make_key_and_csr(self.node_id)
        self.node_cert_pem = self.ca.sign_node_csr(csr_pem, self.node_id).cert_pem
        self.port = 0
        self.auto_result_ack = True
        # Polled by every wait: a non-empty answer ("the agent exited") fails the wait at once.
        self.give_up: Callable[[], str | None] | None = None
        self._cond = threading.Condition()
        self._received_msgs: list[Received] = []
        self._sessions: list[Session] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: grpc.aio.Server | None = None
        self._stopped: asyncio.Event | None = None
        self._start_error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeController:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve_thread, args=(ready,), name="fake-controller",
                                        daemon=True)
        self._thread.start()
        if not ready.wait(DEFAULT_TIMEOUT):
            raise AssertionError("the fake controller did not start")
        if self._start_error is not None:
            raise self._start_error
        return self

    def _serve_thread(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._start_error = exc
            ready.set()
        finally:
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopped = asyncio.Event()
        server = grpc.aio.server()
        pbg.add_AgentServiceServicer_to_server(_Servicer(self), server)
        creds = grpc.ssl_server_credentials([(self.server.key_pem, self.server.cert_pem)],
                                            root_certificates=self.ca.cert_pem, require_client_auth=True)
        self.port = server.add_secure_port("127.0.0.1:0", creds)
        await server.start()
        self._server = server
        ready.set()
        try:
            await self._stopped.wait()
        finally:
            for s in list(self._sessions):
                if not s.closed:
                    s.outbound.put_nowait(None)
            await server.stop(grace=0.5)

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        stopped = self._stopped
        if stopped is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:  # the loop already closed
                pass
        thread.join(DEFAULT_TIMEOUT)
        self._thread = None

    def __enter__(self) -> FakeController:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ the agent's identity

    def identity(self) -> AgentIdentity:
        return AgentIdentity(node_id=self.node_id, controller=self.address, ca_pem=self.ca.cert_pem,
                             cert_pem=self.node_cert_pem, key_pem=self.node_key_pem,
                             signing_public_key=self.signer.public_key_raw(),
                             signing_key_id=self.signer.key_id)

    def write_state(self, state_dir: Path) -> StateDir:
        """Write an enrolled agent's state directory pointing at this controller."""
        assert self.port, "start() the controller first"
        state = StateDir(state_dir)
        state.save_identity(self.identity())
        return state

    # ------------------------------------------------------------------ sessions (server loop thread)

    def _attach(self, peer: Identity | None, hello: pb.Hello) -> Session:
        with self._cond:
            session = Session(len(self._sessions), peer, hello, asyncio.Queue())
            self._sessions.append(session)
            self._cond.notify_all()
        return session

    def _detach(self, session: Session) -> None:
        with self._cond:
            session.closed = True
            self._cond.notify_all()

    def _received(self, session: Session, msg: pb.AgentMessage) -> None:
        rec = Received(session.index, msg)
        with self._cond:
            self._received_msgs.append(rec)
            self._cond.notify_all()
        if not self.auto_result_ack:
            return
        kind = rec.kind
        settles = kind == "invocation_result" or (kind == "ack" and not msg.ack.accepted)
        if settles and rec.command_id:
            ack = pb.ControllerMessage(result_ack=pb.ResultAck(command_ids=[rec.command_id]))
            session.outbound.put_nowait(ack)

    # ------------------------------------------------------------------ what the test calls

    def wait_until(self, predicate: Callable[[], bool], what: str, timeout: float = DEFAULT_TIMEOUT,
                   give_up: Callable[[], str | None] | None = None) -> None:
        """Wait for ``predicate`` (called with the lock held) to hold. ``give_up`` is polled too: a
        non-empty answer (e.g. "the agent exited") fails the wait at once."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                check = give_up or self.give_up
                reason = check() if check is not None else None
                if reason:
                    raise AssertionError(f"gave up waiting for {what}: {reason}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self._cond.wait(min(remaining, 0.2))

    def sessions(self) -> list[Session]:
        with self._cond:
            return list(self._sessions)

    def wait_session(self, index: int = 0, timeout: float = DEFAULT_TIMEOUT,
                     give_up: Callable[[], str | None] | None = None) -> Session:
        """Wait until stream number ``index`` (from 0) has said Hello and is still open."""
        self.wait_until(lambda: len(self._sessions) > index and not self._sessions[index].closed,
                        f"the agent's Hello on stream #{index}", timeout, give_up)
        return self._sessions[index]

    def current_session(self) -> Session:
        with self._cond:
            live = [s for s in self._sessions if not s.closed]
        if not live:
            raise AssertionError("no agent is connected")
        return live[-1]

    def send(self, msg: pb.ControllerMessage, session: Session | None = None) -> None:
        target = session or self.current_session()
        loop = self._loop
        assert loop is not None
        loop.call_soon_threadsafe(target.outbound.put_nowait, msg)

    def hang_up(self, session: Session) -> None:
        """End ``session``'s stream from the controller's side (the agent reconnects)."""
        loop = self._loop
        assert loop is not None
        loop.call_soon_threadsafe(session.outbound.put_nowait, None)

    def send_command(self, cmd: SignedCommand | pb.Command, session: Session | None = None) -> None:
        msg = cmd if isinstance(cmd, pb.Command) else wire.command_to_pb(cmd)
        self.send(pb.ControllerMessage(command=msg), session)

    def sign(self, command_id: str, document: Document | bytes, *, node_id: str | None = None,
             signer: DocumentSigner | None = None, issued_at_ms: int | None = None,
             expires_at_ms: int | None = None) -> SignedCommand:
        """A command as the controller would sign it (defaults: this node, valid for 10 minutes)."""
        doc = document.canonical_bytes() if isinstance(document, Document) else document
        issued = now_ms() if issued_at_ms is None else issued_at_ms
        expires = issued + 600_000 if expires_at_ms is None else expires_at_ms
        return (signer or self.signer).sign_command(command_id, node_id or self.node_id, doc, issued, expires)

    def mark(self) -> int:
        """A position in the record of received messages, for ``since=`` below."""
        with self._cond:
            return len(self._received_msgs)

    def received(self, command_id: str | None = None, kind: str | None = None,
                 since: int = 0) -> list[Received]:
        with self._cond:
            return [r for r in self._received_msgs[since:] if _matches(r, command_id, kind)]

    def _find(self, command_id: str | None, kind: str, where: Callable[[Received], bool] | None,
              since: int = 0) -> Received | None:
        for r in self._received_msgs[since:]:
            if _matches(r, command_id, kind) and (where is None or where(r)):
                return r
        return None

    def wait_message(self, kind: str, command_id: str | None = None,
                     where: Callable[[Received], bool] | None = None, timeout: float = DEFAULT_TIMEOUT,
                     since: int = 0) -> Received:
        found: list[Received] = []

        def seen() -> bool:
            r = self._find(command_id, kind, where, since)
            if r is not None:
                found.append(r)
            return r is not None
        self.wait_until(seen, f"a {kind} message about command {command_id!r}", timeout)
        return found[0]

    def wait_ack(self, command_id: str, timeout: float = DEFAULT_TIMEOUT) -> pb.Ack:
        return self.wait_message("ack", command_id, timeout=timeout).msg.ack

    def wait_result(self, command_id: str, timeout: float = DEFAULT_TIMEOUT) -> pb.InvocationResult:
        return self.wait_message("invocation_result", command_id, timeout=timeout).msg.invocation_result


class AgentProcess:
    """A real agent: ``outpost agent run`` in its own process group, output in ``log_path``."""

    def __init__(self, state_dir: Path, log_path: Path, *, heartbeat_seconds: float = 1.0,
                 backoff_base_seconds: float = 0.2, extra_args: Sequence[str] = ()) -> None:
        self.state_dir = state_dir
        self.log_path = log_path
        self.args = ["agent", "run", "--state-dir", str(state_dir),
                     "--heartbeat-seconds", str(heartbeat_seconds),
                     "--backoff-base-seconds", str(backoff_base_seconds), *extra_args]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        assert self.proc is None or self.proc.poll() is not None, "the agent is already running"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as fh:
            self.proc = subprocess.Popen([*OUTPOST, *self.args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                         stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = DEFAULT_TIMEOUT) -> int | None:
        """Signal the agent and wait; SIGKILL its whole process group if it does not exit in time.
        Returns its exit code (None if it never started)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # The agent's own process group: its step processes too, if any outlived it.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if proc.poll() is None:
            proc.wait(timeout=timeout)
        return proc.returncode

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
