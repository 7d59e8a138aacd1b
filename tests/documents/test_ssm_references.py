"""``{{ssm:NAME}}`` and ``{{ssm-secure:NAME}}`` filled from the parameter store at send
(controller/documents/ssmref.py), data-driven: a document, the values given at send and what the
store holds, rendered to what a node gets, or refused with one line naming where and the reference.
A SecureString's value only travels as a secret parameter's (the document's secret environment,
masked when shown); a document naming one anywhere else is refused at ``document create``."""
from __future__ import annotations

import json
from typing import Any

import pytest

from controller.documents.ssmdoc import parse_command_document, render
from controller.documents.ssmref import References, reference_names
from plugins.sdk.errors import DocumentError, InputError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.secrets import MASK
from plugins.sdk.wire.document import masked_json
from plugins.shell.plugin import ShellPlugin

REGISTRY = PluginRegistry([ShellPlugin()])
PASSWORD = "correct-horse-battery-staple"
STORE = References({
    "/app/name": ("String", "web"),
    "/app/hosts": ("StringList", "a.example,b.example"),
    "/app/db/password": ("SecureString", PASSWORD),
    "braces": ("String", "{{ other }} {{ssm:/app/name}}"),  # a value is not scanned again
    "plain": ("String", "not-secure-but-secret-here"),
})
SECURE_ONLY = ("can only be a secret parameter's value (secret: true, interpolationType: ENV_VAR), given at send or "
               "as its default: anywhere else a SecureString's value would be in the document as text")


def doc(steps: str, parameters: str = "") -> bytes:
    head = 'schemaVersion: "2.2"\n' + (f"parameters:\n{parameters}" if parameters else "")
    return (head + "mainSteps:\n" + steps).encode()


def shell(*lines: str, name: str = "a") -> str:
    return f"  - {{action: aws:runShellScript, name: {name}, inputs: {{runCommand: {json.dumps(list(lines))}}}}}\n"


PW_SECRET = "  pw: {type: String, secret: true, interpolationType: ENV_VAR}\n"

# (id, document, given, the first step's runCommand and the environment; or the error)
OK: list[tuple[str, bytes, dict[str, list[str]], list[str], dict[str, str]]] = [
    ("in step inputs", doc(shell("echo {{ssm:/app/name}}", "echo {{ ssm:/app/hosts }}")), {},
     ["echo web", "echo a.example,b.example"], {}),
    ("a value is not scanned again", doc(shell("echo '{{ssm:braces}}'")), {},
     ["echo '{{ other }} {{ssm:/app/name}}'"], {}),
    ("in a given value", doc(shell("{{ commands }}"), "  commands: {type: StringList}\n"),
     {"commands": ["echo {{ssm:/app/name}}", "hostname"]}, ["echo web", "hostname"], {}),
    ("in a default", doc(shell("echo {{ who }}"), '  who: {type: String, default: "app={{ssm:/app/name}}"}\n'), {},
     ["echo app=web"], {}),
    ("a default given instead", doc(shell("echo {{ who }}"), '  who: {type: String, default: "{{ssm:/nope}}"}\n'),
     {"who": ["me"]}, ["echo me"], {}),
    ("a secure value given to a secret parameter", doc(shell('login "{{ pw }}"'), PW_SECRET),
     {"pw": ["{{ssm-secure:/app/db/password}}"]}, ['login "${OUTPOST_PW}"'], {"OUTPOST_PW": PASSWORD}),
    ("a secure value as a secret parameter's default",
     doc(shell('login "{{ pw }}"'),
         PW_SECRET.replace("}\n", ', default: "{{ssm-secure:/app/db/password}}"}\n')),
     {}, ['login "${OUTPOST_PW}"'], {"OUTPOST_PW": PASSWORD}),
    ("a String through ssm-secure into a secret parameter", doc(shell('login "{{ pw }}"'), PW_SECRET),
     {"pw": ["{{ssm-secure:plain}}"]}, ['login "${OUTPOST_PW}"'], {"OUTPOST_PW": "not-secure-but-secret-here"}),
    ("in an ENV_VAR parameter", doc(shell('echo "{{ e }}"'), "  e: {type: String, interpolationType: ENV_VAR}\n"),
     {"e": ["{{ssm:/app/name}}"]}, ['echo "${OUTPOST_E}"'], {"OUTPOST_E": "web"}),
]

BAD: list[tuple[str, bytes, dict[str, list[str]], str]] = [
    ("unknown in step inputs", doc(shell("true", name="first") + shell("echo {{ssm:/app/missing}}", name="second")),
     {}, "InputError: mainSteps[1].inputs.runCommand[0]: {{ssm:/app/missing}}: no parameter '/app/missing' in the "
         "parameter store (outpost parameter put)"),
    ("unknown in a given value", doc(shell("echo {{ x }}"), "  x: {type: String}\n"), {"x": ["{{ssm:nope}}"]},
     "InputError: parameters.x: {{ssm:nope}}: no parameter 'nope' in the parameter store (outpost parameter put)"),
    ("unknown in a default", doc(shell("echo {{ x }}"), '  x: {type: String, default: "{{ssm:nope}}"}\n'), {},
     "InputError: parameters.x.default: {{ssm:nope}}: no parameter 'nope' in the parameter store "
     "(outpost parameter put)"),
    ("ssm: of a SecureString", doc(shell("echo {{ssm:/app/db/password}}")), {},
     "InputError: mainSteps[0].inputs.runCommand[0]: {{ssm:/app/db/password}}: /app/db/password is a SecureString: "
     "refer to it as {{ssm-secure:/app/db/password}}, which only a secret parameter's value can be"),
    ("ssm-secure given to a parameter that is not secret", doc(shell("echo {{ x }}"), "  x: {type: String}\n"),
     {"x": ["{{ssm-secure:/app/db/password}}"]}, f"InputError: parameters.x: {{{{ssm-secure:/app/db/password}}}} "
                                                 f"{SECURE_ONLY}"),
    ("a filled value checked", doc(shell("echo {{ x }}"), '  x: {type: String, allowedValues: [api]}\n'),
     {"x": ["{{ssm:/app/name}}"]}, "InputError: parameters.x: must be one of api, got 'web'"),
    ("a filled secret value not shown", doc(shell('login "{{ pw }}"'),
                                            PW_SECRET.replace("}\n", ", allowedPattern: '^x'}\n")),
     {"pw": ["{{ssm-secure:/app/db/password}}"]},
     "InputError: parameters.pw: must match allowedPattern '^x', got a value that is not shown (secret parameter)"),
]

# refused at `document create`: where a reference may not be is known before any value
CREATE: list[tuple[str, bytes, str]] = [
    ("ssm-secure in step inputs", doc(shell("echo {{ssm-secure:/app/db/password}}")),
     f"document.mainSteps[0].inputs.runCommand[0]: {{{{ssm-secure:/app/db/password}}}} {SECURE_ONLY} (line 3)"),
    ("ssm-secure in a default that is not secret",
     doc(shell("echo {{ x }}"), '  x: {type: String, default: "{{ssm-secure:/app/db/password}}"}\n'),
     f"document.parameters.x.default: {{{{ssm-secure:/app/db/password}}}} {SECURE_ONLY} (line 3)"),
    ("a reference in an Integer default", doc(shell("sleep {{ n }}"), '  n: {type: Integer, default: "{{ssm:/n}}"}\n'),
     "document.parameters.n.default: only a String or StringList parameter's default can refer to the parameter "
     "store (line 3)"),
    ("a secret default that is text", doc(shell('login "{{ pw }}"'),
                                          PW_SECRET.replace("}\n", ", default: 'x{{ssm-secure:/a}}'}\n")),
     "document.parameters.pw.default: a secret parameter cannot have a default (it would be stored in the "
     "document), other than a reference: \"{{ssm-secure:NAME}}\" (line 3)"),
    ("resolve:", doc(shell("echo {{resolve:ssm:/app/name}}")),
     "document.mainSteps[0].inputs.runCommand[0]: {{resolve:ssm:/app/name}}: {{resolve:...}} (CloudFormation's) is "
     "not supported; write {{ssm:NAME}} or {{ssm-secure:NAME}} (line 3)"),
]


@pytest.mark.parametrize(("content", "given", "commands", "environment"), [c[1:] for c in OK], ids=[c[0] for c in OK])
def test_references_are_filled(content: bytes, given: dict[str, list[str]], commands: list[str],
                               environment: dict[str, str]) -> None:
    rendered = render(parse_command_document(content), given, REGISTRY, references=STORE)
    assert rendered.steps[0].inputs["runCommand"] == commands
    assert dict(rendered.environment) == environment
    shown = json.dumps(masked_json(rendered))
    assert PASSWORD not in shown  # the document as shown never holds a SecureString's value
    assert PASSWORD not in json.dumps(rendered.to_json()["mainSteps"])  # nor do its steps
    if PASSWORD in environment.values():
        assert rendered.secret_names == ("OUTPOST_PW",) and MASK in shown


@pytest.mark.parametrize(("content", "given", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_reference_that_cannot_be_filled_refuses_the_send(content: bytes, given: dict[str, list[str]],
                                                            message: str) -> None:
    with pytest.raises((InputError, DocumentError)) as info:
        render(parse_command_document(content), given, REGISTRY, references=STORE)
    assert f"{type(info.value).__name__}: {info.value}" == message
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(("content", "message"), [c[1:] for c in CREATE], ids=[c[0] for c in CREATE])
def test_a_reference_where_it_may_not_be_is_refused_at_create(content: bytes, message: str) -> None:
    with pytest.raises(DocumentError) as info:
        parse_command_document(content)
    assert str(info.value) == message


def test_without_the_store_every_reference_is_refused_never_passed_as_text() -> None:
    with pytest.raises(InputError, match="no parameter '/app/name' in the parameter store"):
        render(parse_command_document(doc(shell("echo {{ssm:/app/name}}"))), {}, REGISTRY)


@pytest.mark.parametrize(("value", "names"), [
    ("echo {{ssm:/a}} {{ ssm-secure:b }} {{resolve:ssm:c}} {{ x }}", {"/a", "b"}),
    ({"k": ["{{ssm:/a}}", ("{{ssm:/b}}",)], "n": 3}, {"/a", "/b"}),
    ([], set()),
])
def test_reference_names(value: Any, names: set[str]) -> None:
    assert reference_names(value) == names
