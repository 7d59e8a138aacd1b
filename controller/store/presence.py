"""Nodes' presence (ping status, last seen, the facts of their latest Hello) stored many at a time:
10,000 agents connecting, or heartbeating every 30 s, cost a few transactions a second rather than
one each."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, select, update

from controller.model import PingStatus
from controller.store import codec
from controller.store.engine import write_tx
from controller.store.inlists import slices
from controller.store.schema import nodes
from plugins.sdk.facts import Facts


@dataclass(frozen=True)
class Sighting:
    """A node seen at ``at_ms``: a Hello (with its facts), a heartbeat, or its stream ending."""
    node_id: str
    status: PingStatus
    at_ms: int
    facts: Facts | None = None


def coalesce(sightings: Sequence[Sighting]) -> list[Sighting]:
    """One sighting per node, as applying them in order would leave it: the last status and time, and
    the facts of its last Hello."""
    out: dict[str, Sighting] = {}
    for s in sightings:
        before = out.get(s.node_id)
        if before is not None and s.facts is None and before.facts is not None:
            s = Sighting(s.node_id, s.status, s.at_ms, before.facts)
        out[s.node_id] = s
    return list(out.values())


class PresenceTables:
    """Mixed into Store."""

    _engine: Engine

    def record_sightings(self, sightings: Sequence[Sighting]) -> set[str]:
        """Store the sightings in one transaction; returns the node ids that are registered (the
        others are dropped)."""
        latest = coalesce(sightings)
        if not latest:
            return set()
        n = nodes.c
        ids = [s.node_id for s in latest]
        with write_tx(self._engine) as conn:
            known = {str(r) for part in slices(ids) for (r,) in conn.execute(select(n.node_id).where(
                n.node_id.in_(part)))}
            plain = [{"nid": s.node_id, "ps": s.status.value, "at": s.at_ms}
                     for s in latest if s.node_id in known and s.facts is None]
            full = [{"nid": s.node_id, "ps": s.status.value, "at": s.at_ms, "facts": codec.encode_facts(s.facts)}
                    for s in latest if s.node_id in known and s.facts is not None]
            where = n.node_id == bindparam("nid")
            if plain:
                conn.execute(update(nodes).where(where).values(ping_status=bindparam("ps"),
                                                               last_seen_at_ms=bindparam("at")), plain)
            if full:
                conn.execute(update(nodes).where(where).values(ping_status=bindparam("ps"),
                                                               last_seen_at_ms=bindparam("at"),
                                                               facts=bindparam("facts")), full)
        return known
