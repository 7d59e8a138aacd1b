"""Deregistering a node (SSM's DeregisterManagedInstance), in one transaction: its certificates
revoked (the one it holds included, also when it was issued before certificates were recorded), the
cancels owed to it and its patch compliance forgotten, and the node removed with its tags. Its
invocations are ended by the dispatcher (controller/dispatch/deadlines.py), which holds the commands they belong to."""
from __future__ import annotations

from sqlalchemy import Engine, delete, select

from controller.store.access import AccessTables
from controller.store.engine import write_tx
from controller.store.errors import NotFound
from controller.store.schema import certificates, node_compliance, nodes, owed_cancels
from plugins.sdk.wire.identity import Role


class DeregistrationTables:
    """Mixed into Store: removing a node for good."""

    _engine: Engine

    def deregister_node(self, node_id: str, at_ms: int) -> list[str]:
        """Revoke the node's certificates and remove it; returns the serials revoked now. NotFound
        for a node that is not registered (never was, or deregistered already)."""
        n, c = nodes.c, certificates.c
        with write_tx(self._engine) as conn:
            row = conn.execute(select(n.certificate_serial, n.registered_at_ms)
                               .where(n.node_id == node_id)).one_or_none()
            if row is None:
                raise NotFound(f"no node {node_id}")
            serial, registered = str(row[0]).lower(), int(row[1])
            known = conn.execute(select(c.serial).where(c.serial == serial)).one_or_none() is not None
            revoked = AccessTables._revoke_subject(conn, Role.NODE.value, node_id, at_ms)
            if not known:  # enrolled before node certificates were recorded
                conn.execute(certificates.insert().values(serial=serial, role=Role.NODE.value, subject=node_id,
                                                          issued_at_ms=registered, not_after_ms=0,
                                                          revoked_at_ms=at_ms))
                revoked.append(serial)
            conn.execute(delete(owed_cancels).where(owed_cancels.c.node_id == node_id))
            conn.execute(delete(node_compliance).where(node_compliance.c.node_id == node_id))
            conn.execute(delete(nodes).where(n.node_id == node_id))  # its tags go with it (ON DELETE CASCADE)
        return sorted(revoked)
