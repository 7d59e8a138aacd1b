"""``outpost controller serve``: builds every part from the controller directory and runs the
two listeners (mutual TLS for agents and operators, TLS for enrolment) until stopped."""
from __future__ import annotations

import asyncio
import functools
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

import grpc

from controller.dispatch.deadlines import LOST_GRACE_SECONDS
from controller.dispatch.dispatcher import Dispatcher
from controller.dispatch.reports import Reports
from controller.documents.catalog import DocumentCatalog
from controller.events.bus import EventBus
from controller.events.journal import EventJournal
from controller.events.notices import CommandNotices
from controller.events.webhook_config import tls_context
from controller.events.webhooks import WebhookSender
from controller.fleet.capacity import StreamCapacity
from controller.fleet.presence import Presence
from controller.fleet.sessions import Hub
from controller.runtime.access import build_access
from controller.runtime.audit import command_status_sink
from controller.runtime.config import ControllerDir, ControllerSettings
from controller.runtime.lease import LeaseGone, LeaseKeeper, this_process
from controller.runtime.openfiles import ENROLMENT, open_file_count, raise_soft_limit, share_out
from controller.runtime.retention import Pruner
from controller.runtime.sealed_store import open_sealed_store
from controller.server.admin_service import AdminService
from controller.server.agent_service import AgentStreamService
from controller.server.content import ContentServer
from controller.server.enrolment_service import MAX_MESSAGE_BYTES, EnrolmentService
from controller.server.failures import DatabaseFailures
from controller.server.renewal import NodeRenewal
from controller.store import Store
from controller.store.db import Db
from controller.trust.audit_trail import AuditTrail, load_audit_key
from controller.trust.key_rotation import MasterKeyRotation
from controller.trust.pki import CertificateAuthority
from controller.trust.sealing import Keyring, keyring_path
from controller.trust.signing_keys import SigningKeys
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.errors import ConfigError
from plugins.sdk.host.gcfreeze import Freezer
from plugins.sdk.host.logs import install_scrubber
from plugins.sdk.host.registry import PluginRegistry

log = logging.getLogger(__name__)

# ../shared/reference/grpc-aio.md: raise the pending-call limits (bursts of reconnects), detect
# dead agents, allow the agents' keepalive pings, and cap streams per connection. No BDP probing:
# gRPC answers data on a connection with a PING to size its flow-control window, and the PING's ACK
# comes back; with 10,000 streams of small messages that doubled the frames (measured in a 10k
# fan-out: gRPC's own threads 1.3-1.7 -> 0.3-0.6 CPU-s here, 1.6-2.3 -> 0.6-0.9 in the swarm). Windows
# stay at the 64 KB default, which is one output chunk (plugins/sdk/process.py). A connection with no
# call for 10 s is closed (GOAWAY; the client's next call opens another): an agent refused for want of
# room (controller/fleet/capacity.py) would otherwise keep its connection, an open file, for as long
# as it backs off. Not shorter: with 10,000 swarm agents, 0.5 s and 2 s closed connections between
# the retries of a reconnect storm, so each retry was a new TLS handshake; at 0.5 s the swarm ran
# away (RSS to 20 GB, killed; docs/performance.md saw it rarely before) in 2 of 6 cold connects and
# fell short in a third, at 2 s in the one restart tried. At 10 s, one bench run: connect 76.9 s,
# restart 58.0 s, 0 lost, against 75.4 s, 45.2 s, 0 for the unchanged tree (one run each, on a machine
# at load average 12-19 from other work). The price: 300 agents against a limit of 250 open files,
# operator calls probed every second for 40 s failed 4 times at 0.5 s and 27 at 10 s while refused
# agents kept their connections (the listener's connections are capped, MAX_CONNECTIONS). Agents
# that back off longer on RESOURCE_EXHAUSTED, or drop their connection meanwhile, close that gap.
# The largest message the mutual-TLS listener takes (gRPC's default, said here): every field has its
# own bound below it (a document or policy 64 KB, an output chunk 64 KB, a page of results 2 MB);
# past it the transport refuses the message (RESOURCE_EXHAUSTED) before any code reads it.
MTLS_MAX_MESSAGE = 4 * 1024 * 1024
SERVER_OPTIONS = (
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 30_000),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 20_000),
    ("grpc.max_concurrent_streams", 16),
    ("grpc.http2.bdp_probe", 0),
    ("grpc.max_connection_idle_ms", 10_000),
)
# A listener's connections at most (controller/runtime/openfiles.py): one beyond is closed as soon as
# it is accepted, so the process never reaches its open-file limit, where gRPC's accept loop stalls.
MAX_CONNECTIONS = "grpc.max_allowed_incoming_connections"


@dataclass(frozen=True)
class ServeOptions:
    directory: Path
    listen: str | None = None
    enrolment_listen: str | None = None
    database_url: str | None = None
    heartbeat_timeout_seconds: float = 90.0
    sweep_interval_seconds: float = 5.0
    lost_agent_grace_seconds: float = LOST_GRACE_SECONDS
    retention_days: int | None = None  # None: controller.yaml's retention_days (default 30)
    prune_interval_seconds: float = 3600.0
    master_key_file: Path | None = None  # None: master.key in the directory


def _next_port(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"listen address {address!r}: expected HOST:PORT")
    return f"{host}:{int(port) + 1}"


async def serve(opts: ServeOptions, stop: asyncio.Event | None = None) -> None:
    cdir = ControllerDir(opts.directory)
    settings = cdir.load_settings()
    if cdir.make_private():
        log.warning("%s was readable by others: made it 0700", cdir.path)
    listen = opts.listen or settings.listen
    enrol_listen = opts.enrolment_listen or _next_port(listen)
    keyring_file = keyring_path(cdir.path, opts.master_key_file)
    store, keyring = open_sealed_store(opts.database_url or settings.database_url, keyring_file)
    try:
        store.migrate()
        lease = LeaseKeeper(store, this_process(listen))
        lease.acquire()  # before the first write: a second controller on this database stops here
    except BaseException:
        store.close()
        raise
    try:
        await _serve(opts, cdir, settings, store, lease, listen, enrol_listen, stop, (keyring_file, keyring))
    except LeaseGone:
        raise
    except BaseException:
        lease.release()  # a start-up that failed, say on a port in use: the next try need not wait
        store.close()
        raise


async def _serve(opts: ServeOptions, cdir: ControllerDir, settings: ControllerSettings, store: Store,
                 lease: LeaseKeeper, listen: str, enrol_listen: str, stop: asyncio.Event | None,
                 keys: tuple[Path, Keyring]) -> None:
    open_file_limit = raise_soft_limit()
    ca = CertificateAuthority.from_pem(cdir.read("ca.key"), cdir.read("ca.crt"))
    signer = SigningKeys.load(cdir.path)
    chain = cdir.read("server.crt") + ca.cert_pem  # the CA travels in the chain for enrolment discovery
    server_key = cdir.read("server.key")
    store.mark_all_connection_lost()
    db = Db(store)
    hub, events = Hub(), EventBus()
    journal = EventJournal(events, functools.partial(db.run, store.record_events))  # durable seqs
    webhooks = WebhookSender(settings.webhooks, ssl_context=tls_context(settings.webhooks_ca_bundle),
                             notification_secret=settings.notification_secret)
    notices = CommandNotices(webhooks)  # commands' own notifications, through the same sender
    events.add_sink(webhooks.submit)
    events.add_sink(notices.submit)
    trail = AuditTrail(db, load_audit_key(cdir.path), record_reads=settings.audit_reads)
    events.add_sink(command_status_sink(trail))
    webhooks.start()
    registry = PluginRegistry.discover()
    dispatcher = Dispatcher(db, signer, hub, events, registry, scrubber=install_scrubber(),
                            lost_grace_seconds=opts.lost_agent_grace_seconds, notices=notices)
    reports = Reports(db, hub, events, dispatcher.active, dispatcher.settle,
                      cancel_answered=dispatcher.deadlines.answered)
    catalog = DocumentCatalog(db, registry, require_safe_parameters=settings.require_safe_parameters)
    rotation = MasterKeyRotation(db, *keys)
    await catalog.seed_builtins()
    resumed = await dispatcher.resume()
    if resumed:
        log.info("resumed %d active command(s)", resumed)

    room = share_out(open_file_limit, open_file_count())
    log.info("%s", room.summary())
    capacity = StreamCapacity(room.agent_streams, room.limit)
    failures = (DatabaseFailures(),)  # a failed database answered UNAVAILABLE in one line
    mtls = grpc.aio.server(interceptors=failures, options=(*SERVER_OPTIONS, (MAX_CONNECTIONS, room.connections),
                                                           ("grpc.max_receive_message_length", MTLS_MAX_MESSAGE)))
    access = await build_access(db, ca, cdir.file("operators"), trail)
    renewal = NodeRenewal(db, ca, trail, settings.node_certificate_seconds)
    pbg.add_AgentServiceServicer_to_server(AgentStreamService(hub, reports, dispatcher, Presence(db),
                                                              opts.heartbeat_timeout_seconds, capacity, events,
                                                              access.gate.denylist, renewal, trail, signer,
                                                              ContentServer(db)), mtls)
    pbg.add_AdminServiceServicer_to_server(AdminService(db, dispatcher, events, ca.fingerprint, catalog, capacity,
                                                        access, hub,
                                                        require_safe_parameters=settings.require_safe_parameters,
                                                        rotation=rotation, signing_keys=signer), mtls)
    mtls_creds = grpc.ssl_server_credentials([(server_key, chain)], root_certificates=ca.cert_pem,
                                             require_client_auth=True)
    enrol = grpc.aio.server(interceptors=failures, options=(*SERVER_OPTIONS, (MAX_CONNECTIONS, ENROLMENT),
                                                            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)))
    pbg.add_AgentServiceServicer_to_server(EnrolmentService(db, ca, signer, trail,
                                                            node_certificate_seconds=settings.node_certificate_seconds),
                                           enrol)
    enrol_creds = grpc.ssl_server_credentials([(server_key, chain)])
    try:
        if not mtls.add_secure_port(listen, mtls_creds):
            raise ConfigError(f"cannot listen on {listen}")
        if not enrol.add_secure_port(enrol_listen, enrol_creds):
            raise ConfigError(f"cannot listen on {enrol_listen}")
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {listen} / {enrol_listen}: {exc}") from None
    await mtls.start()
    await enrol.start()
    log.info("controller serving on %s (mutual TLS) and %s (enrolment); CA %s", listen, enrol_listen,
             ca.fingerprint)
    rewrapping = asyncio.create_task(rotation.resume())  # a rotation a stop cut short
    freezer = asyncio.create_task(Freezer().run())  # the streams' objects out of the collector's way
    sweeper = asyncio.create_task(dispatcher.deadlines.sweep_forever(opts.sweep_interval_seconds))
    pruner = asyncio.create_task(Pruner(db, opts.retention_days or settings.retention_days)
                                 .run_forever(opts.prune_interval_seconds))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    keeping = asyncio.create_task(lease.keep())
    keeping.add_done_callback(lambda _: stop.set())  # the lease is gone: stop serving
    lost: BaseException | None = None
    try:
        await stop.wait()
    finally:
        if keeping.done() and not keeping.cancelled():
            lost = keeping.exception()
        keeping.cancel()
        if lost is not None:
            db.fence(f"{lost}")  # another controller may hold the database now: write nothing more
        log.info("controller stopping")
        sweeper.cancel()
        pruner.cancel()
        freezer.cancel()
        rewrapping.cancel()
        await rotation.close()  # what it has re-wrapped is kept; the next start goes on with the rest
        # Both listeners stop taking connections and calls first (GOAWAY), and only then are the
        # agents' streams ended: an agent whose stream ends opens its next one against a closed port,
        # where it waits for the next controller, not against this one, which would cut it again a
        # moment later (a second reconnect for every agent in a restart).
        stopping = asyncio.gather(enrol.stop(grace=1.0), mtls.stop(grace=2.0))
        await asyncio.sleep(0)  # the stops take their first step (the shutdown) before the streams end
        hub.close_all()
        events.close()
        await journal.close()  # what waits is stored and handed to the sinks before they stop
        await webhooks.stop(drain_seconds=5.0)
        await stopping
        await trail.close()
        if lost is None:
            await db.run(store.mark_all_connection_lost)
            await db.run(lease.release)
        db.close()
        log.info("controller stopped")
    if lost is not None:
        raise lost
