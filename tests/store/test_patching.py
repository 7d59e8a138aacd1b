"""Patch baselines and each node's latest patch compliance (controller/store/baselines.py,
compliance.py), on SQLite and (when configured) PostgreSQL: see conftest.py."""
from __future__ import annotations

import dataclasses
import json

import pytest

from controller.store import NotFound, Store
from controller.store.baselines import BaselineRecord
from controller.store.compliance import ComplianceRecord
from controller.store.errors import Conflict
from plugins.sdk.patching import PatchCompliance, PatchOperation, PatchRecord, PatchState, RebootOption
from tests.store.test_store import NOW, node, with_command

WEB = "name: web\noperating_system: debian\n"


def _baseline(name: str = "web", content: str = WEB, at: int = NOW, who: str = "alice") -> BaselineRecord:
    return BaselineRecord(name, content, "ab" * 32, "debian", f"{name}'s", at, at, who)


def test_a_baseline_is_created_once_updated_in_place_listed_and_deleted(store: Store) -> None:
    made = store.put_baseline(_baseline(), create=True)
    assert made == _baseline()
    with pytest.raises(Conflict, match="patch baseline 'web' already exists"):
        store.put_baseline(_baseline(at=NOW + 5), create=True)
    with pytest.raises(NotFound, match="no patch baseline named 'db'; `outpost baseline create` makes one"):
        store.put_baseline(_baseline("db"), create=False)
    changed = store.put_baseline(_baseline(content=WEB + "description: x\n", at=NOW + 9, who="bob"), create=False)
    assert (changed.created_at_ms, changed.updated_at_ms, changed.updated_by) == (NOW, NOW + 9, "bob")
    assert store.get_baseline("web") == changed
    store.put_baseline(_baseline("db"), create=True)
    assert [(b.name, b.content) for b in store.list_baselines()] == [("db", ""), ("web", "")]  # content: GetBaseline
    store.delete_baseline("db")
    with pytest.raises(NotFound, match="no patch baseline named 'db'"):
        store.get_baseline("db")
    with pytest.raises(NotFound):
        store.delete_baseline("db")


def test_a_send_gets_the_content_of_the_names_it_asks_for_and_every_name_when_one_is_missing(store: Store) -> None:
    for name in ("web", "db", "mail"):
        store.put_baseline(_baseline(name, f"name: {name}\n"), create=True)
    assert store.baselines_for_send(["web", "web"]) == ({"web": "name: web\n"}, [])
    assert store.baselines_for_send(["web", "nope"]) == ({"web": "name: web\n"}, ["db", "mail", "web"])
    assert store.baselines_for_send([]) == ({}, [])


def _report(missing: int = 1, ended: int = NOW + 10, baseline: str = "web") -> str:
    records = [PatchRecord(f"p{i}", "1.0", "2.0", PatchState.MISSING) for i in range(missing)]
    records.append(PatchRecord("ok", "2.0", "", PatchState.INSTALLED))
    return PatchCompliance.summarize(records, baseline_id=baseline, operation=PatchOperation.SCAN,
                                     reboot_option=RebootOption.NO_REBOOT, started_at_ms=NOW,
                                     ended_at_ms=ended).to_json().decode()


def _rec(node_id: str, command_id: str, missing: int = 1, ended: int = NOW + 10) -> ComplianceRecord:
    return ComplianceRecord(node_id, command_id, "web", "Scan", missing == 0, NOW, ended, _report(missing, ended))


def _fleet(store: Store, *node_ids: str) -> None:
    for n in node_ids:
        store.add_node(node(n))


def test_the_latest_command_wins_whatever_order_reports_arrive_in(store: Store) -> None:
    _fleet(store, "mi-1", "mi-2")
    with_command(store, "old", ("mi-1", "mi-2"), created_at_ms=NOW)
    with_command(store, "new", ("mi-1",), created_at_ms=NOW + 1000)
    assert store.put_compliance([_rec("mi-1", "new", missing=0)]) == 1
    assert store.put_compliance([_rec("mi-1", "old", missing=3)]) == 0  # an older command's, sent again late
    got = store.get_compliance("mi-1")
    assert (got.command_id, got.compliant) == ("new", True)
    assert PatchCompliance.from_json(got.summary.encode()).counts.installed == 1
    # within one command, the report that ended last (a step run again after a reboot)
    assert store.put_compliance([_rec("mi-1", "new", missing=2, ended=NOW + 50)]) == 1
    assert store.put_compliance([_rec("mi-1", "new", missing=0, ended=NOW + 20)]) == 0
    assert store.get_compliance("mi-1").ended_at_ms == NOW + 50


def test_compliance_of_no_invocation_or_no_node_is_not_kept(store: Store) -> None:
    _fleet(store, "mi-1")
    with_command(store, "c1", ("mi-1", "mi-9"))  # mi-9 is not registered
    assert store.put_compliance([_rec("mi-1", "nope"), _rec("mi-9", "c1"), _rec("mi-2", "c1")]) == 0
    with pytest.raises(NotFound, match="no patch compliance for node 'mi-1': no patch step has reported from it"):
        store.get_compliance("mi-1")


def test_compliance_pages_by_node_id_without_records_and_filters_the_non_compliant(store: Store) -> None:
    nodes = [f"mi-{i}" for i in range(5)]
    _fleet(store, *nodes)
    with_command(store, "c1", tuple(nodes))
    store.put_compliance([_rec(n, "c1", missing=i % 2) for i, n in enumerate(nodes)])
    first = store.list_compliance("", 2)
    assert [c.node_id for c in first] == ["mi-0", "mi-1"]
    assert [c.node_id for c in store.list_compliance("mi-1", 10)] == ["mi-2", "mi-3", "mi-4"]
    assert [c.node_id for c in store.list_compliance("", 10, non_compliant_only=True)] == ["mi-1", "mi-3"]
    listed = first[1]
    whole = json.loads(store.get_compliance("mi-1").summary)
    assert json.loads(listed.summary) == {k: v for k, v in whole.items() if k != "records"}
    assert listed.summary == json.dumps(json.loads(listed.summary), sort_keys=True, separators=(",", ":"))
    assert dataclasses.replace(listed, summary="") == dataclasses.replace(store.get_compliance("mi-1"), summary="")


def test_deregistering_a_node_forgets_its_compliance(store: Store) -> None:
    _fleet(store, "mi-1")
    with_command(store, "c1", ("mi-1",))
    store.put_compliance([_rec("mi-1", "c1")])
    store.deregister_node("mi-1", NOW + 1)
    assert store.list_compliance("", 10) == []
