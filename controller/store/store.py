"""The controller's persistent store: SQLAlchemy Core over SQLite (WAL) or PostgreSQL.

Every method is synchronous and runs in its own transaction; the controller calls them from a
thread executor. Records in and out are the frozen dataclasses of controller.model.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from alembic import command as alembic_command
from alembic.config import Config
from sqlalchemy import Connection, Engine, RowMapping, and_, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from controller.model import (
    AuditEntry,
    CommandRecord,
    InvocationPage,
    InvocationRecord,
    NodeRecord,
    PingStatus,
    ReplayPage,
    StepRecord,
)
from controller.store import codec, driver
from controller.store.access import AccessTables, CertificateRecord, insert_certificate
from controller.store.activations import ActivationTables
from controller.store.audit import AuditTables, append_in
from controller.store.baselines import BaselineTables
from controller.store.cancels import CancelTables
from controller.store.compliance import ComplianceTables
from controller.store.content_files import ContentTables
from controller.store.deregistration import DeregistrationTables
from controller.store.documents import DocumentTables
from controller.store.engine import DEFAULT_BUSY_TIMEOUT_MS, create_store_engine, read_tx, write_tx
from controller.store.errors import Conflict, NotFound, StoreError, UnknownNodes
from controller.store.events import EventTables
from controller.store.groups import GroupTables
from controller.store.inlists import SLICE, page_range, slices
from controller.store.lease import LeaseTables
from controller.store.nodelist import NodeListTables
from controller.store.nodetags import NodeTagTables, check_unique_tag_keys
from controller.store.notifications import NotificationTables, notification_values
from controller.store.output import OutputTables, chunks_of_command, output_views_in
from controller.store.output_reader import OutputReaderTables
from controller.store.parameters import ParameterTables
from controller.store.places import document_place
from controller.store.presence import PresenceTables
from controller.store.releases import ReleaseTables
from controller.store.retention import RetentionTables
from controller.store.rewrap import RewrapTables, rewrite_after_sealing
from controller.store.rows import (
    command_from_row,
    invocation_from_row,
    step_from_row,
    step_values,
)
from controller.store.rows import detail as row_detail
from controller.store.schema import (
    command_notifications,
    commands,
    documents,
    node_tags,
    nodes,
    step_results,
)
from controller.store.schema import invocations as invocations_t
from controller.store.sealer import Sealer
from controller.store.settle import SettleTables
from controller.store.statements import (
    COMMAND_BY_ID,
    COMMAND_COUNTERS,
    COMMAND_INSERT,
    INVOCATION_INSERT,
    INVOCATIONS_OF_COMMAND,
    NODES_AMONG,
    STEPS_OF_COMMANDS,
    STEPS_OF_NODES,
    counter_params,
    document_insert,
)
from plugins.sdk.status import Detail, can_transition

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant: serialises concurrent migrate() calls from several controllers on one PostgreSQL.
_MIGRATION_LOCK_KEY = 0x0075_7470_6F73


def _invocations_after(conn: Connection, command_id: str, after: str, limit: int) -> list[InvocationRecord]:
    """At most ``limit`` of the command's invocations whose node ids come after ``after``, by node id,
    steps filled in."""
    if limit < 1:
        raise StoreError(f"limit must be positive, got {limit}")
    i, s = invocations_t.c, step_results.c
    rows = conn.execute(select(invocations_t).where(i.command_id == command_id, i.node_id > after)
                        .order_by(i.node_id).limit(limit)).mappings().all()
    if not rows:
        return []
    steps: dict[str, list[StepRecord]] = {}
    for sr in conn.execute(select(step_results).where(s.command_id == command_id,
                                                      page_range(s.node_id, (after, str(rows[-1]["node_id"]))))
                           .order_by(s.node_id, s.step_index)).mappings():
        steps.setdefault(str(sr["node_id"]), []).append(step_from_row(sr))
    return [invocation_from_row(r, steps.get(str(r["node_id"]), [])) for r in rows]


class Store(AccessTables, ActivationTables, AuditTables, BaselineTables, CancelTables, ComplianceTables, ContentTables,
            DeregistrationTables, DocumentTables, EventTables, GroupTables, LeaseTables, NodeListTables, NodeTagTables,
            OutputTables, OutputReaderTables, NotificationTables, ParameterTables, PresenceTables, ReleaseTables,
            RetentionTables,
            RewrapTables, SettleTables):
    def __init__(self, engine: Engine, sealer: Sealer) -> None:
        self._engine = engine
        self._sealer = sealer  # seals documents and output (controller/store/sealer.py)

    @classmethod
    def open(cls, url: str, sealer: Sealer, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Store:
        """``sqlite:///path/to/outpost.db`` or ``postgresql+psycopg://user@host/db``; ``sealer``
        seals and opens what it keeps sealed (over the controller's master keyring)."""
        return cls(create_store_engine(url, busy_timeout_ms), sealer)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def sealer(self) -> Sealer:
        return self._sealer

    def use_sealer(self, sealer: Sealer) -> None:
        """Seal with ``sealer`` from now on (a master key rotation: one that also opens what the old
        key sealed)."""
        self._sealer = sealer

    def migrate(self) -> None:
        """Bring the schema to the newest revision (alembic upgrade head); a no-op when current."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with write_tx(self._engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            config.attributes["connection"] = conn
            config.attributes["sealer"] = self._sealer  # 0007 seals what earlier revisions kept plain
            alembic_command.upgrade(config, "head")
        if config.attributes.get("sealed_rows"):
            rewrite_after_sealing(self._engine, int(config.attributes["sealed_rows"]))
        logger.info("store schema is at head (%s)", self._engine.dialect.name)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- nodes -------------------------------------------------------------------------------------

    def add_node(self, rec: NodeRecord, certificate: CertificateRecord | None = None) -> None:
        """A node enrolled, with the certificate it was issued (its revocation needs its serial)."""
        check_unique_tag_keys(f"node {rec.node_id}", [t.key for t in rec.tags])
        with write_tx(self._engine) as conn:
            if certificate is not None:
                insert_certificate(conn, certificate)
            try:
                conn.execute(nodes.insert().values(
                    node_id=rec.node_id, facts=codec.encode_facts(rec.facts),
                    activation_id=rec.activation_id, certificate_serial=rec.certificate_serial,
                    registered_at_ms=rec.registered_at_ms, last_seen_at_ms=rec.last_seen_at_ms,
                    ping_status=rec.ping_status.value))
            except IntegrityError as e:
                raise Conflict(f"node {rec.node_id} already exists") from e
            if rec.tags:
                conn.execute(node_tags.insert(), [
                    {"node_id": rec.node_id, "position": i, "key": t.key, "value": t.value}
                    for i, t in enumerate(rec.tags)])

    def mark_all_connection_lost(self) -> int:
        """At controller start no agent is connected yet; returns how many nodes changed."""
        lost = PingStatus.CONNECTION_LOST.value
        with write_tx(self._engine) as conn:
            result = conn.execute(update(nodes).where(nodes.c.ping_status != lost).values(ping_status=lost))
        return int(result.rowcount)

    # -- commands ----------------------------------------------------------------------------------

    def create_command(self, cmd: CommandRecord, document: bytes, invocations: Sequence[InvocationRecord],
                       *, check_nodes: bool = False, audit: Sequence[AuditEntry] = ()) -> None:
        """The command, its document (stored once per sha256) and its invocations, atomically, with
        ``audit`` (the send's record in the audit trail: a command is stored with it or not at all).
        ``check_nodes``: first check that every invocation's node is registered (UnknownNodes), for
        targets that named their nodes outright and were not resolved against the registry."""
        if hashlib.sha256(document).digest() != cmd.document_sha256:
            raise StoreError(f"command {cmd.command_id}: document does not match document_sha256")
        node_ids = [i.node_id for i in invocations]
        if len(set(node_ids)) != len(node_ids):
            raise StoreError(f"command {cmd.command_id}: a node is targeted twice")
        if any(i.command_id != cmd.command_id for i in invocations):
            raise StoreError(f"command {cmd.command_id}: an invocation names another command")
        with write_tx(self._engine) as conn:
            if check_nodes:
                known = {str(n) for part in slices(node_ids)
                         for (n,) in driver.execute(conn, NODES_AMONG, {"ids": part})}
                if len(known) != len(node_ids):
                    raise UnknownNodes(frozenset(node_ids) - known)
            sealed = self._sealer.seal(document, document_place(cmd.document_sha256))
            driver.execute(conn, document_insert(conn.dialect.name), {"sha256": cmd.document_sha256,
                                                                       "content": sealed})
            try:
                driver.execute(conn, COMMAND_INSERT, dict(
                    command_id=cmd.command_id, document_name=cmd.document_name,
                    document_sha256=cmd.document_sha256, targets=codec.encode_targets(cmd.targets),
                    comment=cmd.comment, requested_by=cmd.requested_by, created_at_ms=cmd.created_at_ms,
                    expires_at_ms=cmd.expires_at_ms, status=cmd.status.value,
                    status_detail=cmd.detail.value, target_count=cmd.target_count,
                    completed_count=cmd.completed_count, error_count=cmd.error_count,
                    delivery_timed_out_count=cmd.delivery_timed_out_count, max_concurrency=cmd.max_concurrency,
                    max_errors=cmd.max_errors, document_version=cmd.document_version,
                    parameters=codec.encode_parameters(cmd.parameters), cancel_requested=cmd.cancel_requested))
            except IntegrityError as e:
                raise Conflict(f"command {cmd.command_id} already exists") from e
            notification = notification_values(cmd, self._sealer)
            if notification is not None:
                conn.execute(command_notifications.insert().values(**notification))
            if invocations:
                driver.executemany(conn, INVOCATION_INSERT, [
                    {"command_id": i.command_id, "node_id": i.node_id, "status": i.status.value,
                     "status_detail": i.detail.value, "exit_code": i.exit_code,
                     "started_at_ms": i.started_at_ms, "ended_at_ms": i.ended_at_ms}
                    for i in invocations])
            append_in(conn, audit)
            steps = [step_values(s) for i in invocations for s in i.steps]
            if steps:
                conn.execute(step_results.insert(), steps)

    def get_command(self, command_id: str) -> CommandRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(COMMAND_BY_ID, {"cid": command_id}).mappings().one_or_none()
            if row is None:
                raise NotFound(f"no command {command_id}")
            return self._with_notifications(conn, [command_from_row(row)])[0]

    def list_commands(self, limit: int = 50) -> list[CommandRecord]:
        """Newest first."""
        if limit < 1:
            raise StoreError(f"limit must be positive, got {limit}")
        c = commands.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(commands).order_by(c.created_at_ms.desc(), c.command_id.desc())
                                .limit(limit)).mappings().all()
            return self._with_notifications(conn, [command_from_row(r) for r in rows])

    def get_document(self, sha256: bytes) -> bytes:
        with read_tx(self._engine) as conn:
            content = conn.execute(
                select(documents.c.content).where(documents.c.sha256 == sha256)).scalar_one_or_none()
        if content is None:
            raise NotFound(f"no document {sha256.hex()}")
        return self._sealer.open(content, document_place(sha256))

    def update_command(self, command_id: str, detail: Detail, completed_count: int, error_count: int,
                       delivery_timed_out_count: int = 0) -> None:
        with write_tx(self._engine) as conn:
            result = conn.execute(COMMAND_COUNTERS, counter_params(command_id, detail, completed_count, error_count,
                                                                   delivery_timed_out_count))
            if result.rowcount != 1:
                raise NotFound(f"no command {command_id}")

    def request_cancel(self, command_id: str) -> None:
        with write_tx(self._engine) as conn:
            result = conn.execute(update(commands).where(commands.c.command_id == command_id)
                                  .values(cancel_requested=True))
            if result.rowcount != 1:
                raise NotFound(f"no command {command_id}")

    def active_commands(self) -> list[CommandRecord]:
        """Commands not yet terminal (for a restarted controller to pick up), oldest first."""
        c = commands.c
        open_statuses = [d.status.value for d in Detail if not d.terminal]
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(commands).where(c.status.in_(sorted(set(open_statuses))))
                                .order_by(c.created_at_ms, c.command_id)).mappings().all()
            active = [r for r in (command_from_row(row) for row in rows) if not r.detail.terminal]
            return self._with_notifications(conn, active)

    # -- invocations -------------------------------------------------------------------------------

    def _with_steps(self, conn: Connection, rows: Sequence[RowMapping]) -> list[InvocationRecord]:
        """``rows`` with their steps: for a slice of nodes only theirs, else every step of the commands."""
        if not rows:
            return []
        keys = {(str(r["command_id"]), str(r["node_id"])) for r in rows}
        params: dict[str, list[str]] = {"cids": sorted({k[0] for k in keys})}
        node_ids = {k[1] for k in keys}
        q = STEPS_OF_COMMANDS
        if len(node_ids) <= SLICE:  # a few nodes' invocations: don't read the whole fleet's steps
            q, params["nids"] = STEPS_OF_NODES, sorted(node_ids)
        steps: dict[tuple[str, str], list[StepRecord]] = {}
        for sr in conn.execute(q, params).mappings():
            key = (str(sr["command_id"]), str(sr["node_id"]))
            if key in keys:
                steps.setdefault(key, []).append(step_from_row(sr))
        return [invocation_from_row(r, steps.get((str(r["command_id"]), str(r["node_id"])), []))
                for r in rows]

    def list_invocations(self, command_id: str) -> list[InvocationRecord]:
        """By node_id, steps filled in; [] for an unknown command."""
        with read_tx(self._engine) as conn:
            rows = conn.execute(INVOCATIONS_OF_COMMAND, {"cid": command_id}).mappings().all()
            return self._with_steps(conn, rows)

    def invocation_page(self, command_id: str, after: str, limit: int) -> InvocationPage:
        """At most ``limit`` of the command's invocations whose node ids come after ``after``, by node
        id, steps filled in, with their output previews: one read transaction."""
        with read_tx(self._engine) as conn:
            invs = _invocations_after(conn, command_id, after, limit)
            views = output_views_in(conn, self._sealer, command_id, (after, invs[-1].node_id)) if invs else {}
        return InvocationPage(tuple(invs), views)

    def replay_page(self, command_id: str, after: str, limit: int) -> ReplayPage:
        """``invocation_page``'s invocations with their stored output (``output_chunks``) instead of
        previews: one read transaction."""
        with read_tx(self._engine) as conn:
            invs = _invocations_after(conn, command_id, after, limit)
            output = chunks_of_command(conn, self._sealer, command_id, (after, invs[-1].node_id)) if invs else []
        return ReplayPage(tuple(invs), tuple(output))

    def get_invocations(self, command_id: str, node_ids: Sequence[str]) -> list[InvocationRecord]:
        """These nodes' invocations of one command (those that exist), steps filled in, by node id."""
        i = invocations_t.c
        out: list[InvocationRecord] = []
        with read_tx(self._engine) as conn:
            for part in slices(node_ids):
                rows = conn.execute(select(invocations_t).where(i.command_id == command_id, i.node_id.in_(part))
                                    .order_by(i.node_id)).mappings().all()
                out += self._with_steps(conn, rows)
        return sorted(out, key=lambda inv: inv.node_id)

    def get_invocation(self, command_id: str, node_id: str) -> InvocationRecord:
        i = invocations_t.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(invocations_t).where(
                i.command_id == command_id, i.node_id == node_id)).mappings().all()
            found = self._with_steps(conn, rows)
        if not found:
            raise NotFound(f"no invocation of command {command_id} on node {node_id}")
        return found[0]

    def undelivered_invocations(self, node_id: str, now_ms: int) -> list[InvocationRecord]:
        """The node's invocations that were dispatched but not yet accepted by its agent (Delayed, or
        InProgress without a start), of commands still deliverable, oldest command first."""
        i, c = invocations_t.c, commands.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(invocations_t)
                .join(commands, c.command_id == i.command_id)
                .where(i.node_id == node_id, c.expires_at_ms > now_ms,
                       or_(i.status_detail == Detail.DELAYED.value,
                           and_(i.status_detail == Detail.IN_PROGRESS.value, i.started_at_ms == 0)))
                .order_by(c.created_at_ms, c.command_id)).mappings().all()
            return self._with_steps(conn, rows)

    def expire_undelivered(self, now_ms: int) -> list[tuple[str, str]]:
        """Invocations not accepted by an agent before their command's delivery deadline (Pending,
        Delayed, or InProgress without a start) become DeliveryTimedOut; returns (command, node) ids."""
        i, c = invocations_t.c, commands.c
        still_open = sorted({d.status.value for d in Detail if not d.terminal})  # ended ones have nothing waiting
        overdue = select(c.command_id).where(c.expires_at_ms <= now_ms, c.status.in_(still_open)).scalar_subquery()
        waiting = or_(i.status_detail.in_([Detail.PENDING.value, Detail.DELAYED.value]),
                      and_(i.status_detail == Detail.IN_PROGRESS.value, i.started_at_ms == 0))
        timed_out = Detail.DELIVERY_TIMED_OUT
        stmt = (update(invocations_t)
                .where(waiting, i.command_id.in_(overdue))
                .values(status=timed_out.status.value, status_detail=timed_out.value, ended_at_ms=now_ms)
                .returning(i.command_id, i.node_id))
        with write_tx(self._engine) as conn:
            return [(str(cid), str(nid)) for cid, nid in conn.execute(stmt)]

    def node_invocations(self, node_id: str, details: Sequence[Detail]) -> list[InvocationRecord]:
        """The node's invocations in any of ``details`` (without steps), oldest command first."""
        i, c = invocations_t.c, commands.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(invocations_t).join(commands, c.command_id == i.command_id)
                .where(i.node_id == node_id, i.status_detail.in_([d.value for d in details]))
                .order_by(c.created_at_ms, c.command_id)).mappings().all()
        return [invocation_from_row(r, ()) for r in rows]

    def update_invocation(self, command_id: str, node_id: str, detail: Detail, *,
                          exit_code: int | None = None, started_at_ms: int | None = None,
                          ended_at_ms: int | None = None) -> bool:
        """Apply the change if the state machine allows it (a repeated detail is allowed and updates
        the other fields); False, with nothing changed, if not. NotFound if there is no such row."""
        i = invocations_t.c
        where = and_(i.command_id == command_id, i.node_id == node_id)
        with write_tx(self._engine) as conn:
            current_value = conn.execute(
                select(i.status_detail).where(where).with_for_update()).scalar_one_or_none()
            if current_value is None:
                raise NotFound(f"no invocation of command {command_id} on node {node_id}")
            current = row_detail(current_value)
            if not can_transition(current, detail):
                logger.debug("invocation %s/%s: %s -> %s refused", command_id, node_id,
                             current.value, detail.value)
                return False
            values: dict[str, str | int] = {"status": detail.status.value, "status_detail": detail.value}
            if exit_code is not None:
                values["exit_code"] = exit_code
            if started_at_ms is not None:
                values["started_at_ms"] = started_at_ms
            if ended_at_ms is not None:
                values["ended_at_ms"] = ended_at_ms
            conn.execute(update(invocations_t).where(where, i.status_detail == current.value).values(values))
        return True
