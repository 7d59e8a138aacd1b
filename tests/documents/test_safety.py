"""Which parameters reach a script as text (controller/documents/safety.py): documents in, warnings out."""
from __future__ import annotations

from importlib import resources

import pytest

from controller.documents.catalog import BUILTIN_PACKAGE
from controller.documents.safety import unsafe_parameters
from controller.documents.ssmdoc import parse_command_document


def doc(parameters: str, run: str, action: str = "aws:runShellScript") -> bytes:
    return (f'schemaVersion: "2.2"\nparameters:\n{parameters}\nmainSteps:\n'
            f"  - action: {action}\n    name: s\n    inputs:\n      runCommand: [{run!r}]\n").encode()


PASTED = ("mainSteps[0] (s): parameter 'name' is pasted into the script as text, so a value can run commands; "
          "give it allowedPattern or allowedValues, or interpolationType: ENV_VAR")

CASES = [
    ("a String pasted into a line", "  name: {type: String}", "touch /srv/{{ name }}", "aws:runShellScript", [PASTED]),
    ("the same in PowerShell", "  name: {type: String}", "New-Item C:\\{{ name }}", "aws:runPowerShellScript",
     [PASTED]),
    ("with allowedPattern", "  name: {type: String, allowedPattern: '^[a-z]+$'}", "touch /srv/{{ name }}",
     "aws:runShellScript", []),
    ("with allowedValues", "  name: {type: String, allowedValues: [a, b]}", "touch /srv/{{ name }}",
     "aws:runShellScript", []),
    ("as ENV_VAR", "  name: {type: String, interpolationType: ENV_VAR}", "touch /srv/{{ name }}",
     "aws:runShellScript", []),
    ("an Integer", "  name: {type: Integer}", "sleep {{ name }}", "aws:runShellScript", []),
    ("the whole value: the script itself", "  name: {type: String}", "{{ name }}", "aws:runShellScript", []),
]


@pytest.mark.parametrize("parameters,run,action,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parameters_pasted_into_a_script(parameters: str, run: str, action: str, expected: list[str]) -> None:
    assert list(unsafe_parameters(parse_command_document(doc(parameters, run, action), "YAML"))) == expected


def test_the_built_in_documents_are_safe() -> None:
    builtin = resources.files(BUILTIN_PACKAGE)
    for name in ("Outpost-RunShellScript.yaml", "Outpost-RunPowerShellScript.yaml"):
        assert unsafe_parameters(parse_command_document(builtin.joinpath(name).read_bytes(), "YAML")) == (), name


def test_a_1_2_step_is_named_by_its_place() -> None:
    from controller.documents.safety import unsafe_parameters
    from controller.documents.ssmdoc import parse_command_document
    doc = parse_command_document(b"schemaVersion: '1.2'\nparameters: {name: {type: String}}\nruntimeConfig:\n"
                                 b"  aws:runShellScript:\n    properties: [{runCommand: ['touch /srv/{{ name }}']}]\n")
    assert unsafe_parameters(doc) == (
        "runtimeConfig.aws:runShellScript.properties[0] (0.aws:runShellScript): parameter 'name' is pasted into the "
        "script as text, so a value can run commands; give it allowedPattern or allowedValues, or "
        "interpolationType: ENV_VAR",)
