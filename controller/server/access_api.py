"""AdminService's calls on access: operators and their certificates, policies and their
attachments, and the policy simulator. Mixed into AdminService, whose ``_operator`` admits each
call (controller/server/access_gate.py) before it reads the request.

An operator's key never reaches the controller: the CLI sends a CSR and gets back a certificate
for the name the request gives (at most ``MAX_OPERATOR_DAYS``). Policies are stored as written and
parsed when stored, so a policy the controller would not understand is refused then, in one line.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message

from controller.dispatch.dispatcher import Dispatcher
from controller.dispatch.request import CommandRejected
from controller.events.bus import iso_utc_ms
from controller.server.access_gate import AccessGate, source_ip
from controller.server.call_audit import Caller
from controller.server.permissions import document_ref
from controller.store import NotFound, Store
from controller.store.access import CertificateRecord, OperatorRecord, PolicyRecord
from controller.store.db import Db
from controller.store.errors import Conflict, InUse, StoreError
from controller.trust.pki import CertificateAuthority, IssuedCertificate
from controller.trust.policy import Action, parse_policy
from controller.trust.policy_eval import Decision, ResourceRef, explain
from controller.wire import targets_from_pb
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import IdentityError, InputError
from plugins.sdk.host.clock import now_ms
from plugins.sdk.limits import shown
from plugins.sdk.wire.identity import Role, operator_identity

log = logging.getLogger(__name__)

DEFAULT_OPERATOR_DAYS = 30
MAX_OPERATOR_DAYS = 365
MAX_POLICIES_PER_OPERATOR = 20  # IAM's default quota of managed policies per user is 10; 20 here
MAX_NAME = 64
POLICY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class AccessSetup:
    ca: CertificateAuthority
    gate: AccessGate


def _operator_pb(rec: OperatorRecord, certs: Sequence[CertificateRecord] = ()) -> pb.Operator:
    return pb.Operator(name=rec.name, created_at_ms=rec.created_at_ms, created_by=rec.created_by,
                       revoked_at_ms=rec.revoked_at_ms or 0, policies=list(rec.policies),
                       certificates=[pb.Certificate(serial=c.serial, issued_at_ms=c.issued_at_ms,
                                                    not_after_ms=c.not_after_ms, revoked_at_ms=c.revoked_at_ms or 0)
                                     for c in certs])


def _policy_pb(rec: PolicyRecord) -> pb.Policy:
    return pb.Policy(name=rec.name, document=rec.document, builtin=rec.builtin, created_at_ms=rec.created_at_ms,
                     updated_at_ms=rec.updated_at_ms, created_by=rec.created_by, attached_to=list(rec.attached_to))


def _issue_and_record(store: Store, ca: CertificateAuthority, name: str, csr_pem: bytes, days: int,
                      create_by: str | None, policies: Sequence[str]) -> tuple[OperatorRecord, IssuedCertificate]:
    """One database job: the operator (created, when ``create_by``) and its new certificate, recorded
    before it is handed out (a certificate the store does not know could never be revoked)."""
    issued = ca.sign_operator_csr(csr_pem, name, days)
    at = now_ms()
    if create_by is not None:
        store.create_operator(name, create_by, at, policies)
    rec = store.get_operator(name)
    if rec.revoked_at_ms is not None:
        raise StoreError(f"operator {name} is revoked; a revoked operator gets no certificate")
    store.record_certificate(CertificateRecord(issued.serial, Role.OPERATOR.value, name, at, issued.not_after_ms, None))
    return rec, issued


def _issued(issued: IssuedCertificate, policies: Sequence[str]) -> str:
    held = f"; holds {', '.join(policies)}" if policies else ""
    return f"certificate {issued.serial} issued, valid until {iso_utc_ms(issued.not_after_ms)}{held}"


class AccessApi:
    """Mixed into AdminService, which has these:"""
    _db: Db
    _access: AccessSetup
    _dispatcher: Dispatcher
    _operator: Callable[[grpc.aio.ServicerContext, str, Message], Awaitable[str]]  # admits the call

    async def _fail(self, context: grpc.aio.ServicerContext, exc: Exception) -> None:
        code = {NotFound: grpc.StatusCode.NOT_FOUND, Conflict: grpc.StatusCode.ALREADY_EXISTS,
                InUse: grpc.StatusCode.FAILED_PRECONDITION}.get(type(exc), grpc.StatusCode.INVALID_ARGUMENT)
        await context.abort(code, str(exc))

    async def _days(self, context: grpc.aio.ServicerContext, valid_days: int) -> int:
        days = valid_days or DEFAULT_OPERATOR_DAYS
        if not 1 <= days <= MAX_OPERATOR_DAYS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"valid_days: must be 1..{MAX_OPERATOR_DAYS}, got {days}")
        return days

    async def CreateOperator(self, request, context):  # noqa: N802
        who = await self._operator(context, "CreateOperator", request)
        days = await self._days(context, request.valid_days)
        if len(request.policies) > MAX_POLICIES_PER_OPERATOR:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"policies: at most {MAX_POLICIES_PER_OPERATOR}, got {len(request.policies)}")
        try:
            if len(request.name) > MAX_NAME:
                raise InputError("name", f"at most {MAX_NAME} characters, got {len(request.name)}")
            operator_identity(request.name)  # the name's rules: IdentityError
            rec, issued = await self._db.run(_issue_and_record, self._db.store, self._access.ca, request.name,
                                             request.csr_pem, days, who, tuple(request.policies))
        except (IdentityError, InputError, StoreError) as exc:
            await self._fail(context, exc)
            raise AssertionError("abort raises") from None
        self._access.gate.audit.annotate(context, detail=_issued(issued, rec.policies))
        log.info("operator %s created operator %s (policies: %s; certificate %s until %d)", who, rec.name,
                 ", ".join(rec.policies) or "none", issued.serial, issued.not_after_ms)
        return pb.CreateOperatorResponse(operator=_operator_pb(rec), certificate_pem=issued.cert_pem,
                                         ca_pem=self._access.ca.cert_pem)

    async def RenewOperator(self, request, context):  # noqa: N802
        who = await self._operator(context, "RenewOperator", request)
        days = await self._days(context, request.valid_days)
        name = request.name or who
        try:
            rec, issued = await self._db.run(_issue_and_record, self._db.store, self._access.ca, name,
                                             request.csr_pem, days, None, ())
        except (IdentityError, StoreError) as exc:
            await self._fail(context, exc)
            raise AssertionError("abort raises") from None
        self._access.gate.audit.annotate(context, detail=_issued(issued, ()))
        log.info("operator %s renewed operator %s: certificate %s until %d", who, name, issued.serial,
                 issued.not_after_ms)
        return pb.RenewOperatorResponse(operator=_operator_pb(rec), certificate_pem=issued.cert_pem,
                                        ca_pem=self._access.ca.cert_pem)

    async def ListOperators(self, request, context):  # noqa: N802
        await self._operator(context, "ListOperators", request)
        return pb.ListOperatorsResponse(operators=[_operator_pb(r) for r in
                                                   await self._db.run(self._db.store.list_operators)])

    async def GetOperator(self, request, context):  # noqa: N802
        await self._operator(context, "GetOperator", request)
        try:
            rec = await self._db.run(self._db.store.get_operator, request.name)
        except NotFound as exc:
            await self._fail(context, exc)
        certs = await self._db.run(self._db.store.certificates_of, Role.OPERATOR.value, request.name)
        return pb.GetOperatorResponse(operator=_operator_pb(rec, certs))

    async def RevokeOperator(self, request, context):  # noqa: N802
        who = await self._operator(context, "RevokeOperator", request)
        try:
            serials = await self._db.run(self._db.store.revoke_operator, request.name, now_ms())
            rec = await self._db.run(self._db.store.get_operator, request.name)
        except NotFound as exc:
            await self._fail(context, exc)
        self._access.gate.revoked(request.name, serials)
        self._access.gate.audit.annotate(context, detail=f"certificate(s) revoked: {', '.join(serials) or 'none'}")
        log.warning("operator %s revoked operator %s (%d certificate(s))", who, request.name, len(serials))
        return pb.RevokeOperatorResponse(operator=_operator_pb(rec), serials=serials)

    async def PutPolicy(self, request, context):  # noqa: N802
        who = await self._operator(context, "PutPolicy", request)
        try:
            if not POLICY_NAME.fullmatch(request.name):
                raise InputError("name", f"a policy name is 1 to {MAX_NAME} letters, digits, '-' or '_', got "
                                 f"{shown(request.name)}")
            parse_policy(request.document)  # what could not be enforced is never stored
            store = self._db.store
            if request.create:
                await self._db.run(store.create_policy, request.name, request.document, who, now_ms())
            else:
                await self._db.run(store.update_policy, request.name, request.document, now_ms())
            rec = await self._db.run(store.get_policy, request.name)
        except (InputError, StoreError) as exc:
            await self._fail(context, exc)
            raise AssertionError("abort raises") from None
        self._access.gate.policies_changed()
        log.info("operator %s %s policy %s", who, "created" if request.create else "updated", request.name)
        return pb.PutPolicyResponse(policy=_policy_pb(rec))

    async def ListPolicies(self, request, context):  # noqa: N802
        await self._operator(context, "ListPolicies", request)
        return pb.ListPoliciesResponse(policies=[_policy_pb(r) for r in
                                                 await self._db.run(self._db.store.list_policies)])

    async def GetPolicy(self, request, context):  # noqa: N802
        await self._operator(context, "GetPolicy", request)
        try:
            return pb.GetPolicyResponse(policy=_policy_pb(await self._db.run(self._db.store.get_policy,
                                                                             request.name)))
        except NotFound as exc:
            await self._fail(context, exc)

    async def DeletePolicy(self, request, context):  # noqa: N802
        who = await self._operator(context, "DeletePolicy", request)
        try:
            await self._db.run(self._db.store.delete_policy, request.name)
        except StoreError as exc:
            await self._fail(context, exc)
        log.info("operator %s deleted policy %s", who, request.name)
        return pb.DeletePolicyResponse()

    async def AttachPolicy(self, request, context):  # noqa: N802
        who = await self._operator(context, "AttachPolicy", request)
        store = self._db.store
        try:
            if request.detach:
                await self._db.run(store.detach_policy, request.policy, request.operator)
            else:
                held = await self._db.run(store.get_operator, request.operator)
                if len(held.policies) >= MAX_POLICIES_PER_OPERATOR and request.policy not in held.policies:
                    raise StoreError(f"operator {request.operator} holds {len(held.policies)} policies, the most "
                                     "one may hold")
                await self._db.run(store.attach_policy, request.policy, request.operator, now_ms())
            rec = await self._db.run(store.get_operator, request.operator)
        except StoreError as exc:
            await self._fail(context, exc)
            raise AssertionError("abort raises") from None
        self._access.gate.policies_changed(request.operator)
        log.info("operator %s %s policy %s %s operator %s", who, "detached" if request.detach else "attached",
                 request.policy, "from" if request.detach else "to", request.operator)
        return pb.AttachPolicyResponse(operator=_operator_pb(rec))

    async def SimulatePolicy(self, request, context):  # noqa: N802
        """What the policies of ``request.operator`` decide on an action: each resource's decision and
        the statement that made it (IAM's policy simulator). Nothing is done."""
        await self._operator(context, "SimulatePolicy", request)
        try:
            action = Action(next((a.value for a in Action if a.value.lower() == request.action.lower()),
                                 request.action))
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"action: unknown action {request.action!r} "
                                f"(known: {', '.join(a.value for a in Action)})")
            raise AssertionError("abort raises") from None
        resources: list[ResourceRef] = []
        if request.document:
            resources.append(document_ref(request.document))
        try:
            if request.HasField("targets"):
                for node_id in await self._dispatcher.resolve(targets_from_pb(request.targets)):
                    resources.append(ResourceRef.node(node_id))
            for name in request.resources:
                kind, _, rest = name.partition("/")
                resources.append(document_ref(rest) if kind == "document" else ResourceRef(name))
            evaluation = await self._access.gate.simulate(
                Caller(request.operator, request.source_ip or source_ip(context.peer())), action, tuple(resources))
        except (CommandRejected, InputError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise AssertionError("abort raises") from None
        except NotFound as exc:
            await self._fail(context, exc)
            raise AssertionError("abort raises") from None
        return pb.SimulatePolicyResponse(
            decision=evaluation.decision.value, explanation=explain(evaluation) or evaluation.decision.value,
            resources=[pb.ResourceDecision(resource=r.resource, decision=r.decision.value,
                                           statement=str(r.statement) if r.statement else "")
                       for r in evaluation.resources if r.decision is not Decision.ALLOWED or r.statement])
