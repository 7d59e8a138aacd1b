"""Activations (SSM's hybrid activations: a code and a registration limit that enrol nodes) and the
enrolments they refused."""
from __future__ import annotations

import logging

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError

from controller.model import ActivationRecord, EnrolmentFailure
from controller.store import codec
from controller.store.engine import read_tx, write_tx
from controller.store.errors import ActivationRefused, Conflict, NotFound
from controller.store.nodetags import check_unique_tag_keys
from controller.store.rows import activation_from_row
from controller.store.schema import activations, enrolment_failures

logger = logging.getLogger(__name__)


class ActivationTables:
    """Mixed into Store: activations and refused enrolments."""

    _engine: Engine

    def create_activation(self, rec: ActivationRecord) -> None:
        check_unique_tag_keys(f"activation {rec.activation_id}", [t.key for t in rec.tags])  # they become node tags
        with write_tx(self._engine) as conn:
            try:
                conn.execute(activations.insert().values(
                    activation_id=rec.activation_id, code_hash=rec.code_hash,
                    tags=codec.encode_tags(rec.tags), registration_limit=rec.registration_limit,
                    registrations_count=rec.registrations_count, created_at_ms=rec.created_at_ms,
                    expires_at_ms=rec.expires_at_ms, description=rec.description))
            except IntegrityError as e:
                raise Conflict(f"activation {rec.activation_id} already exists") from e

    def get_activation(self, activation_id: str) -> ActivationRecord:
        with read_tx(self._engine) as conn:
            row = conn.execute(
                select(activations).where(activations.c.activation_id == activation_id)
            ).mappings().one_or_none()
        if row is None:
            raise NotFound(f"no activation {activation_id}")
        return activation_from_row(row)

    def list_activations(self) -> list[ActivationRecord]:
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(activations).order_by(
                activations.c.created_at_ms, activations.c.activation_id)).mappings().all()
        return [activation_from_row(r) for r in rows]

    def delete_activation(self, activation_id: str) -> ActivationRecord:
        """Remove the activation (no node enrols with it from now on); returns it as it was."""
        a = activations.c
        with write_tx(self._engine) as conn:
            row = conn.execute(select(activations).where(a.activation_id == activation_id)).mappings().one_or_none()
            if row is None:
                raise NotFound(f"no activation {activation_id}")
            conn.execute(delete(activations).where(a.activation_id == activation_id))
        return activation_from_row(row)

    def consume_activation(self, activation_id: str, now_ms: int) -> ActivationRecord:
        """Count one registration against the activation, atomically; ActivationRefused if it is
        unknown, expired or exhausted (in that order of precedence)."""
        a = activations.c
        with write_tx(self._engine) as conn:
            result = conn.execute(
                update(activations)
                .where(a.activation_id == activation_id, a.registrations_count < a.registration_limit,
                       a.expires_at_ms > now_ms)
                .values(registrations_count=a.registrations_count + 1))
            row = conn.execute(
                select(activations).where(a.activation_id == activation_id)).mappings().one_or_none()
            if result.rowcount == 1 and row is not None:
                return activation_from_row(row)
        if row is None:
            reason = "unknown_activation"
        elif int(row["expires_at_ms"]) <= now_ms:
            reason = "expired"
        else:
            reason = "exhausted"
        logger.debug("activation %s refused: %s", activation_id, reason)
        raise ActivationRefused(activation_id, reason)

    def record_enrolment_failure(self, f: EnrolmentFailure, keep: int | None = None) -> None:
        """Record a refused enrolment; with ``keep``, only the newest ``keep`` failures stay (a flood
        of refusals costs bounded space)."""
        e = enrolment_failures.c
        with write_tx(self._engine) as conn:
            new_id = conn.execute(enrolment_failures.insert().values(
                activation_id=f.activation_id, reason=f.reason, peer=f.peer, at_ms=f.at_ms)).inserted_primary_key[0]
            if keep is not None and int(new_id) > keep:
                conn.execute(delete(enrolment_failures).where(e.id <= int(new_id) - keep))

    def list_enrolment_failures(self) -> list[EnrolmentFailure]:
        e = enrolment_failures.c
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(enrolment_failures).order_by(e.at_ms, e.id)).mappings().all()
        return [EnrolmentFailure(activation_id=str(r["activation_id"]), reason=str(r["reason"]),
                                 peer=str(r["peer"]), at_ms=int(r["at_ms"])) for r in rows]
