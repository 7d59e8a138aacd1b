"""The attack suite's rig: one real controller (``require_safe_parameters: true``) and two real agents,
``prod`` (Environment=prod) and ``dev`` (Environment=dev), shared by every attack of tests/security.

Attacks go in the ways an attacker has:

* the ``outpost`` command line, as an operator (the administrator or one made for the attack, each with
  its own policies and a unique name) or with credentials it should not hold (a node's, a foreign CA's).
  The command line runs in this process (:meth:`Rig.cli`: controller/cli/entry.py's ``main``, the code
  the ``outpost`` script runs, its stdout and stderr captured; an exception escaping it is printed as
  the traceback the script would print): an ``outpost`` process costs about 0.8 s of CPU to start on
  this machine, and each attack makes several calls;
* raw gRPC on either listener with any certificate (:func:`mtls_channel`, :func:`enrolment_channel`);
* a TCP hop from another loopback address (:class:`FromAddress`), so that the enrolment listener's
  per-address limit sees a caller of its own, and an attack's refusals never spend another's budget.

What every attack asserts is on :class:`Rig`: :func:`refused` (one ``error:`` line, no traceback),
:meth:`Rig.audited` (a record in ``outpost audit export``, from :func:`now` on), and the "nothing
happened" probes (:meth:`Rig.command_ids`, :meth:`Rig.node_ids`, marker files, :meth:`Rig.send_refused`).
"""
from __future__ import annotations

import contextlib
import io
import itertools
import json
import socket
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from controller.cli.entry import main as outpost_main
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from tests.support.clierrors import error_lines
from tests.support.cluster import Activation, Cluster, wait_for

PROD, DEV = "Key=tag:Environment,Values=prod", "Key=tag:Environment,Values=dev"
SHELL = "Outpost-RunShellScript"
RPC_SECONDS = 10.0
_sources = itertools.count(10)  # 127.0.0.N for each FromAddress, so no two attacks share an address


@dataclass(frozen=True)
class Run:
    rc: int
    stdout: str
    stderr: str


def run_outpost(argv: Sequence[str]) -> Run:
    """``outpost ARGV`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = outpost_main(list(argv))
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except Exception:  # noqa: BLE001 - the script would die with this traceback on its stderr
            traceback.print_exc()
            rc = 1
    return Run(rc, out.getvalue(), err.getvalue())


def now() -> str:
    """This moment for ``audit export --since``: the records an attack makes are from here on."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def refused(run: Run, *needles: str) -> str:
    """``run`` failed with exit status 1 and said why in one ``error:`` line holding every needle, with
    no traceback; that line."""
    assert "Traceback" not in run.stderr, run.stderr
    lines = error_lines(run.stderr)
    assert run.rc == 1 and len(lines) == 1 and lines[0].startswith("error: "), run
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@dataclass(frozen=True)
class Credentials:
    key: bytes
    cert: bytes

    @classmethod
    def of_node(cls, state_dir: Path) -> Credentials:
        return cls((state_dir / "node.key").read_bytes(), (state_dir / "node.crt").read_bytes())

    @classmethod
    def of_operator(cls, bundle: Path, name: str) -> Credentials:
        return cls((bundle / f"{name}.key").read_bytes(), (bundle / f"{name}.crt").read_bytes())


def mtls_channel(c: Cluster, who: Credentials | None, **options: int) -> grpc.Channel:
    """A channel to the mutual-TLS listener trusting the controller's CA and presenting ``who``."""
    ca = (c.controller_dir / "ca.crt").read_bytes()
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=who.key if who else None,
                                         certificate_chain=who.cert if who else None)
    return grpc.secure_channel(c.address, creds, options=[(f"grpc.{k}", v) for k, v in options.items()])


def enrolment_channel(c: Cluster, address: str | None = None) -> grpc.Channel:
    ca = (c.controller_dir / "ca.crt").read_bytes()
    return grpc.secure_channel(address or f"127.0.0.1:{c.port + 1}", grpc.ssl_channel_credentials(ca))


def rpc_error(call: Callable[[], object]) -> grpc.RpcError:
    """The error ``call`` ends with; it must end with one."""
    try:
        answer = call()
    except grpc.RpcError as exc:
        return exc
    raise AssertionError(f"the call was answered: {answer}")


def connect_refusal(c: Cluster, who: Credentials) -> grpc.RpcError:
    """Open AgentService.Connect as ``who`` and say Hello, as an agent does; how the stream ended."""
    with mtls_channel(c, who) as channel:
        stream = pbg.AgentServiceStub(channel).Connect(iter([pb.AgentMessage(hello=pb.Hello(facts=pb.Facts()))]),
                                                       timeout=RPC_SECONDS)
        return rpc_error(lambda: next(stream))


@contextlib.contextmanager
def connected(c: Cluster, who: Credentials, facts: pb.Facts) -> Iterator[None]:
    """A Connect stream as ``who`` whose Hello carries ``facts``, held open for the block."""
    done = threading.Event()

    def messages() -> Iterator[pb.AgentMessage]:
        yield pb.AgentMessage(hello=pb.Hello(facts=facts))
        done.wait(60)

    with mtls_channel(c, who) as channel:
        stream = pbg.AgentServiceStub(channel).Connect(messages(), timeout=60)
        try:
            yield
        finally:
            done.set()
            stream.cancel()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        return  # either side gone: the relay's connection ends with it
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class FromAddress:
    """``self.address`` (127.0.0.1:PORT) relays every connection, byte for byte, to 127.0.0.1:``port``
    from the source address ``self.source`` (127.0.0.N): to that listener, a caller at another address."""

    def __init__(self, port: int) -> None:
        self.source = f"127.0.0.{next(_sources)}"
        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, name=f"from-{self.source}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self._listener.accept()
                up = socket.create_connection(("127.0.0.1", self._target), source_address=(self.source, 0))
            except OSError:
                return
            self._open += [down, up]
            for src, dst in ((down, up), (up, down)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()

    def __enter__(self) -> FromAddress:
        return self

    def __exit__(self, *exc: object) -> None:
        for s in (self._listener, *self._open):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


class Rig:
    """The shared fleet, and what attacks ask of it."""

    def __init__(self, cluster: Cluster) -> None:
        self.c = cluster
        self.root = cluster.root
        self.admin = cluster.config
        (self.root / "markers").mkdir(exist_ok=True)

    # ---------------------------------------------------------------- the command line

    def cli(self, *argv: str, config: Path | None = None) -> Run:
        """``outpost --config CONFIG ARGV`` (the administrator's by default)."""
        return run_outpost(["--config", str(config or self.admin), *argv])

    def ok(self, *argv: str, config: Path | None = None) -> str:
        run = self.cli(*argv, config=config)
        assert run.rc == 0, (argv, run)
        return run.stdout

    def json(self, *argv: str, config: Path | None = None) -> Any:
        return json.loads(self.ok(*argv, "--output", "json", config=config))

    def write(self, name: str, text: str) -> Path:
        path = self.root / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def policy(self, name: str, text: str) -> None:
        self.ok("policy", "create", name, "--file", str(self.write(f"{name}.policy.yaml", text)))

    def operator(self, name: str, *policies: str) -> Path:
        """A new operator holding ``policies``; its CLI configuration."""
        bundle = self.bundle(name)
        self.ok("operator", "create", name, "--out", str(bundle), *(a for p in policies for a in ("--policy", p)))
        return bundle / "config.yaml"

    def bundle(self, name: str) -> Path:
        return self.root / "bundles" / name

    def document(self, name: str, text: str) -> None:
        self.ok("document", "create", name, "--file", str(self.write(f"{name}.yaml", text)))

    # ---------------------------------------------------------------- what is there

    def command_ids(self) -> list[str]:
        return [r["command_id"] for r in self.json("command", "list", "--limit", "1000")]

    def node_ids(self) -> set[str]:
        return {r["node_id"] for r in self.json("node", "list")}

    def node(self, name: str) -> str:
        return self.c.node_ids[name]

    def marker(self, name: str) -> Path:
        return self.root / "markers" / name

    def audit(self, action: str = "", since: str = "") -> list[dict]:
        """``outpost audit export`` of ``action`` (every action: ""), from ``since`` (an ISO time) on."""
        argv = ["audit", "export", "--format", "jsonl"]
        argv += ["--action", action] if action else []
        argv += ["--since", since] if since else []
        return [json.loads(line) for line in self.ok(*argv).splitlines()]

    def audited(self, action: str, what: str, since: str, **fields: object) -> dict:
        """The latest record of ``action`` from ``since`` on whose fields are ``fields``, waited for:
        outcomes, reads and enrolment refusals are written with the trail's next batch (0.2 s)."""
        found: list[dict] = []

        def seen() -> bool:
            found[:] = [r for r in self.audit(action, since) if all(r.get(k) == v for k, v in fields.items())]
            return bool(found)
        wait_for(seen, 10, f"an audit record of {action}: {what}", interval=0.1)
        return found[-1]

    # ---------------------------------------------------------------- nodes

    def enrol(self, name: str, act: Activation, *, activation_id: str | None = None, code: str | None = None,
              endpoint: str | None = None) -> Run:
        """``outpost agent enroll`` into the state directory ``name`` (through ``endpoint`` when given)."""
        argv = ["agent", "enroll", "--controller", self.c.address,
                "--activation-id", act.activation_id if activation_id is None else activation_id,
                f"--activation-code={act.code if code is None else code}", "--ca-fingerprint", act.ca_fingerprint,
                "--state-dir", str(self.c.state_dir(name))]
        run = run_outpost(argv + (["--enrolment-endpoint", endpoint] if endpoint else []))
        if run.rc == 0:
            self.c.node_ids[name] = run.stdout.strip().rsplit(" ", 1)[-1]
        return run

    def activation(self, tags: str = "Environment=spare", limit: int = 1, expires: str = "1h") -> Activation:
        row = self.json("activation", "create", "--tags", tags, "--limit", str(limit), "--expires", expires)
        return Activation(row["activation_id"], row["activation_code"], row["ca_fingerprint"])

    def spare_node(self, name: str) -> str:
        """A node enrolled for one attack, whose agent does not run (Environment=spare: no other
        attack's targets reach it); its id."""
        run = self.enrol(name, self.activation())
        assert run.rc == 0, run
        return self.node(name)

    # ---------------------------------------------------------------- commands

    def wait(self, command_id: str) -> dict:
        """``outpost command wait``: the command as it ended."""
        run = self.cli("command", "wait", command_id, "--output", "json")
        assert run.rc in (0, 1), run
        return json.loads(run.stdout)

    def send_refused(self, config: Path, marker: Path, *targets: str) -> str:
        """An operator's attempt to make a node ``touch marker``, refused; its error line."""
        before = self.command_ids()
        run = self.cli("command", "send", "--document", SHELL, *targets, "--parameters", f"commands=touch {marker}",
                       config=config)
        line = refused(run)
        assert self.command_ids() == before, "a refused send stored a command"
        assert not marker.exists(), "a refused send ran"
        return line

    def output(self, command_id: str, node_id: str) -> list[dict]:
        return self.json("command", "output", command_id, "--node", node_id)
