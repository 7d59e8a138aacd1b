"""controller.documents.parameters and controller.documents.placeholders: declarations, typed values from SSM's lists of
strings, substitution."""
from __future__ import annotations

from typing import Any

import pytest

from controller.documents.parameters import (
    MISSING,
    ParameterSpec,
    ParamType,
    parse_parameter_specs,
    resolve_values,
    stand_in_values,
)
from controller.documents.placeholders import apply_to_inputs, environment_for, interpolate
from plugins.sdk.errors import DocumentError, InputError

DECLS: dict[str, Any] = {
    "service": {"type": "String", "default": "nginx", "allowedPattern": "^[a-z]+$", "minChars": 2, "maxChars": 8},
    "commands": {"type": "StringList", "minItems": 1, "maxItems": 3, "displayType": "textarea"},
    "port": {"type": "Integer", "default": 80, "description": "The port"},
    "force": {"type": "Boolean", "default": "False"},
    "labels": {"type": "StringMap", "default": {"a": "1"}},
    "items": {"type": "MapList", "default": [{"k": "v"}]},
    "token": {"type": "String", "secret": True, "interpolationType": "ENV_VAR"},
    "mode": {"type": "String", "allowedValues": ["fast", "safe"], "default": "safe", "interpolationType": "TEXT"},
}
SPECS = parse_parameter_specs(DECLS, "document.parameters")
SHELL = "${{{}}}".format  # ${NAME}


def test_declarations_parse_to_specs() -> None:
    by = {s.name: s for s in SPECS}
    assert [s.name for s in SPECS] == list(DECLS)
    assert by["service"] == ParameterSpec("service", ParamType.STRING, default="nginx", allowed_pattern="^[a-z]+$",
                                          min_chars=2, max_chars=8)
    assert by["commands"].required and by["commands"].default is MISSING and by["commands"].display_type == "textarea"
    assert by["port"].default == 80 and by["port"].description == "The port"
    assert by["force"].default is False
    assert by["items"].default == ({"k": "v"},)
    assert by["token"].secret and by["token"].interpolation == "ENV_VAR" and by["token"].env_name == "OUTPOST_TOKEN"
    assert by["mode"].allowed_values == ("fast", "safe") and not by["mode"].required


@pytest.mark.parametrize(("raw", "message"), [
    ([], "document.parameters: expected a mapping of parameter names to declarations"),
    ({"a b": {"type": "String"}}, "document.parameters: invalid parameter name 'a b' (letters, digits and _ only)"),
    ({"a": "String"}, "document.parameters.a: expected a mapping, got a string"),
    ({"a": {}}, "document.parameters.a: missing 'type'"),
    ({"a": {"type": "string"}},
     "document.parameters.a.type: expected one of String, StringList, Integer, Boolean, StringMap, MapList"),
    ({"a": {"type": "String", "min": 1}}, "document.parameters.a.min: unknown key (known: type, description, default, "
     "allowedValues, allowedPattern, displayType, minItems, maxItems, minChars, maxChars, interpolationType, secret)"),
    ({"a": {"type": "String", "minItems": 1}}, "document.parameters.a.minItems: not supported for String parameters"),
    ({"a": {"type": "Boolean", "allowedValues": ["true"]}},
     "document.parameters.a.allowedValues: not supported for Boolean parameters"),
    ({"a": {"type": "String", "allowedValues": "x"}},
     "document.parameters.a.allowedValues: expected a list of strings"),
    ({"a": {"type": "String", "allowedValues": [1]}},
     "document.parameters.a.allowedValues: expected a list of strings"),
    ({"a": {"type": "String", "minChars": -1}}, "document.parameters.a.minChars: expected a non-negative integer"),
    ({"a": {"type": "String", "minChars": True}}, "document.parameters.a.minChars: expected a non-negative integer"),
    ({"a": {"type": "StringList", "minItems": 3, "maxItems": 2}},
     "document.parameters.a.minItems: is greater than maxItems"),
    ({"a": {"type": "String", "interpolationType": "env"}},
     "document.parameters.a.interpolationType: expected ENV_VAR or TEXT"),
    ({"a": {"type": "String", "secret": "yes"}}, "document.parameters.a.secret: expected a boolean"),
    ({"a": {"type": "String", "description": 5}},
     "document.parameters.a.description: expected a string, got an integer"),
    ({"a": {"type": "String", "default": True}},
     "document.parameters.a.default: expected a value of type String, got a boolean"),
    ({"a": {"type": "StringList", "default": "x"}},
     "document.parameters.a.default: expected a value of type StringList, got a string"),
    ({"a": {"type": "Boolean", "default": "yes"}},
     "document.parameters.a.default: expected a value of type Boolean, got a string"),
    ({"a": {"type": "MapList", "default": ["x"]}},
     "document.parameters.a.default: expected a value of type MapList, got a list"),
    ({"a": {"type": "String", "allowedValues": ["x"], "default": "y"}},
     "document.parameters.a.default: must be one of x, got 'y'"),
    ({"a": {"type": "StringList", "maxItems": 1, "default": ["x", "y"]}},
     "document.parameters.a.default: must have at most 1 item, got 2"),
    ({"node_id": {"type": "String", "interpolationType": "ENV_VAR"}},
     "document.parameters.node_id: the environment variable OUTPOST_NODE_ID is reserved for the agent"),
    ({"a": {"type": "Integer", "allowedValues": ["1", "2"], "default": 3}},
     "document.parameters.a.default: must be one of 1, 2, got 3"),
])
def test_bad_declarations(raw: Any, message: str) -> None:
    with pytest.raises(DocumentError) as info:
        parse_parameter_specs(raw, "document.parameters")
    assert str(info.value) == message


def test_values_from_lists_of_strings() -> None:
    values = resolve_values(SPECS, {"commands": ["uptime", "df"], "port": ["-8080"], "force": ["TRUE"],
                                    "labels": ['{"x": "y"}'], "items": ['[{"a": 1}, {"b": 2}]'],
                                    "token": ["t0k3n-xyz"]})
    assert values == {"service": "nginx", "commands": ("uptime", "df"), "port": -8080, "force": True,
                      "labels": {"x": "y"}, "items": ({"a": 1}, {"b": 2}), "token": "t0k3n-xyz", "mode": "safe"}
    again = resolve_values(SPECS, {"commands": "one", "items": ['{"a": 1}', '{"b": 2}'], "token": ["t0k3n-xyz"]})
    assert again["commands"] == ("one",) and again["items"] == ({"a": 1}, {"b": 2})


def test_defaults_are_copies() -> None:
    first = resolve_values(SPECS, {"commands": ["x"], "token": ["t0k3n-xyz"]})
    first["labels"]["changed"] = "yes"
    assert resolve_values(SPECS, {"commands": ["x"], "token": ["t0k3n-xyz"]})["labels"] == {"a": "1"}


BASE = {"commands": ["x"], "token": ["t0k3n-xyz"]}


@pytest.mark.parametrize(("given", "message"), [
    ({"commands": ["x"]}, "parameters.token: missing required parameter"),
    ({**BASE, "nope": ["1"]}, "parameters.nope: the document declares no such parameter (declared: service, "
                              "commands, port, force, labels, items, token, mode)"),
    ({**BASE, "service": []}, "parameters.service: expected one value, got none"),
    ({**BASE, "service": ["a", "b"]}, "parameters.service: expected one value, got 2"),
    ({**BASE, "service": [1]}, "parameters.service: expected a list of strings"),
    ({**BASE, "service": ["Nginx"]}, "parameters.service: must match allowedPattern '^[a-z]+$', got 'Nginx'"),
    ({**BASE, "service": ["a"]}, "parameters.service: must be at least 2 characters long, got 1"),
    ({**BASE, "service": ["abcdefghi"]}, "parameters.service: must be at most 8 characters long, got 9"),
    ({**BASE, "token": ["hunter2"]}, "parameters.token: a secret must be at least 8 characters long to be masked "
                                      "safely in output and logs"),
    ({**BASE, "commands": []}, "parameters.commands: must have at least 1 item, got 0"),
    ({**BASE, "commands": ["a", "b", "c", "d"]}, "parameters.commands: must have at most 3 items, got 4"),
    ({**BASE, "port": ["8o"]}, "parameters.port: expected an integer, got '8o'"),
    ({**BASE, "port": ["1.5"]}, "parameters.port: expected an integer, got '1.5'"),
    ({**BASE, "port": [" 80"]}, "parameters.port: expected an integer, got ' 80'"),
    ({**BASE, "port": ["1_000"]}, "parameters.port: expected an integer, got '1_000'"),
    ({**BASE, "port": ["80", "81"]}, "parameters.port: expected one value, got 2"),
    ({**BASE, "force": ["1"]}, "parameters.force: expected true or false, got '1'"),
    ({**BASE, "labels": ["[]"]}, "parameters.labels: expected a JSON object, got '[]'"),
    ({**BASE, "labels": ["{"]}, "parameters.labels: expected a JSON object, got '{'"),
    ({**BASE, "items": ['[1]']}, "parameters.items: expected a JSON list of objects, got '[1]'"),
    ({**BASE, "items": ['{"a": 1}', "2"]}, "parameters.items: expected a JSON object, got '2'"),
    ({**BASE, "mode": ["slow"]}, "parameters.mode: must be one of fast, safe, got 'slow'"),
    ({**BASE, "commands": ["a", "b\x00"]}, "parameters.commands[1]: contains a NUL character, which no command "
                                          "line, environment variable or database text can carry"),
    ({**BASE, "labels": ['{"a": "\\u0000"}']}, "parameters.labels.a: contains a NUL character, which no command "
                                                "line, environment variable or database text can carry"),
    ({**BASE, "labels": ['{"a":' * 65 + '{}' + '}' * 65]}, ("parameters.labels" + ".a" * 64)[:100] + "...: nested "
                                                                                               "deeper than 64 levels"),
    ({**BASE, "labels": ['{"a":' * 30_000]}, "parameters.labels: nested deeper than 64 levels"),
])
def test_bad_values(given: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        resolve_values(SPECS, given)
    assert str(info.value) == message


def test_where_prefixes_the_error() -> None:
    with pytest.raises(InputError) as info:
        resolve_values(SPECS, {"commands": ["x"]}, where="send.parameters")
    assert info.value.where == "send.parameters.token" and info.value.message == "missing required parameter"
    with pytest.raises(InputError, match="^parameters: expected a mapping"):
        resolve_values(SPECS, [("token", ["t0k3n-xyz"])])  # type: ignore[arg-type]


def test_a_secret_value_is_never_echoed() -> None:
    specs = parse_parameter_specs({"s": {"type": "String", "secret": True, "interpolationType": "ENV_VAR",
                                         "allowedPattern": "^x$", "allowedValues": ["x"], "maxChars": 3},
                                   "n": {"type": "Integer", "secret": True, "interpolationType": "ENV_VAR"},
                                   "m": {"type": "StringMap", "secret": True, "interpolationType": "ENV_VAR"}},
                                  "p")
    for given in ({"s": ["TOPSECRET"], "n": ["1"], "m": ["{}"]}, {"s": ["TOP"], "n": ["1"], "m": ["{}"]},
                  {"s": ["x"], "n": ["TOPSECRET"], "m": ["{}"]}, {"s": ["x"], "n": ["1"], "m": ["TOPSECRET"]}):
        with pytest.raises(InputError) as info:
            resolve_values(specs, given)
        assert "TOP" not in str(info.value)


VALUES = resolve_values(SPECS, {"commands": ["a", "b"], "token": ["$(id) # x"], "force": ["true"]})


@pytest.mark.parametrize(("text", "expected"), [
    ("systemctl restart {{ service }}", "systemctl restart nginx"),
    ("{{service}}-{{  service  }}", "nginx-nginx"),
    ("port={{ port }} force={{ force }} mode={{mode}}", "port=80 force=true mode=safe"),
    ("token={{ token }}", "token=${OUTPOST_TOKEN}"),
    ("{{.State.Status}} {{ json . }} {{ not-a-name }} {{}} {{",
     "{{.State.Status}} {{ json . }} {{ not-a-name }} {{}} {{"),
    ("no references", "no references"),
])
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, VALUES, SPECS, SHELL) == expected


def test_substituted_values_are_not_scanned_again() -> None:
    values = {**VALUES, "service": "{{ port }}"}
    assert interpolate("{{ service }}", values, SPECS, SHELL) == "{{ port }}"


SECURE_ONLY = ("can only be a secret parameter's value (secret: true, interpolationType: ENV_VAR), given at send "
               "or as its default: anywhere else a SecureString's value would be in the document as text")


@pytest.mark.parametrize(("text", "message"), [
    ("{{ nope }}", "x: references undeclared parameter 'nope'"),
    ("{{ssm:/a/b}}", "x: {{ssm:/a/b}}: no parameter '/a/b' in the parameter store (outpost parameter put)"),
    ("{{ ssm-secure:pw }}", f"x: {{{{ ssm-secure:pw }}}} {SECURE_ONLY}"),
    ("{{resolve:ssm:/a/b:2}}", "x: {{resolve:ssm:/a/b:2}}: {{resolve:...}} (CloudFormation's) is not supported; "
                               "write {{ssm:NAME}} or {{ssm-secure:NAME}}"),
    ("{{resolve:secretsmanager:x}}",
     "x: {{resolve:secretsmanager:x}}: Outpost has no Secrets Manager; put the secret in the parameter store "
     "(outpost parameter put NAME --type SecureString) and write {{ssm-secure:NAME}}"),
    ("{{ssm:/a/b:2}}", "x: {{ssm:/a/b:2}}: a version or label (NAME:2) is not supported; the parameter store's "
                       "latest version is used"),
    ("echo {{ commands }}", "x: parameter 'commands' is a StringList: it can only be a whole value "
                            "(\"{{ commands }}\"), not part of a string"),
    ("{{ labels }}", "x: parameter 'labels' is a StringMap: it can only be a whole value (\"{{ labels }}\"), "
                     "not part of a string"),
])
def test_interpolate_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        interpolate(text, VALUES, SPECS, SHELL, where="x")
    assert str(info.value) == message


def test_a_secret_parameter_needs_env_var() -> None:
    specs = parse_parameter_specs({"pw": {"type": "String", "secret": True}}, "p")
    with pytest.raises(InputError, match="^secret parameter 'pw' can only be passed with interpolationType: ENV_VAR$"):
        interpolate("x {{ pw }}", {"pw": "hunter2"}, specs, SHELL)
    with pytest.raises(InputError, match="can only be passed with interpolationType: ENV_VAR"):
        apply_to_inputs({"a": ["{{ pw }}"]}, {"pw": "hunter2"}, specs, SHELL)


def test_without_env_reference_values_are_substituted() -> None:
    specs = parse_parameter_specs({"e": {"type": "String", "interpolationType": "ENV_VAR"}}, "p")
    assert interpolate("{{ e }}", {"e": "prod"}, specs, None) == "prod"


def test_apply_to_inputs() -> None:
    inputs = {
        "runCommand": ["set -e", "{{ commands }}", "echo {{ service }}", "{{ items }}"],
        "whole": "{{ commands }}", "port": "{{ port }}", "force": "{{force}}", "labels": "{{ labels }}",
        "nested": {"deep": [{"x": "{{ port }}!"}, 5, None, True]}, "secret": "{{ token }}", "plain": "{{ service }}",
    }
    out = apply_to_inputs(inputs, VALUES, SPECS, SHELL)
    assert out == {
        "runCommand": ["set -e", "a", "b", "echo nginx", {"k": "v"}],
        "whole": ["a", "b"], "port": 80, "force": True, "labels": {"a": "1"},
        "nested": {"deep": [{"x": "80!"}, 5, None, True]}, "secret": "${OUTPOST_TOKEN}", "plain": "nginx",
    }
    assert inputs["runCommand"][1] == "{{ commands }}"  # not modified in place
    out["labels"]["b"] = "2"
    assert VALUES["labels"] == {"a": "1"}


def test_apply_to_inputs_names_the_path() -> None:
    with pytest.raises(InputError) as info:
        apply_to_inputs({"a": {"b": ["ok", "{{ nope }}"]}}, VALUES, SPECS, SHELL, where="mainSteps[0].inputs")
    assert info.value.where == "mainSteps[0].inputs.a.b[1]"


def test_environment_for() -> None:
    specs = parse_parameter_specs({
        "plain": {"type": "String"},
        "name": {"type": "String", "interpolationType": "ENV_VAR"},
        "hosts": {"type": "StringList", "interpolationType": "ENV_VAR"},
        "count": {"type": "Integer", "interpolationType": "ENV_VAR"},
        "on": {"type": "Boolean", "interpolationType": "ENV_VAR"},
        "tags": {"type": "StringMap", "interpolationType": "ENV_VAR"},
        "pw": {"type": "String", "interpolationType": "ENV_VAR", "secret": True},
    }, "p")
    values = resolve_values(specs, {"plain": ["x"], "name": ["$(rm -rf /)"], "hosts": ["a", "é"], "count": ["3"],
                                    "on": ["false"], "tags": ['{"b": "2", "a": "1"}'], "pw": ["hunter2-x"]})
    env, secret = environment_for(values, specs)
    assert env == {"OUTPOST_NAME": "$(rm -rf /)", "OUTPOST_HOSTS": '["a","é"]', "OUTPOST_COUNT": "3",
                   "OUTPOST_ON": "false", "OUTPOST_TAGS": '{"b":"2","a":"1"}', "OUTPOST_PW": "hunter2-x"}
    assert secret == ("OUTPOST_PW",)
    assert environment_for({}, ()) == ({}, ())


def test_stand_in_values_are_the_defaults_or_fit_the_declaration() -> None:
    specs = parse_parameter_specs({
        "word": {"type": "String"}, "long": {"type": "String", "minChars": 3},
        "choice": {"type": "String", "allowedValues": ["b", "a"]}, "lines": {"type": "StringList", "minItems": 2},
        "none": {"type": "StringList", "maxItems": 0}, "n": {"type": "Integer"},
        "pick": {"type": "Integer", "allowedValues": ["7"]}, "flag": {"type": "Boolean"},
        "labels": {"type": "StringMap"}, "items": {"type": "MapList"},
    }, "document.parameters") + SPECS[:1]
    assert stand_in_values(specs) == {
        "word": "1", "long": "111", "choice": "b", "lines": ("1", "1"), "none": (), "n": 1, "pick": 7,
        "flag": False, "labels": {}, "items": ({},), "service": "nginx"}
