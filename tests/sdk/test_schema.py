"""plugins.sdk.schema: typed plugin inputs.

Data-driven: every case in ``schema_cases.json`` names an inputs class defined here, a raw
(JSON-like) value and either the expected JSON form of the typed result or the exact
``where`` and message of the InputError.
"""
from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from plugins.sdk.errors import InputError, OutpostError
from plugins.sdk.schema import FieldSpec, ParamMeta, describe, inputs_to_json, param, parse_inputs, secret_values
from plugins.sdk.secrets import MASK, Secret

CASES: dict[str, list[dict[str, Any]]] = json.loads((Path(__file__).parent / "schema_cases.json").read_text())


def _empty_env() -> Mapping[str, str]:
    return types.MappingProxyType({})


@dataclass(frozen=True)
class Basic:
    name: str = param("The name.")
    count: int = param("How many.", default=1, minimum=1, maximum=10)
    ratio: float = param("A ratio.", default=0.5)
    enabled: bool = param("On or off.", default=False)
    mode: str = param("The mode.", default="fast", choices=("fast", "slow"))
    tags: tuple[str, ...] = param("Tags.", default=())
    env: Mapping[str, str] = param("Environment.", default_factory=_empty_env)
    note: str | None = param("A note.", default=None)


@dataclass(frozen=True)
class FreeForm:
    cmd: str = param("The command.", free_form=True)
    chdir: str | None = param("Where.", default=None)


@dataclass(frozen=True)
class AllDefaults:
    level: int = param("Level.", default=3)
    label: str = param("Label.", default="x")


@dataclass(frozen=True)
class WithSecret:
    user: str = param("User.")
    password: Secret = param("Password.", secret=True)
    token: Secret | None = param("Token.", secret=True, default=None)


@dataclass(frozen=True)
class SecretChoice:
    key: Secret = param("One of two known keys.", secret=True, choices=("k-one", "k-two"))


@dataclass(frozen=True)
class Unsupported:
    numbers: list[int] = param("Not a supported type.", default_factory=list)


CLASSES = {c.__name__: c for c in (Basic, FreeForm, AllDefaults, WithSecret)}


@pytest.mark.parametrize("case", CASES["ok"], ids=[c["name"] for c in CASES["ok"]])
def test_valid_inputs(case: dict[str, Any]) -> None:
    cls = CLASSES[case["inputs"]]
    typed = parse_inputs(cls, case["raw"], "task")
    assert isinstance(typed, cls)
    assert inputs_to_json(typed) == case["expected"]
    # The JSON form parses back to the same typed value (what the agent does with a document).
    assert parse_inputs(cls, inputs_to_json(typed), "task") == typed


@pytest.mark.parametrize("case", CASES["error"], ids=[c["name"] for c in CASES["error"]])
def test_invalid_inputs(case: dict[str, Any]) -> None:
    with pytest.raises(InputError) as info:
        parse_inputs(CLASSES[case["inputs"]], case["raw"], "task")
    assert (info.value.where, info.value.message) == (case["where"], case["message"])
    assert str(info.value) == f"{case['where']}: {case['message']}"
    assert isinstance(info.value, OutpostError)


def test_cases_cover_every_class() -> None:
    used = {c["inputs"] for kind in CASES.values() for c in kind}
    assert used == set(CLASSES)


def test_typed_values_have_their_declared_python_types() -> None:
    typed = parse_inputs(Basic, {"name": "a", "ratio": 2, "tags": ["x"], "env": {"N": 5}}, "t")
    assert type(typed.ratio) is float
    assert type(typed.tags) is tuple
    assert isinstance(typed.env, types.MappingProxyType)
    assert typed.env["N"] == "5"


def test_typed_values_are_frozen() -> None:
    typed = parse_inputs(Basic, {"name": "a", "env": {"A": "1"}}, "t")
    with pytest.raises(dataclasses.FrozenInstanceError):
        typed.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        typed.env["A"] = "2"  # type: ignore[index]


def test_the_typed_value_does_not_share_the_raw_containers() -> None:
    raw = {"name": "a", "env": {"A": "1"}, "tags": ["x"]}
    typed = parse_inputs(Basic, raw, "t")
    raw["env"]["A"] = "changed"
    raw["tags"].append("y")
    assert dict(typed.env) == {"A": "1"}
    assert typed.tags == ("x",)
    assert raw["name"] == "a" and "count" not in raw  # the raw value is not filled with defaults


def test_where_prefixes_every_error() -> None:
    with pytest.raises(InputError) as info:
        parse_inputs(Basic, {"name": "a", "tags": ["a", "b", 3]}, "tasks[2].demo")
    assert info.value.where == "tasks[2].demo.tags[2]"


def test_an_empty_where_leaves_the_message_alone() -> None:
    with pytest.raises(InputError) as info:
        parse_inputs(Basic, "x", "")
    assert str(info.value) == "expected a mapping, got a string"


def test_secret_fields_hold_secrets() -> None:
    typed = parse_inputs(WithSecret, {"user": "u", "password": "hunter2-x", "token": "t0k-1234"}, "t")
    assert isinstance(typed.password, Secret)
    assert typed.password.reveal() == "hunter2-x"
    assert isinstance(typed.user, str)
    assert "hunter2-x" not in repr(typed) and "t0k-1234" not in repr(typed)
    assert "hunter2-x" not in str(typed) and MASK in repr(typed)
    assert "hunter2-x" not in f"{typed}"


def test_secret_values_lists_every_secret_and_nothing_else() -> None:
    both = parse_inputs(WithSecret, {"user": "u", "password": "pass-0001", "token": "tok-0001"}, "t")
    assert sorted(secret_values(both)) == ["pass-0001", "tok-0001"]
    one = parse_inputs(WithSecret, {"user": "u", "password": "pass-0001"}, "t")
    assert secret_values(one) == ("pass-0001",)
    assert secret_values(parse_inputs(Basic, {"name": "a"}, "t")) == ()


def test_inputs_to_json_is_plain_json() -> None:
    typed = parse_inputs(Basic, {"name": "a", "tags": "x", "env": {"A": 1}}, "t")
    out = inputs_to_json(typed)
    assert type(out["tags"]) is list and type(out["env"]) is dict
    json.dumps(out)  # MappingProxyType or tuples would still serialize; Secret would not


def test_describe() -> None:
    fields = {f.name: f for f in describe(Basic)}
    assert list(fields) == ["name", "count", "ratio", "enabled", "mode", "tags", "env", "note"]
    assert {n: f.type_name for n, f in fields.items()} == {
        "name": "string", "count": "integer", "ratio": "number", "enabled": "boolean", "mode": "string",
        "tags": "list of string", "env": "mapping of string to string", "note": "string (optional)"}
    assert [n for n, f in fields.items() if f.required] == ["name"]
    assert {n: f.default for n, f in fields.items()} == {
        "name": None, "count": 1, "ratio": 0.5, "enabled": False, "mode": "fast", "tags": [], "env": {}, "note": None}
    assert fields["count"].meta == ParamMeta("How many.", minimum=1, maximum=10)
    assert fields["mode"].meta.choices == ("fast", "slow")
    assert all(isinstance(f, FieldSpec) for f in fields.values())


def test_describe_free_form_and_secrets() -> None:
    free = {f.name: f for f in describe(FreeForm)}
    assert free["cmd"].meta.free_form and not free["chdir"].meta.free_form
    secret = {f.name: f for f in describe(WithSecret)}
    assert secret["password"].type_name == "secret string"
    assert secret["token"].type_name == "secret string (optional)"
    assert secret["password"].meta.secret and not secret["user"].meta.secret
    assert secret["password"].required and not secret["token"].required


def test_an_unsupported_field_type_is_a_programming_error() -> None:
    assert parse_inputs(Unsupported, {}, "t") == Unsupported()
    with pytest.raises(TypeError, match="unsupported input type"):
        parse_inputs(Unsupported, {"numbers": [1]}, "t")


def test_a_secret_outside_its_choices_is_not_echoed() -> None:
    with pytest.raises(InputError) as info:
        parse_inputs(SecretChoice, {"key": "my-private-key"}, "t")
    assert info.value.where == "t.key"
    assert "my-private-key" not in str(info.value)


def test_non_string_unknown_keys_are_an_input_error() -> None:
    with pytest.raises(InputError):
        parse_inputs(Basic, {"name": "a", 1: "x", "b": "y"}, "t")
