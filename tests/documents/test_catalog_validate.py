"""DocumentCatalog.validate: what `document create|update` checks, the checks a send of the document
runs (every step's inputs against its plugin's schema), with each parameter's default or a stand-in
for the values a send gives. The controller then runs the dispatcher's check on ``rendered`` too
(tests/e2e/test_bad_input_findings.py)."""
from __future__ import annotations

from importlib import resources

import pytest

from controller.documents.catalog import BUILTIN_ALIASES, BUILTIN_PACKAGE, DocumentCatalog
from plugins.sdk.errors import DocumentError, InputError, OutpostError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import document_from_bytes
from plugins.shell.plugin import ShellPlugin

CATALOG = DocumentCatalog(None, PluginRegistry([ShellPlugin()]))  # type: ignore[arg-type] - validate reads no store


def _doc(inputs: str, parameters: str = "", step: str = "") -> bytes:
    params = f"parameters:\n{parameters}" if parameters else ""
    return (f'schemaVersion: "2.2"\n{params}mainSteps:\n  - action: aws:runShellScript\n    name: run\n'
            f'{step}    inputs: {inputs}\n').encode()


def test_the_builtin_documents_pass() -> None:
    catalog = DocumentCatalog(None, PluginRegistry.discover())  # type: ignore[arg-type]
    builtins = {e.name: e for e in resources.files(BUILTIN_PACKAGE).iterdir() if e.name.endswith(".yaml")}
    assert set(builtins) == {"Outpost-RunShellScript.yaml", "Outpost-RunPowerShellScript.yaml",
                             "Outpost-UpdateAgent.yaml", "Outpost-ApplyPatchBaseline.yaml"}
    for name in ("Outpost-RunShellScript.yaml", "Outpost-RunPowerShellScript.yaml"):
        summary = catalog.validate(builtins[name].read_bytes(), "YAML")
        assert summary.parameters == ("commands", "workingDirectory", "executionTimeout")
        assert document_from_bytes(summary.rendered).steps[0].inputs["timeoutSeconds"] == 3600
    update = catalog.validate(builtins["Outpost-UpdateAgent.yaml"].read_bytes(), "YAML")
    assert update.parameters == ("version", "allowDowngrade")
    assert document_from_bytes(update.rendered).steps[0].inputs == {
        "version": "", "allow_downgrade": False, "sha256": "", "reconnect_timeout_seconds": 300}
    patch = catalog.validate(builtins["Outpost-ApplyPatchBaseline.yaml"].read_bytes(), "YAML")
    assert patch.parameters == ("Operation", "BaselineName", "RebootOption", "SnapshotId")
    assert patch.unsafe == ()
    (step,) = document_from_bytes(patch.rendered).steps
    assert (step.action, step.inputs["baseline"], step.inputs["reboot_option"], step.inputs["snapshot_id"]) == (
        "patch", "default", "RebootIfNeeded", "")  # a baseline's name: the controller puts its text in at send
    assert BUILTIN_ALIASES["Outpost-ApplyPatchBaseline"] == ("AWS-RunPatchBaseline",)


@pytest.mark.parametrize(("content", "message"), [
    (_doc('{runCommand: [echo], timeoutSeconds: "abc"}'),
     "mainSteps[0].inputs.timeoutSeconds: expected an integer, got a string (line 5)"),
    (_doc("{runCommand: 5}"), "mainSteps[0].inputs.runCommand: expected a list of strings, got an integer (line 5)"),
    (_doc("{runCommand: [echo], timeoutSeconds: 172801}"), "mainSteps[0].inputs.timeoutSeconds: must be at most "
                                                          "172800, got 172801 (line 5)"),
    (_doc("{runCommand: [echo], retries: 3}"), "mainSteps[0].inputs.retries: unsupported parameter (supported: "
                                               "runCommand, timeoutSeconds, workingDirectory) (line 5)"),
    # a default is what every send that omits the parameter runs
    (_doc('{runCommand: [echo], timeoutSeconds: "{{ t }}"}', '  t: {type: String, default: "soon"}\n'),
     "mainSteps[0].inputs.timeoutSeconds: expected an integer, got a string (line 7)"),
    # a required parameter's type cannot fit the input, whatever its value
    (_doc('{runCommand: "{{ labels }}"}', "  labels: {type: StringMap}\n"),
     "mainSteps[0].inputs.runCommand: expected a list of strings, got a mapping (with a stand-in value for the "
     "required parameter labels) (line 7)"),
], ids=["timeoutSeconds a word", "runCommand a number", "beyond the plugin's maximum", "an unknown input",
        "a default that does not fit", "a parameter type that cannot fit"])
def test_what_a_send_refuses_is_refused(content: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        CATALOG.validate(content, "YAML")
    assert str(info.value) == message


@pytest.mark.parametrize("content", [
    _doc('{runCommand: "{{ commands }}", timeoutSeconds: "{{ t }}"}',
         "  commands: {type: StringList, minItems: 2}\n  t: {type: String, allowedPattern: '^[0-9]+$'}\n"),
    _doc('{runCommand: ["echo {{ word }}"], workingDirectory: "{{ dir }}"}',
         "  word: {type: String, allowedValues: [a, b]}\n  dir: {type: String, minChars: 2}\n"),
    _doc('{runCommand: ["echo {{ n }} {{ flag }}"], timeoutSeconds: "{{ n }}"}',
         "  n: {type: Integer}\n  flag: {type: Boolean}\n"),
], ids=["lists and numbers as strings", "allowed values and lengths", "integers and booleans"])
def test_documents_whose_parameters_a_send_fills_are_stored(content: bytes) -> None:
    summary = CATALOG.validate(content, "YAML")
    assert document_from_bytes(summary.rendered).steps[0].name == "run"


def test_structure_and_limits_are_refused_as_they_parse() -> None:
    with pytest.raises(DocumentError, match=r"^document\.mainSteps\[0\]\.timeoutSeconds: must be at most 2592000"):
        CATALOG.validate(_doc("{runCommand: [echo]}", step="    timeoutSeconds: 99999999999999999999\n"), "YAML")
    with pytest.raises(OutpostError, match="nested deeper than 64 levels"):
        CATALOG.validate(_doc("{runCommand: " + "[" * 30_000 + "]" * 30_000 + "}"), "YAML")


def _steps(*steps: str) -> bytes:
    return ('schemaVersion: "2.2"\nmainSteps:\n' + "".join(steps)).encode()


SHELL_STEP = "  - action: aws:runShellScript\n    name: first\n    inputs:\n      runCommand: [echo]\n"


@pytest.mark.parametrize(("content", "error", "message"), [
    (_steps(SHELL_STEP, "  - action: aws:nope\n    name: second\n    inputs: {}\n"), DocumentError,
     "document.mainSteps[1].action: unknown action 'aws:nope' (known: "),
    (_steps(SHELL_STEP.replace("[echo]", '["echo {{ nope }}"]')), DocumentError,
     "document.mainSteps[0].inputs.runCommand[0]: references undeclared parameter 'nope' (line 6)"),
    (_steps(SHELL_STEP, "  - action: aws:runShellScript\n    name: second\n    inputs:\n      runCommand: [x]\n"
                        "      bogus: 1\n"), InputError,
     "mainSteps[1].inputs.bogus: unsupported parameter (supported: runCommand, timeoutSeconds, workingDirectory) "
     "(line 11)"),
    (_steps(SHELL_STEP, "  - action: aws:downloadContent\n    name: get\n    inputs:\n      sourceType: S3\n"
                        "      sourceInfo: '{\"path\": \"https://bucket/x.sh\"}'\n"), InputError,
     "mainSteps[1].inputs.sourceType: S3 is not fetched by Outpost: nodes download only from their controller. "
     "Put the file in the content store (outpost content put NAME --file FILE) and use sourceType OutpostContent "
     "with sourceInfo {\"name\": \"NAME\"} (line 10)"),
    (_steps("  - action: aws:downloadContent\n    name: get\n    inputs:\n      sourceType: SSMDocument\n"
            "      sourceInfo: {name: Deploy, tag: x}\n"), InputError,
     "mainSteps[0].inputs.sourceInfo.tag: unsupported for SSMDocument (supported: name, version) (line 7)"),
], ids=["unknown action", "undeclared parameter", "an input the plugin lacks", "downloadContent from S3",
        "a sourceInfo key"])
def test_create_refuses_what_send_refuses_with_the_line(content: bytes, error: type, message: str) -> None:
    catalog = DocumentCatalog(None, PluginRegistry.discover())  # type: ignore[arg-type] - validate reads no store
    with pytest.raises(error) as info:
        catalog.validate(content, "YAML")
    assert str(info.value).startswith(message), str(info.value)
    if error is DocumentError and "unknown action" in message:
        assert str(info.value).endswith("(line 7)")


def test_a_download_from_the_content_store_is_stored_as_written() -> None:
    catalog = DocumentCatalog(None, PluginRegistry.discover())  # type: ignore[arg-type]
    summary = catalog.validate(_steps("  - action: aws:downloadContent\n    name: get\n    inputs:\n"
                                      "      sourceType: OutpostContent\n      sourceInfo: '{\"name\": \"x.sh\"}'\n"
                                      "      destinationPath: x.sh\n"), "YAML")
    (step,) = document_from_bytes(summary.rendered).steps
    assert (step.action, step.inputs["sourceInfo"]) == ("aws:downloadContent", {"name": "x.sh"})
