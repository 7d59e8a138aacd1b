"""plugins.sdk.limits: the nesting limit, the NUL refusal and the timeout bound, stated once."""
from __future__ import annotations

import json

import pytest

from controller.documents.ssmdoc import parse_command_document
from plugins.sdk.errors import DocumentError, InputError
from plugins.sdk.limits import (
    MAX_NESTING,
    MAX_TIMEOUT_SECONDS,
    _json_depth,
    bounded_int,
    check_json_tree,
    check_tree,
    shown,
    timeout_problem,
)
from plugins.sdk.wire.document import document_from_bytes


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


WIDE = ",".join(["[]"] * 70)  # past the brackets that could only nest to the limit: the text is scanned


@pytest.mark.parametrize(("text", "depth"), [
    ('[[["a[[[[",{"b":[1]}]]]', 5),  # brackets in strings do not count
    ('{"a":"\\"[[[[[[","b":[[]]}', 3),  # nor after an escaped quote
    ('["\\\\", [[]]]', 3),  # an escaped backslash ends before the quote
    ("[]", 1),
    (_nested(200), 200),
])
def test_json_depth_counts_the_brackets_outside_strings(text: str, depth: int) -> None:
    assert _json_depth(f"[{text},{WIDE}]".encode()) == depth + 1
    assert _json_depth(text.encode()) == max(depth, MAX_NESTING)  # few brackets: the limit bounds it


def test_a_shallow_document_with_many_brackets_passes_and_a_deep_one_is_named() -> None:
    wide = json.dumps({"steps": [{"inputs": {"cmd": ["x"]}} for _ in range(100)]})
    check_json_tree(json.loads(wide), wide, "document")
    deep = json.dumps({"a": [{"b": json.loads(_nested(MAX_NESTING))}]})
    with pytest.raises(InputError) as info:
        check_json_tree(json.loads(deep), deep, "document")
    assert info.value.message == f"nested deeper than {MAX_NESTING} levels"
    assert info.value.where.startswith("document.a[0].b[0][0]") and info.value.where.endswith("...")


def test_nul_is_named_by_its_path_in_values_and_keys() -> None:
    with pytest.raises(InputError) as info:
        check_tree({"a": ["ok", {"b\x00": 1}]}, "doc")
    assert info.value.where == "doc.a[1].'b\\x00'"
    text = '{"a": ["ok", "x\\u0000"]}'
    with pytest.raises(InputError) as info:
        check_json_tree(json.loads(text), text, "doc")
    assert info.value.where == "doc.a[1]" and info.value.message.startswith("contains a NUL character")


@pytest.mark.parametrize(("value", "problem"), [
    (1, None), (MAX_TIMEOUT_SECONDS, None),
    (MAX_TIMEOUT_SECONDS + 1, "must be at most 2592000 seconds (30 days), got 2592001"),
    (99999999999999999999, "must be at most 2592000 seconds (30 days), got 99999999999999999999"),
    (0, "expected a positive integer (seconds), got 0"), (True, "expected a positive integer (seconds), got True"),
    ("60", "expected a positive integer (seconds), got '60'"),
])
def test_timeouts_are_whole_seconds_up_to_30_days(value: object, problem: str | None) -> None:
    assert timeout_problem(value) == problem


def test_shown_cuts_a_huge_value() -> None:
    assert shown("abc") == "'abc'"
    assert shown("x" * 1000).endswith("... (1002 characters)") and len(shown("x" * 1000)) < 90


@pytest.mark.parametrize("parse", [document_from_bytes, lambda b: parse_command_document(b, "JSON")],
                         ids=["wire", "ssm"])
def test_a_number_past_pythons_digit_limit_is_refused_by_name(parse) -> None:  # found by tests/fuzz
    text = b'{"schemaVersion": "2.2", "mainSteps": [], "x": -1' + b"0" * 5000 + b"}"
    with pytest.raises(DocumentError, match=r"^document: a number of 5001 digits; numbers have at most 100$"):
        parse(text)
    assert bounded_int("-" + "9" * 100) == -int("9" * 100)
