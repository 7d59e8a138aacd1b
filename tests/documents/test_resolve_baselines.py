"""controller/documents/resolve.py's resolve_baselines and DocumentCatalog.resolve: a ``patch`` step
that names a stored baseline is sent with that baseline's canonical text; a name not stored is
refused at send, naming the step and the baselines there are."""
from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pytest

from controller.documents.catalog import DocumentCatalog
from controller.documents.resolve import resolve_baselines
from plugins.sdk.errors import InputError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.patching import parse_baseline
from plugins.sdk.wire.document import Document, Step, document_from_bytes

REGISTRY = PluginRegistry.discover()
WEB = "name: web\noperating_system: debian\napproval_rules:\n  - classification: [security]\n"
DB = "name: db\noperating_system: redhat\n"


class Lookup:
    def __init__(self, stored: Mapping[str, str]) -> None:
        self.stored = dict(stored)
        self.asked: list[set[str]] = []

    async def __call__(self, names: Collection[str]) -> tuple[Mapping[str, str], Sequence[str]]:
        self.asked.append(set(names))
        found = {n: self.stored[n] for n in names if n in self.stored}
        return found, sorted(self.stored) if len(found) < len(set(names)) else []


def _doc(*baselines: str, other: bool = True) -> Document:
    steps = [Step("say", "shell", {"cmd": "echo hi"})] if other else []
    steps += [Step(f"patch{i}", "patch", {"operation": "Scan", "baseline": b}) for i, b in enumerate(baselines)]
    return Document(tuple(steps))


def _resolve(doc: Document, lookup: Lookup) -> Document:
    return asyncio.run(resolve_baselines(doc, lookup, REGISTRY))


def test_a_name_becomes_the_baselines_canonical_text_and_each_name_is_looked_up_once() -> None:
    lookup = Lookup({"web": WEB, "db": DB})
    out = _resolve(_doc("web", "web"), lookup)
    assert lookup.asked == [{"web"}]
    text = parse_baseline(WEB, "t").canonical_text()
    assert [s.inputs.get("baseline") for s in out.steps] == [None, text, text]
    assert out.steps[1].inputs == {"operation": "Scan", "baseline": text, "reboot_option": "RebootIfNeeded",
                                   "snapshot_id": None}
    assert out.steps[0] == _doc("web").steps[0]


def test_a_document_without_patch_steps_comes_back_as_it_is() -> None:
    doc, lookup = _doc(), Lookup({})
    assert _resolve(doc, lookup) is doc and lookup.asked == []


def test_a_baselines_own_text_is_checked_and_sent_as_it_is_without_a_lookup() -> None:
    lookup = Lookup({})
    doc = _doc(WEB)
    assert _resolve(doc, lookup) is doc and lookup.asked == []
    with pytest.raises(InputError) as info:
        _resolve(_doc("name: web\noperating_system: suse\n"), lookup)
    assert str(info.value) == ("mainSteps[1].inputs.baseline: operating_system: expected one of debian, redhat, "
                               "windows, got 'suse'")


@pytest.mark.parametrize(("stored", "known"), [({"web": WEB, "db": DB}, "db, web"), ({}, "none is stored")])
def test_a_name_not_stored_is_refused_naming_the_step_and_the_baselines(stored: dict[str, str], known: str) -> None:
    with pytest.raises(InputError) as info:
        _resolve(_doc("web-servers"), Lookup(stored))
    assert str(info.value) == (f"mainSteps[1].inputs.baseline: step 'patch0' names patch baseline 'web-servers', "
                               f"which the controller does not hold (baselines: {known}); create it with "
                               "`outpost baseline create web-servers --file FILE`")


def test_a_stored_baseline_that_no_longer_parses_is_refused_naming_it() -> None:
    with pytest.raises(InputError) as info:
        _resolve(_doc("web"), Lookup({"web": "name: web\noperating_system: debian\nnew_key: 1\n"}))
    assert str(info.value).startswith("mainSteps[1].inputs.baseline: step 'patch0': the stored baseline web: "
                                      "new_key: ")


def test_the_steps_inputs_are_checked_first() -> None:
    doc = Document((Step("p", "patch", {"operation": "Remove", "baseline": "web"}),))
    with pytest.raises(InputError) as info:
        _resolve(doc, Lookup({"web": WEB}))
    assert str(info.value) == "mainSteps[0].inputs.operation: expected one of Scan, Install, got 'Remove'"


class FakeDb:
    """Db.run on this thread, over a store that holds baselines only."""

    def __init__(self, stored: Mapping[str, str]) -> None:
        self.store = self
        self.stored = dict(stored)
        self.calls = 0

    def baselines_for_send(self, names: Collection[str]) -> tuple[Mapping[str, str], Sequence[str]]:
        self.calls += 1
        return {n: self.stored[n] for n in names if n in self.stored}, sorted(self.stored)

    async def run(self, fn: Any, *args: Any) -> Any:
        return fn(*args)


def test_the_catalogue_resolves_patch_steps_and_leaves_other_documents_untouched() -> None:
    db = FakeDb({"web": WEB})
    catalog = DocumentCatalog(db, REGISTRY)  # type: ignore[arg-type]
    plain = _doc().canonical_bytes()
    assert asyncio.run(catalog.resolve(plain)) is plain and db.calls == 0
    given = _doc(WEB).canonical_bytes()
    assert asyncio.run(catalog.resolve(given)) == given and db.calls == 0  # a text: nothing to look up
    sent = document_from_bytes(asyncio.run(catalog.resolve(_doc("web").canonical_bytes())))
    assert sent.steps[1].inputs["baseline"] == parse_baseline(WEB, "t").canonical_text() and db.calls == 1
