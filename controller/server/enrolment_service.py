"""The enrolment listener's one call, Enroll: an activation id and code, facts and a CSR in, a node
certificate out. It is the one call anyone may make without a certificate, so it is guarded before
it reads anything:

- a message is at most ``MAX_MESSAGE_BYTES`` (the listener's receive limit, controller/runtime/serve.py);
- each source address may fail ``BURST`` attempts at once and ``RATE_PER_SECOND`` a second after
  that (controller/server/rate_limit.py); past that every attempt of it is refused
  RESOURCE_EXHAUSTED before anything is read, counted, logged once a minute. Attempts that succeed
  cost nothing (a swarm enrols 10,000 agents from one address);
- an activation id that is not one (a UUID's characters, at most 64), a code or CSR past its bound,
  is refused by its shape, before the database is asked;
- a refusal is recorded (the audit trail, the enrolment failures) with the id only when it is an
  activation id's shape, never the raw value; the failures table keeps the newest
  ``MAX_FAILURES_KEPT``.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import NoReturn

import grpc

from controller.fleet.facts import kept_facts
from controller.model import NODE_CERTIFICATE_SECONDS, AuditEntry, AuditOutcome, EnrolmentFailure, NodeRecord
from controller.server.access_gate import source_ip
from controller.server.rate_limit import RateLimiter
from controller.store import ActivationRefused, NotFound
from controller.store.access import CertificateRecord
from controller.store.db import Db
from controller.trust.audit_trail import AuditTrail, AuditUnavailable
from controller.trust.pki import CertificateAuthority
from controller.trust.signing import CommandSigner
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg
from plugins.sdk.errors import IdentityError
from plugins.sdk.host.clock import now_ms
from plugins.sdk.wire import convert as wire
from plugins.sdk.wire.convert import WireError
from plugins.sdk.wire.identity import Role, new_node_id

log = logging.getLogger(__name__)

ENROL = "node:Enrol"  # the audit trail's action for an enrolment attempt
ACTIVATION_ID = re.compile(r"[0-9a-fA-F-]{1,64}")
MAX_CODE_CHARS = 256
MAX_CSR_BYTES = 16 * 1024
MAX_MESSAGE_BYTES = 256 * 1024  # a CSR, a code and facts (256 plugins at their bounds fit)
RATE_PER_SECOND = 1.0  # failed attempts an address may make a second, once its burst is spent
BURST = 20
MAX_FAILURES_KEPT = 10_000


def hash_activation_code(activation_id: str, code: str) -> bytes:
    """Codes carry >= 128 random bits, so a keyed SHA-256 is enough (no password stretching needed)."""
    return hashlib.sha256(f"outpost-activation:{activation_id}:{code}".encode()).digest()


def shown_activation(activation_id: str) -> str:
    """What a log, the trail or the failures table may hold of a claimed activation id."""
    if ACTIVATION_ID.fullmatch(activation_id):
        return activation_id
    return f"(not an activation id: {len(activation_id)} characters)"


def _address(context: grpc.aio.ServicerContext) -> str:
    """The caller's address (the peer string when it has none): what the rate is counted by."""
    return source_ip(context.peer()) or context.peer()


class EnrolmentService(pbg.AgentServiceServicer):
    """Served on the enrolment listener only: Enroll, nothing else."""

    def __init__(self, db: Db, ca: CertificateAuthority, signer: CommandSigner, trail: AuditTrail,
                 limiter: RateLimiter | None = None, node_certificate_seconds: int = NODE_CERTIFICATE_SECONDS) -> None:
        self._db = db
        self._lifetime = node_certificate_seconds
        self._ca = ca
        self._signer = signer
        self._trail = trail
        self._limiter = limiter or RateLimiter(RATE_PER_SECOND, BURST)

    def _audit(self, context: grpc.aio.ServicerContext, activation_id: str, outcome: AuditOutcome,
               detail: str, actor: str = "anonymous") -> AuditEntry:
        return AuditEntry.event(now_ms(), actor, source_ip(context.peer()) or "", ENROL, outcome,
                              f"activation/{shown_activation(activation_id)}", detail)

    async def _refuse(self, context: grpc.aio.ServicerContext, activation_id: str, reason: str, message: str,
                      code: grpc.StatusCode = grpc.StatusCode.PERMISSION_DENIED) -> NoReturn:
        shown = shown_activation(activation_id)
        self._limiter.charge(_address(context))
        log.warning("enrolment refused for activation %s from %s: %s", shown, context.peer(), reason)
        self._trail.submit(self._audit(context, activation_id, AuditOutcome.DENIED, reason))
        await self._db.run(self._db.store.record_enrolment_failure,
                           EnrolmentFailure(shown, reason, context.peer(), now_ms()), MAX_FAILURES_KEPT)
        await context.abort(code, message)
        raise AssertionError("abort raises")

    async def _admit(self, request: pb.EnrollRequest, context: grpc.aio.ServicerContext) -> None:
        """Refuse what is refused by its source's rate or its own shape, before anything is looked up."""
        address = _address(context)
        wait = self._limiter.wait(address)
        if wait > 0:
            if self._limiter.should_log(address):
                log.warning("failed enrolment attempts from %s past %d, then %.0f a second: refused (%d so far)",
                            address, BURST, RATE_PER_SECOND, self._limiter.refused(address))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"too many failed enrolment attempts from "
                                f"{address}; try again in {max(1, round(wait))} s")
        aid = request.activation_id
        if not ACTIVATION_ID.fullmatch(aid):
            await self._refuse(context, aid, "malformed_activation",
                               f"activation id: not an activation id ({len(aid)} characters)",
                               grpc.StatusCode.INVALID_ARGUMENT)
        if len(request.activation_code) > MAX_CODE_CHARS:
            await self._refuse(context, aid, "malformed_code", f"activation code: at most {MAX_CODE_CHARS} "
                               f"characters, got {len(request.activation_code)}", grpc.StatusCode.INVALID_ARGUMENT)
        if len(request.csr_pem) > MAX_CSR_BYTES:
            await self._refuse(context, aid, "bad_csr", f"csr: at most {MAX_CSR_BYTES} bytes, got "
                               f"{len(request.csr_pem)}", grpc.StatusCode.INVALID_ARGUMENT)

    async def Enroll(self, request: pb.EnrollRequest, context: grpc.aio.ServicerContext) -> pb.EnrollResponse:
        await self._admit(request, context)
        store = self._db.store
        aid = request.activation_id
        try:
            activation = await self._db.run(store.get_activation, aid)
        except NotFound:
            await self._refuse(context, aid, "unknown_activation", f"activation {aid!r} does not exist")
        if not hmac.compare_digest(hash_activation_code(aid, request.activation_code), activation.code_hash):
            await self._refuse(context, aid, "wrong_code", f"wrong activation code for activation {aid}")
        try:
            facts = kept_facts(wire.facts_from_pb(request.facts))
        except WireError as exc:
            await self._refuse(context, aid, "bad_facts", f"facts: {exc}", grpc.StatusCode.INVALID_ARGUMENT)
        node_id = new_node_id()
        try:
            issued = self._ca.sign_node_csr(request.csr_pem, node_id, self._lifetime)
        except IdentityError as exc:
            await self._refuse(context, aid, "bad_csr", f"csr: {exc}", grpc.StatusCode.INVALID_ARGUMENT)
        try:
            activation = await self._db.run(store.consume_activation, aid, now_ms())
        except ActivationRefused as exc:
            text = {"expired": f"activation {aid} has expired",
                    "exhausted": f"activation {aid} has reached its registration limit"}.get(
                exc.reason, f"activation {aid} refused: {exc.reason}")
            await self._refuse(context, aid, exc.reason, text)
        at = now_ms()
        await self._db.run(store.add_node, NodeRecord(node_id, facts, activation.tags, aid, issued.serial, at, at),
                           CertificateRecord(issued.serial, Role.NODE.value, node_id, at, issued.not_after_ms, None))
        try:  # the certificate goes out only once its issue is on record
            await self._trail.record(self._audit(context, aid, AuditOutcome.SUCCEEDED,
                                                 f"certificate {issued.serial} issued", actor=f"node/{node_id}"))
        except AuditUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{exc}; try again")
        log.info("enrolled node %s (%s) with activation %s", node_id, facts.hostname, aid)
        return pb.EnrollResponse(node_id=node_id, certificate_pem=issued.cert_pem, ca_bundle_pem=self._ca.cert_pem,
                                 signing_public_key=self._signer.public_key_raw(), signing_key_id=self._signer.key_id)

    async def Connect(self, request_iterator, context):  # noqa: N802 - gRPC's name
        await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                            "Connect is served on the mutual-TLS listener, not the enrolment one")
