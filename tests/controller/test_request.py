"""controller.dispatch.request.CheckedDocuments: a document is checked against the plugins' schemas once per
bytes sent, kept in canonical form (what is stored, signed and hashed by the agent), and a bad one is
refused every time, naming what is wrong."""
from __future__ import annotations

import hashlib
import json

import pytest

from controller.dispatch import request as sendrequest
from controller.dispatch.request import CheckedDocuments, CommandRejected
from plugins.sdk.errors import DocumentError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import Document, Step

DOC = Document((Step("hi", "shell", {"cmd": "echo hi"}),), "greet")


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return PluginRegistry.discover()


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The documents actually parsed and checked, in order."""
    seen: list[bytes] = []
    real = sendrequest.validate_document

    def counting(document: bytes, registry: PluginRegistry) -> Document:
        seen.append(document)
        return real(document, registry)
    monkeypatch.setattr(sendrequest, "validate_document", counting)
    return seen


def test_the_same_bytes_are_checked_once(registry: PluginRegistry, checks: list[bytes]) -> None:
    docs = CheckedDocuments(registry)
    first, again = docs.check(DOC.canonical_bytes()), docs.check(bytes(DOC.canonical_bytes()))
    assert again is first and checks == [DOC.canonical_bytes()]
    assert first.document == DOC and first.canonical == DOC.canonical_bytes()
    assert first.sha256 == hashlib.sha256(DOC.canonical_bytes()).digest() == DOC.sha256()


@pytest.mark.parametrize("spelled", [
    json.dumps(DOC.to_json(), indent=2).encode(),
    json.dumps({**DOC.to_json(), "x-comment": "ignored"}, sort_keys=False).encode(),
])
def test_other_json_of_a_document_is_kept_canonical(registry: PluginRegistry, spelled: bytes) -> None:
    checked = CheckedDocuments(registry).check(spelled)
    assert checked.canonical == DOC.canonical_bytes() and checked.sha256 == DOC.sha256()


def test_the_least_recently_used_goes_first(registry: PluginRegistry, checks: list[bytes]) -> None:
    docs = CheckedDocuments(registry, size=2)
    a, b, c = (Document((Step("s", "shell", {"cmd": f"echo {n}"}),)).canonical_bytes() for n in "abc")
    docs.check(a), docs.check(b), docs.check(a), docs.check(c)  # b is the least recently used
    docs.check(a), docs.check(c)
    assert checks == [a, b, c]
    docs.check(b)
    assert checks == [a, b, c, b]


@pytest.mark.parametrize(("document", "error", "message"), [
    (Document((Step("s", "shell", {"cmd": "true", "bogus": 1}),)).canonical_bytes(), CommandRejected,
     "document.mainSteps[0].inputs"),
    (b'{"schemaVersion": "2.2", "mainSteps": []}', CommandRejected, "a document needs at least one step"),
    (b"{not json", DocumentError, "document is not valid JSON"),
])
def test_a_bad_document_is_refused_every_time(registry: PluginRegistry, checks: list[bytes], document: bytes,
                                              error: type[Exception], message: str) -> None:
    docs = CheckedDocuments(registry)
    for _ in range(2):
        with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
            docs.check(document)
    assert checks == [document, document]
