"""Who may do what: operators, the certificates the controller issued (by serial: its revocation
list), policies as their authors wrote them, and which operator holds which. What a policy means
is controller/trust/policy.py's; the store keeps its text only."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, RowMapping, delete, select, update
from sqlalchemy.exc import IntegrityError

from controller.store.engine import read_tx, write_tx
from controller.store.errors import Conflict, InUse, NotFound, StoreError
from controller.store.schema import certificates, operators, policies, policy_attachments

ADMINISTRATOR_ACCESS = "AdministratorAccess"  # the built-in policy's row (migration 0005)


@dataclass(frozen=True)
class OperatorRecord:
    name: str
    created_at_ms: int
    created_by: str
    revoked_at_ms: int | None
    policies: tuple[str, ...]  # attached, by name


@dataclass(frozen=True)
class CertificateRecord:
    serial: str  # lower-case hex
    role: str  # plugins.sdk.wire.identity.Role's value
    subject: str  # the operator's name or the node's id
    issued_at_ms: int
    not_after_ms: int
    revoked_at_ms: int | None


@dataclass(frozen=True)
class PolicyRecord:
    name: str
    document: str  # as written
    builtin: bool
    created_at_ms: int
    updated_at_ms: int
    created_by: str
    attached_to: tuple[str, ...]  # operators, by name


def _opt(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _certificate(r: RowMapping) -> CertificateRecord:
    return CertificateRecord(str(r["serial"]), str(r["role"]), str(r["subject"]), int(r["issued_at_ms"]),
                             int(r["not_after_ms"]), _opt(r["revoked_at_ms"]))


def _attached(conn: Connection, *, operator: str | None = None, policy: str | None = None) -> tuple[str, ...]:
    a = policy_attachments.c
    if operator is not None:
        q = select(a.policy).where(a.operator == operator).order_by(a.attached_at_ms, a.policy)
    else:
        q = select(a.operator).where(a.policy == policy).order_by(a.operator)
    return tuple(str(v) for v in conn.execute(q).scalars())


def insert_certificate(conn: Connection, rec: CertificateRecord) -> None:
    """Record an issued certificate inside the caller's transaction."""
    try:
        conn.execute(certificates.insert().values(
            serial=rec.serial, role=rec.role, subject=rec.subject, issued_at_ms=rec.issued_at_ms,
            not_after_ms=rec.not_after_ms, revoked_at_ms=rec.revoked_at_ms))
    except IntegrityError as e:
        raise Conflict(f"certificate {rec.serial} already recorded") from e


class AccessTables:
    """Mixed into Store: operators, certificates, policies and attachments."""

    _engine: Engine

    # ------------------------------------------------------------------ operators

    def create_operator(self, name: str, created_by: str, at_ms: int, policy_names: Sequence[str] = ()) -> None:
        """A new operator holding ``policy_names`` (each must exist); Conflict if the name is taken,
        also by a revoked operator (a name is never reused: the audit trail names operators by it)."""
        with write_tx(self._engine) as conn:
            try:
                conn.execute(operators.insert().values(name=name, created_at_ms=at_ms, created_by=created_by))
            except IntegrityError as e:
                raise Conflict(f"operator {name} already exists") from e
            for policy in dict.fromkeys(policy_names):
                self._attach(conn, policy, name, at_ms)

    def get_operator(self, name: str) -> OperatorRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(operators).where(operators.c.name == name)).mappings().one_or_none()
            if row is None:
                raise NotFound(f"no operator {name}")
            return OperatorRecord(str(row["name"]), int(row["created_at_ms"]), str(row["created_by"]),
                                  _opt(row["revoked_at_ms"]), _attached(conn, operator=name))

    def list_operators(self) -> list[OperatorRecord]:
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(operators).order_by(operators.c.name)).mappings().all()
            held: dict[str, list[str]] = {}
            a = policy_attachments.c
            for op_name, policy in conn.execute(select(a.operator, a.policy).order_by(a.attached_at_ms, a.policy)):
                held.setdefault(str(op_name), []).append(str(policy))
        return [OperatorRecord(str(r["name"]), int(r["created_at_ms"]), str(r["created_by"]), _opt(r["revoked_at_ms"]),
                               tuple(held.get(str(r["name"]), ()))) for r in rows]

    def revoke_operator(self, name: str, at_ms: int) -> list[str]:
        """Revoke the operator and every certificate it holds; the serials revoked now."""
        o = operators.c
        with write_tx(self._engine) as conn:
            if conn.execute(select(o.name).where(o.name == name)).one_or_none() is None:
                raise NotFound(f"no operator {name}")
            conn.execute(update(operators).where(o.name == name, o.revoked_at_ms.is_(None)).values(revoked_at_ms=at_ms))
            return self._revoke_subject(conn, "operator", name, at_ms)

    # ------------------------------------------------------------------ certificates

    def record_certificate(self, rec: CertificateRecord) -> None:
        with write_tx(self._engine) as conn:
            insert_certificate(conn, rec)

    def certificates_of(self, role: str, subject: str) -> list[CertificateRecord]:
        c = certificates.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(certificates).where(c.role == role, c.subject == subject)
                                .order_by(c.issued_at_ms, c.serial)).mappings().all()
        return [_certificate(r) for r in rows]

    def revoked_serials(self) -> frozenset[str]:
        """Every revoked serial still unexpired or not (the denylist; a few per revocation)."""
        c = certificates.c
        with read_tx(self._engine) as conn:
            revoked = conn.execute(select(c.serial).where(c.revoked_at_ms.is_not(None))).scalars()
            return frozenset(str(s) for s in revoked)

    def revoke_certificates(self, role: str, subject: str, at_ms: int) -> list[str]:
        with write_tx(self._engine) as conn:
            return self._revoke_subject(conn, role, subject, at_ms)

    @staticmethod
    def _revoke_subject(conn: Connection, role: str, subject: str, at_ms: int) -> list[str]:
        c = certificates.c
        serials = [str(s) for s in conn.execute(select(c.serial).where(
            c.role == role, c.subject == subject, c.revoked_at_ms.is_(None))).scalars()]
        if serials:
            conn.execute(update(certificates).where(c.serial.in_(serials)).values(revoked_at_ms=at_ms))
        return serials

    # ------------------------------------------------------------------ policies

    def create_policy(self, name: str, document: str, created_by: str, at_ms: int) -> None:
        with write_tx(self._engine) as conn:
            try:
                conn.execute(policies.insert().values(name=name, document=document, builtin=False, created_at_ms=at_ms,
                                                      updated_at_ms=at_ms, created_by=created_by))
            except IntegrityError as e:
                raise Conflict(f"policy {name} already exists") from e

    def update_policy(self, name: str, document: str, at_ms: int) -> None:
        p = policies.c
        with write_tx(self._engine) as conn:
            self._changeable(conn, name)
            conn.execute(update(policies).where(p.name == name).values(document=document, updated_at_ms=at_ms))

    def get_policy(self, name: str) -> PolicyRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(policies).where(policies.c.name == name)).mappings().one_or_none()
            if row is None:
                raise NotFound(f"no policy {name}")
            return self._policy(row, _attached(conn, policy=name))

    def list_policies(self) -> list[PolicyRecord]:
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(policies).order_by(policies.c.builtin.desc(), policies.c.name)).mappings().all()
            return [self._policy(r, _attached(conn, policy=str(r["name"]))) for r in rows]

    def delete_policy(self, name: str) -> None:
        """Refused while the policy is attached (as IAM's DeleteConflict), and for a built-in one."""
        with write_tx(self._engine) as conn:
            self._changeable(conn, name)
            holders = _attached(conn, policy=name)
            if holders:
                raise InUse(f"policy {name} is attached to {', '.join(holders)}; detach it first")
            conn.execute(delete(policies).where(policies.c.name == name))

    def attach_policy(self, policy: str, operator: str, at_ms: int) -> bool:
        """Whether it was attached now (False: it was already)."""
        with write_tx(self._engine) as conn:
            return self._attach(conn, policy, operator, at_ms)

    def detach_policy(self, policy: str, operator: str) -> None:
        a = policy_attachments.c
        with write_tx(self._engine) as conn:
            result = conn.execute(delete(policy_attachments).where(a.policy == policy, a.operator == operator))
            if result.rowcount != 1:
                raise NotFound(f"policy {policy} is not attached to operator {operator}")

    def policies_of(self, operator: str) -> list[tuple[str, str]]:
        """The (name, document) of each policy attached to ``operator``, in the order attached."""
        p, a = policies.c, policy_attachments.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(p.name, p.document).join(policy_attachments, a.policy == p.name)
                                .where(a.operator == operator).order_by(a.attached_at_ms, p.name)).all()
        return [(str(n), str(d)) for n, d in rows]

    @staticmethod
    def _policy(row: RowMapping, attached_to: tuple[str, ...]) -> PolicyRecord:
        return PolicyRecord(str(row["name"]), str(row["document"]), bool(row["builtin"]), int(row["created_at_ms"]),
                            int(row["updated_at_ms"]), str(row["created_by"]), attached_to)

    @staticmethod
    def _changeable(conn: Connection, name: str) -> None:
        builtin = conn.execute(select(policies.c.builtin).where(policies.c.name == name)).scalar_one_or_none()
        if builtin is None:
            raise NotFound(f"no policy {name}")
        if builtin:
            raise StoreError(f"policy {name} is built in and cannot change; create a policy of your own")

    @staticmethod
    def _attach(conn: Connection, policy: str, operator: str, at_ms: int) -> bool:
        a = policy_attachments.c
        if conn.execute(select(policies.c.name).where(policies.c.name == policy)).one_or_none() is None:
            raise NotFound(f"no policy {policy}")
        if conn.execute(select(operators.c.name).where(operators.c.name == operator)).one_or_none() is None:
            raise NotFound(f"no operator {operator}")
        if conn.execute(select(a.policy).where(a.policy == policy, a.operator == operator)).one_or_none() is not None:
            return False
        conn.execute(policy_attachments.insert().values(policy=policy, operator=operator, attached_at_ms=at_ms))
        return True
