"""plugins.sdk.document: the command document, its canonical bytes and its parser.

Data-driven: ``document_cases.json`` holds malformed documents (``doc`` as JSON, or ``raw``
text) with the exact DocumentError message (or its prefix), and well-formed ones with the
steps they parse to.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from plugins.sdk.document import MAX_DOCUMENT_BYTES, SCHEMA_VERSION, Document, Step, canonical_json, document_from_bytes
from plugins.sdk.errors import DocumentError, OutpostError

CASES: dict[str, list[dict[str, Any]]] = json.loads((Path(__file__).parent / "document_cases.json").read_text())


def _bytes(case: dict[str, Any]) -> bytes:
    return case["raw"].encode() if "raw" in case else json.dumps(case["doc"]).encode()


@pytest.mark.parametrize("case", CASES["bad"], ids=[c["name"] for c in CASES["bad"]])
def test_malformed_documents(case: dict[str, Any]) -> None:
    with pytest.raises(DocumentError) as info:
        document_from_bytes(_bytes(case))
    if "error" in case:
        assert str(info.value) == case["error"]
    else:
        assert str(info.value).startswith(case["error_prefix"])
    assert isinstance(info.value, OutpostError)


@pytest.mark.parametrize("case", CASES["good"], ids=[c["name"] for c in CASES["good"]])
def test_well_formed_documents(case: dict[str, Any]) -> None:
    doc = document_from_bytes(_bytes(case))
    assert doc.schema_version == SCHEMA_VERSION
    assert doc.description == case["description"]
    assert [[s.name, s.action, dict(s.inputs), s.timeout_seconds, s.ignore_errors] for s in doc.steps] == case["steps"]
    assert isinstance(doc.steps, tuple)


EXAMPLE = Document((
    Step("install", "shell", {"z": 1, "a": "x y", "nested": {"b": [1, 2], "a": None}}, timeout_seconds=5,
         ignore_errors=True),
    Step("check", "aws:runShellScript", {"runCommand": ["uptime"]}),
), description="démo")


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    assert EXAMPLE.canonical_bytes() == (
        '{"description":"démo","mainSteps":['
        '{"action":"shell","ignoreErrors":true,"inputs":{"a":"x y","nested":{"a":null,"b":[1,2]},"z":1},'
        '"name":"install","timeoutSeconds":5},'
        '{"action":"aws:runShellScript","inputs":{"runCommand":["uptime"]},"name":"check"}'
        '],"schemaVersion":"2.2"}').encode()


def test_defaults_are_left_out_of_the_canonical_form() -> None:
    data = json.loads(Document((Step("a", "x", {}),)).canonical_bytes())
    assert data == {"schemaVersion": "2.2", "description": "",
                    "mainSteps": [{"name": "a", "action": "x", "inputs": {}}]}


def test_sha256_is_over_the_canonical_bytes() -> None:
    assert EXAMPLE.sha256() == hashlib.sha256(EXAMPLE.canonical_bytes()).digest()
    assert len(EXAMPLE.sha256()) == 32
    other = Document((Step("install", "shell", {"z": 2}),))
    assert other.sha256() != EXAMPLE.sha256()


def test_round_trip() -> None:
    again = document_from_bytes(EXAMPLE.canonical_bytes())
    assert again == EXAMPLE
    assert again.canonical_bytes() == EXAMPLE.canonical_bytes()
    assert again.sha256() == EXAMPLE.sha256()


def test_empty_document_round_trips() -> None:
    empty = Document(())
    assert document_from_bytes(empty.canonical_bytes()) == empty


def test_formatting_does_not_change_the_canonical_form() -> None:
    pretty = json.dumps(json.loads(EXAMPLE.canonical_bytes()), indent=4, ensure_ascii=True).encode()
    assert pretty != EXAMPLE.canonical_bytes()
    assert document_from_bytes(pretty).canonical_bytes() == EXAMPLE.canonical_bytes()


def test_canonical_json_keeps_non_ascii() -> None:
    assert canonical_json({"b": "é", "a": 1}) == b'{"a":1,"b":"\xc3\xa9"}'


def _document_of_size(size: int) -> bytes:
    base = canonical_json({"schemaVersion": "2.2", "description": "", "mainSteps": []})
    data = canonical_json({"schemaVersion": "2.2", "description": "x" * (size - len(base)), "mainSteps": []})
    assert len(data) == size
    return data


def test_a_document_at_the_size_limit_is_accepted() -> None:
    assert MAX_DOCUMENT_BYTES == 64 * 1024
    doc = document_from_bytes(_document_of_size(MAX_DOCUMENT_BYTES))
    assert len(doc.description) > 60000


def test_a_document_over_the_size_limit_is_refused() -> None:
    with pytest.raises(DocumentError, match=r"^document is 65537 bytes; the limit is 65536$"):
        document_from_bytes(_document_of_size(MAX_DOCUMENT_BYTES + 1))


def test_the_size_limit_is_checked_before_parsing() -> None:
    with pytest.raises(DocumentError, match="the limit is"):
        document_from_bytes(b"\xff" * (MAX_DOCUMENT_BYTES + 1))


def test_invalid_utf8_is_not_json() -> None:
    with pytest.raises(DocumentError, match="^document is not valid JSON"):
        document_from_bytes(b'{"schemaVersion":"\xff"}')


def test_deeply_nested_json_is_a_document_error() -> None:
    with pytest.raises(DocumentError):
        document_from_bytes(b"[" * 50_000)
