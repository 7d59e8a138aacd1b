"""controller.documents.ssmdoc: stored SSM command documents and their rendering into signed Documents.

Data-driven: every ``ssmdoc_cases/ok/*.yaml`` renders to the Document JSON in the ``.json``
beside it; every ``ssmdoc_cases/bad/*.yaml`` fails (parsing or rendering) with exactly the
``<ErrorClass>: <message>`` in the ``.err`` beside it. A case's ``# given: {...}`` comment line
holds the parameter values (SSM's map of name to list of strings) to render with.
``OUTPOST_UPDATE_GOLDEN=1`` rewrites the golden files from the current output: read the diff.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from controller.documents.parameters import ParamType
from controller.documents.ssmdoc import (
    CommandDocument,
    StepTemplate,
    check_actions,
    parse_command_document,
    render,
)
from plugins.sdk.errors import DocumentError, InputError, OutpostError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES, OnFailure, Precondition, document_from_bytes, masked_json
from plugins.shell.plugin import ShellPlugin

HERE = Path(__file__).parent / "ssmdoc_cases"
OK_CASES = sorted((HERE / "ok").glob("*.yaml"))
BAD_CASES = sorted((HERE / "bad").glob("*.yaml"))
UPDATE = os.environ.get("OUTPOST_UPDATE_GOLDEN") == "1"
REGISTRY = PluginRegistry([ShellPlugin()])
GIVEN = re.compile(r"^# given: (.*)$", re.MULTILINE)


def _given(text: str) -> dict[str, list[str]]:
    match = GIVEN.search(text)
    return json.loads(match.group(1)) if match else {}


def _render_case(path: Path) -> Any:
    data = path.read_bytes()
    return render(parse_command_document(data, None), _given(data.decode()), REGISTRY)


def test_there_are_cases() -> None:
    assert len(OK_CASES) >= 8 and len(BAD_CASES) >= 20


@pytest.mark.parametrize("path", OK_CASES, ids=[p.stem for p in OK_CASES])
def test_ok_cases(path: Path) -> None:
    doc = _render_case(path)
    golden = path.with_suffix(".json")
    if UPDATE:
        golden.write_text(json.dumps(doc.to_json(), indent=2, ensure_ascii=False) + "\n")
    assert doc.to_json() == json.loads(golden.read_text())
    again = document_from_bytes(doc.canonical_bytes())  # what the agent parses
    assert again == doc


@pytest.mark.parametrize("path", BAD_CASES, ids=[p.stem for p in BAD_CASES])
def test_bad_cases(path: Path) -> None:
    with pytest.raises(OutpostError) as info:
        _render_case(path)
    got = f"{type(info.value).__name__}: {info.value}"
    expected = path.with_suffix(".err")
    if UPDATE:
        expected.write_text(got + "\n")
    assert got == expected.read_text().rstrip("\n")
    assert isinstance(info.value, (DocumentError, InputError))


# -- the issue's document, and injection ------------------------------------------------------

def test_the_issue_document() -> None:
    doc = _render_case(HERE / "ok" / "restart_nginx.yaml")
    assert doc.steps[0].inputs["runCommand"] == ["systemctl restart nginx"]
    doc = _render_case(HERE / "ok" / "restart_httpd.yaml")
    assert doc.steps[0].inputs["runCommand"] == ["systemctl restart httpd"]
    assert doc.steps[0].name == "restartService" and doc.steps[0].action == "aws:runShellScript"


def test_an_env_var_value_is_never_in_the_script() -> None:
    doc = _render_case(HERE / "ok" / "env_var_injection.yaml")
    assert doc.steps[0].inputs["runCommand"] == ['echo "${OUTPOST_VALUE}"', "printf '%s\\n' \"${OUTPOST_VALUE}\""]
    assert dict(doc.environment) == {"OUTPOST_VALUE": "$(touch /tmp/outpost-pwned)"}
    assert "touch" not in json.dumps(doc.to_json()["mainSteps"])
    assert doc.secret_names == ()


# -- the parsed form --------------------------------------------------------------------------

def test_parsed_templates_keep_their_references() -> None:
    doc = parse_command_document((HERE / "ok" / "flow_control.yaml").read_bytes(), "YAML")
    assert isinstance(doc, CommandDocument) and doc.schema_version == "2.2"
    first, second, third, last = doc.steps
    assert first == StepTemplate("stop-on-failure", "aws:runShellScript",
                                 {"runCommand": ["false"], "timeoutSeconds": 60}, on_failure=OnFailure.EXIT)
    assert second.on_failure is OnFailure.SUCCESS_AND_EXIT and second.timeout_seconds == 30
    assert third.on_success_exit and third.on_failure is OnFailure.CONTINUE and "onSuccess" not in third.inputs
    assert last.finally_step and last.inputs == {"runCommand": ["rm -rf /tmp/work"]}
    pre = parse_command_document((HERE / "ok" / "precondition.yaml").read_bytes())
    assert [s.precondition for s in pre.steps] == [("platformType", "Linux"), ("{{ stage }}", "prod")]
    assert pre.parameters[0].type is ParamType.STRING and pre.parameters[0].allowed_values == ("dev", "prod")


def test_json_and_yaml_give_the_same_document() -> None:
    yaml_doc = parse_command_document((HERE / "ok" / "precondition.yaml").read_bytes())
    as_json = json.dumps({
        "schemaVersion": "2.2", "description": "Preconditions",
        "parameters": {"stage": {"type": "String", "allowedValues": ["dev", "prod"], "default": "dev"}},
        "mainSteps": [
            {"action": "aws:runShellScript", "name": "linux",
             "precondition": {"StringEquals": ["platformType", "Linux"]}, "inputs": {"runCommand": "uname -a"}},
            {"action": "aws:runShellScript", "name": "only-in-prod",
             "precondition": {"StringEquals": ["{{ stage }}", "prod"]}, "inputs": {"runCommand": "echo prod"}}]},
        indent=2).encode()
    assert parse_command_document(as_json, None) == yaml_doc
    assert parse_command_document(as_json, "JSON") == yaml_doc
    assert parse_command_document(as_json, "YAML") == yaml_doc  # JSON is YAML
    assert parse_command_document(b"\xef\xbb\xbf" + as_json) == yaml_doc  # a BOM


@pytest.mark.parametrize(("content", "fmt", "message"), [
    (b"{", "JSON", "document is not valid JSON: Expecting property name enclosed in double quotes: "
                   "line 1 column 2 (char 1)"),
    (b'{"a": 1, "a": 2}', None, "document: duplicate key 'a'"),
    (b'{"schemaVersion": NaN}', None, "document is not valid JSON: NaN is not a number"),
    (b"{}", "TEXT", "document format 'TEXT' is not supported (supported: JSON, YAML)"),
    (b"\xff", None, "document is not valid UTF-8"),
    (b"", None, "document: expected a mapping, got null"),
    (b"- a\n- b\n", None, "document: expected a mapping, got a list"),
    (b"a: [\n", None, "document is not valid YAML: expected the node content, but found '<stream end>' (line 2)"),
    (b"a: !!python/object:os.system x\n", None,
     "document is not valid YAML: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object:os.system' (line 1)"),
    (b"[" * 40000, "JSON", "document: nested deeper than 64 levels"),
    (b"[" * 30000 + b"]" * 30000, "JSON", "document: nested deeper than 64 levels"),
    (b"a: " + b"[" * 30000 + b"]" * 30000, "YAML", "document: nested deeper than 64 levels (line 1)"),
    (b"a: " + b"[" * 64 + b"]" * 64, "YAML", "document: nested deeper than 64 levels (line 1)"),
    ("".join(f"{'  ' * i}k{i}:\n" for i in range(70)).encode(), "YAML",
     "document: nested deeper than 64 levels (line 65)"),
    (b'{"schemaVersion": "2.2", "description": "a\\u0000b", "mainSteps": []}', "JSON",
     "document.description: contains a NUL character, which no command line, environment variable or "
     "database text can carry"),
    (b'schemaVersion: "2.2"\ndescription: "a\\0b"\nmainSteps: []\n', "YAML",
     "document.description: contains a NUL character, which no command line, environment variable or "
     "database text can carry (line 2)"),
    # found by tests/fuzz: each of these raised from PyYAML (ReaderError, ValueError, AttributeError)
    # or failed to encode once rendered (UnicodeEncodeError), instead of a DocumentError
    (b"a: 1\nb: \"\x7f\"\n", None,
     "document is not valid YAML: character '\\x7f' is not allowed (special characters are not allowed) (line 2)"),
    (b"a: !!int x\n", None, "document is not valid YAML: a value does not read as its type (!!int, !!timestamp...) "
                            "(invalid literal for int() with base 10: 'x')"),
    (b"a: 2024-13-45\n", None, "document is not valid YAML: a value does not read as its type (!!int, "
                               "!!timestamp...) (month must be in 1..12)"),
    (b"a: !!timestamp\n", None, "document is not valid YAML: a value does not read as its type (!!int, "
                                "!!timestamp...)"),
    (b'description: "\\ud800"\n', None,
     "document.description: holds a lone surrogate (a \\uD800-\\uDFFF escape), which is no character (line 1)"),
    (b"?", None, "document: keys must be strings, got null None"),  # the surrogate check took keys for text
    (b'{"schemaVersion": "2.2", "mainSteps": [{"\\udc00": 1}]}', None,
     "document.mainSteps[0] (a key): holds a lone surrogate (a \\uD800-\\uDFFF escape), which is no character"),
])
def test_unreadable_documents(content: bytes, fmt: str | None, message: str) -> None:
    with pytest.raises(DocumentError) as info:
        parse_command_document(content, fmt)
    assert str(info.value) == message


def test_yaml_alias_expansion_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(DocumentError, match="^document is too large once its YAML aliases are expanded$"):
        parse_command_document("\n".join(lines).encode())
    with pytest.raises(DocumentError, match=r"^document\.a(\[0\]){63}: nested deeper than 64 levels \(line 1\)$"):
        parse_command_document(b"a: &a [*a]\n")  # a recursive alias


def test_stored_content_over_64_kb_is_refused() -> None:
    head = b'schemaVersion: "2.2"\nmainSteps:\n- {action: shell, name: a, inputs: {cmd: "true"}}\n'
    padding = b"#" * (MAX_DOCUMENT_BYTES - len(head) - 1) + b"\n"
    assert len(head + padding) == MAX_DOCUMENT_BYTES
    assert parse_command_document(head + padding).steps[0].name == "a"
    with pytest.raises(DocumentError, match="^document content is 65537 bytes; the limit is 65536$"):
        parse_command_document(head + padding + b"#")


def test_check_actions() -> None:
    doc = parse_command_document(b"schemaVersion: '2.2'\nmainSteps:\n- {action: aws:runShellScript, name: a}\n"
                                 b"- {action: aws:runPowerShellScript, name: b}\n")
    with pytest.raises(DocumentError, match=r"^document.mainSteps\[1\].action: unknown action "
                                            r"'aws:runPowerShellScript' \(known: aws:runShellScript, shell\)$"):
        check_actions(doc, REGISTRY)
    check_actions(parse_command_document((HERE / "ok" / "flow_control.yaml").read_bytes()), REGISTRY)


# -- the 64 KB limit, runtime parameters included ---------------------------------------------

SIZED = b"""schemaVersion: '2.2'
parameters:
  filler: {type: String}
mainSteps:
- action: aws:runShellScript
  name: big
  inputs:
    runCommand: ["echo {{ filler }}"]
"""


def _filler_for(size: int) -> dict[str, list[str]]:
    doc = parse_command_document(SIZED)
    base = len(render(doc, {"filler": [""]}, REGISTRY).canonical_bytes())
    return {"filler": ["x" * (size - base)]}


def test_a_rendered_document_of_exactly_64_kb_is_accepted() -> None:
    doc = render(parse_command_document(SIZED), _filler_for(MAX_DOCUMENT_BYTES), REGISTRY)
    assert len(doc.canonical_bytes()) == MAX_DOCUMENT_BYTES == 65536
    assert document_from_bytes(doc.canonical_bytes()) == doc


def test_a_rendered_document_of_64_kb_and_one_byte_is_refused() -> None:
    with pytest.raises(DocumentError) as info:
        render(parse_command_document(SIZED), _filler_for(MAX_DOCUMENT_BYTES + 1), REGISTRY)
    assert str(info.value) == "document is 65537 bytes once parameters are applied; the limit is 65536"


def test_the_limit_counts_the_environment_and_can_be_lowered() -> None:
    doc = parse_command_document(SIZED.replace(b"{type: String}", b"{type: String, interpolationType: ENV_VAR}"))
    rendered = render(doc, {"filler": ["x" * 100]}, REGISTRY)
    size = len(rendered.canonical_bytes())
    assert render(doc, {"filler": ["x" * 100]}, REGISTRY, max_bytes=size) == rendered
    with pytest.raises(DocumentError, match=f"^document is {size} bytes once parameters are applied; "
                                            f"the limit is {size - 1}$"):
        render(doc, {"filler": ["x" * 100]}, REGISTRY, max_bytes=size - 1)


# -- secrets ----------------------------------------------------------------------------------

SECRET = "hunter2-Sup3rSecret"
SECRET_DOC = b"""schemaVersion: '2.2'
parameters:
  token:
    type: String
    secret: true
    interpolationType: ENV_VAR
    allowedPattern: '^[a-z]+$'
    minChars: 4
    maxChars: 64
  pin:
    type: Integer
    secret: true
    interpolationType: ENV_VAR
mainSteps:
- action: aws:runShellScript
  name: use
  inputs:
    runCommand: ['login "{{ token }}" {{ pin }}']
"""


def test_secret_values_never_appear_in_errors() -> None:
    doc = parse_command_document(SECRET_DOC)
    for given in ({"token": [SECRET], "pin": ["1"]},                        # allowedPattern
                  {"token": [SECRET * 10], "pin": ["1"]},                   # maxChars
                  {"token": ["ab"], "pin": ["1"]},                          # minChars
                  {"token": ["abcd"], "pin": [SECRET]},                     # not an integer
                  {"token": ["abcd", SECRET], "pin": ["1"]}):               # two values
        with pytest.raises(InputError) as info:
            render(doc, given, REGISTRY)
        for value in given["token"] + given["pin"]:
            if value not in ("1", "abcd"):
                assert value not in str(info.value) and value[:6] not in str(info.value)
        assert str(info.value).startswith("parameters.")


def test_secret_values_are_masked_in_the_display_form() -> None:
    doc = render(parse_command_document(SECRET_DOC),
                 {"token": ["abcdefghi"], "pin": ["12345678"]}, REGISTRY)
    assert doc.secret_names == ("OUTPOST_TOKEN", "OUTPOST_PIN")
    assert dict(doc.environment) == {"OUTPOST_TOKEN": "abcdefghi", "OUTPOST_PIN": "12345678"}
    shown = masked_json(doc)
    assert shown["environment"] == {"OUTPOST_TOKEN": "********", "OUTPOST_PIN": "********"}
    assert "abcdefghi" not in json.dumps(shown) and "12345678" not in json.dumps(shown)
    assert "abcdefghi" not in repr(doc) and "abcdefghi" in doc.secret_values()
    assert doc.steps[0].inputs["runCommand"] == ['login "${OUTPOST_TOKEN}" "${OUTPOST_PIN}"']  # one word each
    assert doc.to_json()["environment"]["OUTPOST_TOKEN"] == "abcdefghi"  # the signed form carries it


def test_secret_ok_case_is_masked() -> None:
    doc = _render_case(HERE / "ok" / "secret_parameter.yaml")
    assert "s3cr3t-t0ken" not in json.dumps(masked_json(doc))
    assert masked_json(doc)["environment"]["OUTPOST_USER"] == "deploy"


# -- preconditions ----------------------------------------------------------------------------

def test_precondition_holds_on_the_platform() -> None:
    linux = Precondition("platformType", "Linux")
    assert linux.holds(Platform.LINUX) and not linux.holds(Platform.WINDOWS)
    assert Precondition("Windows", "platformType").holds(Platform.WINDOWS)
    assert Precondition("prod", "prod").holds(Platform.MACOS)
    assert not Precondition("dev", "prod").holds(Platform.LINUX)
    doc = _render_case(HERE / "ok" / "precondition.yaml")
    assert [s.precondition for s in doc.steps] == [Precondition("platformType", "Linux"),
                                                   Precondition("prod", "prod")]


def test_a_parameter_value_cannot_become_platform_type() -> None:
    doc = parse_command_document(b"""schemaVersion: '2.2'
parameters: {p: {type: String}}
mainSteps:
- action: shell
  name: a
  precondition: {StringEquals: ["{{ p }}", Linux]}
  inputs: {cmd: "true"}
""")
    with pytest.raises(InputError, match=r"^mainSteps\[0\].precondition: a parameter's value cannot be "
                                         r"'platformType'$"):
        render(doc, {"p": ["platformType"]}, REGISTRY)
    assert render(doc, {"p": ["Linux"]}, REGISTRY).steps[0].precondition == Precondition("Linux", "Linux")


def test_an_env_var_value_does_not_run_in_a_real_shell(tmp_path: Path) -> None:
    import subprocess
    marker = tmp_path / "pwned"
    value = f"$(touch {marker}); `touch {marker}`"
    doc = render(parse_command_document((HERE / "ok" / "env_var_injection.yaml").read_bytes()),
                 {"value": [value]}, REGISTRY)
    script = "\n".join(doc.steps[0].inputs["runCommand"])
    out = subprocess.run(["/bin/sh", "-c", script], env=dict(doc.environment), capture_output=True, text=True,
                         check=True, timeout=10)
    assert out.stdout == f"{value}\n{value}\n"
    assert not marker.exists()


# -- schema 1.2 and 2.0 -----------------------------------------------------------------------

PUBLISHED_12 = HERE / "published" / "AWS-RunShellScript-1.2.json"


def test_the_published_1_2_document_reads_as_one_step_per_properties_entry() -> None:
    doc = parse_command_document(PUBLISHED_12.read_bytes(), "JSON")
    assert doc == parse_command_document((HERE / "ok" / "schema12_aws_runshellscript.yaml").read_bytes())
    assert doc.schema_version == "1.2" and [p.name for p in doc.parameters] == ["commands", "workingDirectory",
                                                                                "executionTimeout"]
    (step,) = doc.steps
    assert step == StepTemplate("0.aws:runShellScript", "aws:runShellScript",
                                {"runCommand": "{{ commands }}", "workingDirectory": "{{ workingDirectory }}",
                                 "timeoutSeconds": "{{ executionTimeout }}"},
                                where="runtimeConfig.aws:runShellScript.properties[0]")
    assert step.precondition is None  # the plugin's platforms decide, as for a 2.2 step without one
    rendered = render(doc, {"commands": ["id"]}, REGISTRY)
    assert rendered.schema_version == "2.2" and rendered.steps[0].inputs["timeoutSeconds"] == 3600
    with pytest.raises(InputError, match=r"^parameters\.commands: must have at least 1 item, got 0$"):
        render(doc, {"commands": []}, REGISTRY)


def test_check_actions_names_the_1_2_plugin() -> None:
    doc = parse_command_document(b"schemaVersion: '1.2'\nruntimeConfig:\n  aws:runPowerShellScript:\n"
                                 b"    properties: [{runCommand: [dir]}]\n")
    assert [s.name for s in doc.steps] == ["0.aws:runPowerShellScript"]
    with pytest.raises(DocumentError, match=r"^document\.runtimeConfig\.aws:runPowerShellScript: unknown action "):
        check_actions(doc, REGISTRY)


def test_schema_2_0_keeps_its_version_and_renders_as_2_2() -> None:
    doc = parse_command_document((HERE / "ok" / "schema20.yaml").read_bytes())
    assert doc.schema_version == "2.0" and doc.steps[0].where == ""
    assert _render_case(HERE / "ok" / "schema20.yaml").schema_version == "2.2"
