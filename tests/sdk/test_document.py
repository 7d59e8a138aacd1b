"""plugins.sdk.wire.document: the command document, its canonical bytes and its parser.

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

from plugins.sdk.errors import DocumentError, OutpostError
from plugins.sdk.wire.document import (
    MAX_DOCUMENT_BYTES,
    SCHEMA_VERSION,
    Document,
    OnFailure,
    Precondition,
    Step,
    canonical_json,
    document_from_bytes,
    masked_json,
)

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
    if "flow" in case:
        assert [[None if s.precondition is None else [s.precondition.left, s.precondition.right],
                 s.on_failure.value, s.on_success_exit, s.finally_step] for s in doc.steps] == case["flow"]
    assert dict(doc.environment) == case.get("environment", {})
    assert list(doc.secret_names) == case.get("secretEnvironment", [])


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


def _nested_inputs(levels: int) -> bytes:
    """A document whose inputs hold lists down to nesting level ``levels`` (the document is level 1,
    mainSteps 2, the step 3, inputs 4)."""
    inner = "[" * (levels - 4) + "]" * (levels - 4)
    return ('{"schemaVersion":"2.2","mainSteps":[{"name":"a","action":"x","inputs":{"v":' + inner + '}}]}').encode()


def test_nesting_is_refused_by_name_past_64_levels() -> None:
    assert document_from_bytes(_nested_inputs(64)).steps[0].name == "a"
    with pytest.raises(DocumentError) as info:
        document_from_bytes(_nested_inputs(65))
    path = "document.mainSteps[0].inputs.v" + "[0]" * 60
    assert str(info.value) == path[:100] + "...: nested deeper than 64 levels"


@pytest.mark.parametrize("data", [b"[" * 50_000, b"[" * 30_000 + b"]" * 30_000, b'{"a":' * 10_000],
                         ids=["unclosed", "30,000 deep", "10,000 deep objects"])
def test_nesting_past_the_parser_is_refused_by_the_limit(data: bytes) -> None:
    with pytest.raises(DocumentError, match="^document: nested deeper than 64 levels$"):
        document_from_bytes(data)


# -- flow control, preconditions, environment -------------------------------------------------

FLOW = Document((
    Step("linux-only", "shell", {"cmd": "uname"}, precondition=Precondition("platformType", "Linux"),
         on_failure=OnFailure.EXIT),
    Step("tolerated", "shell", {"cmd": "false"}, ignore_errors=True, on_failure=OnFailure.SUCCESS_AND_EXIT,
         on_success_exit=True),
    Step("cleanup", "shell", {"cmd": "rm -rf /tmp/x"}, timeout_seconds=9, finally_step=True),
), description="flow", environment={"OUTPOST_USER": "deploy", "OUTPOST_TOKEN": "hunter2"},
    secret_names=("OUTPOST_TOKEN",))


def test_new_fields_in_the_canonical_form() -> None:
    assert FLOW.canonical_bytes() == (
        b'{"description":"flow","environment":{"OUTPOST_TOKEN":"hunter2","OUTPOST_USER":"deploy"},"mainSteps":['
        b'{"action":"shell","inputs":{"cmd":"uname"},"name":"linux-only","onFailure":"exit",'
        b'"precondition":{"StringEquals":["platformType","Linux"]}},'
        b'{"action":"shell","ignoreErrors":true,"inputs":{"cmd":"false"},"name":"tolerated",'
        b'"onFailure":"successAndExit","onSuccess":"exit"},'
        b'{"action":"shell","finallyStep":true,"inputs":{"cmd":"rm -rf /tmp/x"},"name":"cleanup","timeoutSeconds":9}'
        b'],"schemaVersion":"2.2","secretEnvironment":["OUTPOST_TOKEN"]}')


def test_new_fields_round_trip() -> None:
    again = document_from_bytes(FLOW.canonical_bytes())
    assert again == FLOW
    assert again.canonical_bytes() == FLOW.canonical_bytes()
    assert again.steps[0].precondition == Precondition("platformType", "Linux", "StringEquals")
    assert [s.on_failure for s in again.steps] == [OnFailure.EXIT, OnFailure.SUCCESS_AND_EXIT, OnFailure.CONTINUE]


def test_new_defaults_are_left_out() -> None:
    step = Step("a", "x", {})
    assert (step.precondition, step.on_failure, step.on_success_exit, step.finally_step) == (
        None, OnFailure.CONTINUE, False, False)
    explicit = Document((Step("a", "x", {}, on_failure=OnFailure.CONTINUE),), environment={}, secret_names=())
    assert explicit.canonical_bytes() == Document((Step("a", "x", {}),)).canonical_bytes()
    assert b"onFailure" not in explicit.canonical_bytes() and b"environment" not in explicit.canonical_bytes()


def test_on_failure_values_are_ssm_spellings() -> None:
    assert [o.value for o in OnFailure] == ["exit", "successAndExit", "continue"]


def test_masked_json_hides_secret_environment_values() -> None:
    shown = masked_json(FLOW)
    assert shown["environment"] == {"OUTPOST_USER": "deploy", "OUTPOST_TOKEN": "********"}
    assert "hunter2" not in json.dumps(shown)
    assert {k: v for k, v in shown.items() if k != "environment"} == {
        k: v for k, v in FLOW.to_json().items() if k != "environment"}
    assert masked_json(Document(())) == Document(()).to_json()
    assert FLOW.to_json()["environment"]["OUTPOST_TOKEN"] == "hunter2"  # the signed form keeps it


def test_secret_values_are_not_in_repr() -> None:
    assert "hunter2" not in repr(FLOW) and "deploy" in repr(FLOW) and "********" in repr(FLOW)
    assert FLOW.secret_values() == ("hunter2",)
