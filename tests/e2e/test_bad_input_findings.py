"""End to end, one case per finding of the review of bad input (issue 17), with real processes: each
failed before the change (a traceback, a stored document no send could run, UNKNOWN with a
RecursionError in the controller's log, a timeout taken as none, a refused certificate reported as
"the controller is unavailable") and passes now.

One controller for the module (no agent: every case is refused before anything would run).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from controller.model import Tag, Targets
from controller.runtime.config import CliConfig
from controller.sdk.transport import AdminClient, CommandSpec
from controller.trust.pki import CertificateAuthority, create_ca
from tests.support.clierrors import error_lines
from tests.support.cluster import Cluster, started
from tests.support.docrun import command_ids, create_document, write_file

NOBODY = "Key=tag:Role,Values=nobody"
DEEP = 30_000
NUL_PROBLEM = "contains a NUL character, which no command line, environment variable or database text can carry"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with started(tmp_path_factory.mktemp("findings")) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Iterator[AdminClient]:
    with AdminClient(CliConfig.load(cluster.config)) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_recursion_in_the_log(cluster: Cluster) -> Iterator[None]:
    yield
    log = (cluster.root / "controller.log").read_text(errors="replace")
    assert "RecursionError" not in log and "Traceback" not in log, log[-4000:]


def one_error(proc: object, *, code: int) -> str:
    """The one error line of a refused CLI call (exit ``code``, no traceback anywhere)."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)  # type: ignore[attr-defined]
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr  # type: ignore[attr-defined]
    (line,) = error_lines(proc.stderr)  # type: ignore[attr-defined]
    return line


def refused(call: object, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    assert info.value.code() == code, (info.value.code(), info.value.details())
    return info.value.details()


# -- 1. `command send --timeout-seconds -1` printed a traceback ------------------------------------

@pytest.mark.parametrize("value", ["-1", "0", "29", "2592001", "99999999999999999999", "soon"])
def test_an_out_of_range_delivery_timeout_is_one_line(cluster: Cluster, value: str) -> None:
    before = command_ids(cluster)
    proc = cluster.outpost("command", "send", "--document", "Outpost-RunShellScript", "--parameters", "commands=true",
                           "--targets", NOBODY, "--timeout-seconds", value, check=False)
    line = one_error(proc, code=2)
    assert line.startswith("Error: Invalid value for '--timeout-seconds'"), line
    assert command_ids(cluster) == before


# -- 2. `document create` stored documents no send could run ---------------------------------------

def _doc(inputs: str, parameters: str = "") -> str:
    return (f'schemaVersion: "2.2"\n{parameters}mainSteps:\n  - action: aws:runShellScript\n    name: run\n'
            f"    inputs: {inputs}\n")


@pytest.mark.parametrize(("inputs", "message"), [
    ('{runCommand: [echo], timeoutSeconds: "abc"}', "mainSteps[0].inputs.timeoutSeconds: expected an integer, got a "
                                                     "string"),
    ("{runCommand: 5}", "mainSteps[0].inputs.runCommand: expected a list of strings, got an integer"),
    ("{runCommand: {str: 1}}", "mainSteps[0].inputs.runCommand: expected a list of strings, got a mapping"),
    ("{runCommand: [echo], timeoutSeconds: 172801}", "mainSteps[0].inputs.timeoutSeconds: must be at most 172800, "
                                                     "got 172801"),
], ids=["timeoutSeconds abc", "runCommand a number", "runCommand a mapping", "timeoutSeconds past SSM's"])
def test_document_create_and_update_refuse_what_a_send_refuses(cluster: Cluster, tmp_path: Path, inputs: str,
                                                               message: str) -> None:
    name = f"Bad-{abs(hash(inputs)) % 10**8}"
    line = one_error(create_document(cluster, tmp_path, name, _doc(inputs), check=False), code=1)
    assert line == f"error: {tmp_path / name}.yaml:5: document {name} is not valid: {message}"  # FILE:LINE
    listed = {d["name"] for d in cluster.outpost_json("document", "list")}
    assert name not in listed
    # an update is checked the same: the stored version stays the only one
    create_document(cluster, tmp_path, f"{name}-ok", _doc("{runCommand: [echo]}"))
    path = write_file(tmp_path, "update.yaml", _doc(inputs))
    line = one_error(cluster.outpost("document", "update", f"{name}-ok", "--file", str(path), check=False), code=1)
    assert line == f"error: {path}:5: document {name}-ok is not valid: {message}"
    shown = cluster.outpost_json("document", "show", f"{name}-ok", "--version", "$LATEST")
    assert shown["latest_version"] == 1


def test_a_document_whose_parameters_fill_its_inputs_is_stored_and_sent(cluster: Cluster, tmp_path: Path) -> None:
    """Required parameters are checked by what their type can be, and a send with values runs it."""
    params = ("parameters:\n  commands: {type: StringList}\n  timeout: {type: String, allowedPattern: '^[0-9]+$'}\n"
              "  dir: {type: String, default: /tmp}\n")
    doc = _doc('{runCommand: "{{ commands }}", timeoutSeconds: "{{ timeout }}", workingDirectory: "{{ dir }}"}',
               params)
    created = json.loads(create_document(cluster, tmp_path, "Param-Doc", doc).stdout)
    assert created["parameters"] == ["commands", "timeout", "dir"]
    sent = cluster.outpost_json("command", "send", "--document", "Param-Doc", "--targets", NOBODY,
                                "--parameters", "commands=echo hi", "--parameters", "timeout=60")
    assert sent["status_detail"] == "NoInstancesInTag"  # accepted: checked, stored, no node to run it
    # a parameter whose type can never fit the input it fills is refused at create
    bad = _doc('{runCommand: "{{ labels }}"}', "parameters:\n  labels: {type: StringMap}\n")
    line = one_error(create_document(cluster, tmp_path, "Map-Doc", bad, check=False), code=1)
    assert line == (f"error: {tmp_path / 'Map-Doc.yaml'}:7: document Map-Doc is not valid: mainSteps[0].inputs."
                    "runCommand: expected a list of strings, got a mapping (with a stand-in value for the required "
                    "parameter labels)")


# -- 3. a document 30,000 deep answered UNKNOWN, with a RecursionError in the controller's log -------

def test_deep_nesting_is_refused_by_name(cluster: Cluster, client: AdminClient, tmp_path: Path) -> None:
    deep_json = "[" * DEEP + "]" * DEEP
    # no format given (a .txt file): the controller guesses, which answered UNKNOWN
    line = one_error(create_document(cluster, tmp_path, "Deep-Text", deep_json, suffix="txt", check=False), code=1)
    assert line == f"error: {tmp_path / 'Deep-Text.txt'}:1: document Deep-Text is not valid: document: nested deeper " \
                   "than 64 levels"
    line = one_error(create_document(cluster, tmp_path, "Deep-Json", deep_json, suffix="json", check=False), code=1)
    assert line == "error: document Deep-Json is not valid: document: nested deeper than 64 levels"
    deep_yaml = "mainSteps: " + deep_json + "\n"
    line = one_error(create_document(cluster, tmp_path, "Deep-Yaml", deep_yaml, check=False), code=1)
    assert line == f"error: {tmp_path / 'Deep-Yaml.yaml'}:1: document Deep-Yaml is not valid: document: nested " \
                   "deeper than 64 levels"
    assert not {"Deep-Text", "Deep-Json", "Deep-Yaml"} & {d["name"] for d in cluster.outpost_json("document", "list")}

    # the RPCs that take an inline document: ExpandDocument (playbook apply's first call) and SendCommand
    inline = ('{"schemaVersion":"2.2","mainSteps":[{"action":"aws:runDocument","name":"a","inputs":'
              '{"documentPath":"X","documentParameters":{"p":' + deep_json + '}}}]}').encode()
    assert refused(lambda: client.expand_document(inline)) == "document: nested deeper than 64 levels"
    spec = CommandSpec(Targets(all=True), document=inline)
    assert refused(lambda: client.send_command(spec)) == "document: nested deeper than 64 levels"

    # a playbook as deep: a compile error with its file and line, nothing sent
    before = command_ids(cluster)
    book = write_file(tmp_path, "deep.yml", "- " + deep_json + "\n")
    line = one_error(cluster.outpost("playbook", "apply", str(book), check=False), code=2)
    assert line == f"error: {book}:1: nested deeper than 64 levels", line
    assert command_ids(cluster) == before


# -- 4. a task timeout of 99999999999999999999 was taken as no timeout ------------------------------

def test_a_timeout_past_30_days_is_an_error_never_no_timeout(cluster: Cluster, client: AdminClient,
                                                             tmp_path: Path) -> None:
    before = command_ids(cluster)
    book = write_file(tmp_path, "slow.yml", "- name: p\n  targets: {tags: {Role: nobody}}\n  tasks:\n    - name: t\n"
                                            "      shell: sleep 1\n      timeout: 99999999999999999999\n")
    line = one_error(cluster.outpost("playbook", "apply", str(book), check=False), code=2)
    assert line == (f"error: {book}:6: tasks[0].timeout: must be at most 2592000 seconds (30 days), "
                    f"got 99999999999999999999")
    # the same step sent as a compiled document (what a client other than the CLI could send)
    inline = (b'{"schemaVersion":"2.2","mainSteps":[{"action":"shell","name":"t","inputs":{"cmd":"sleep 1"},'
              b'"timeoutSeconds":99999999999999999999}]}')
    expected = ("document.mainSteps[0].timeoutSeconds: must be at most 2592000 seconds (30 days), "
                "got 99999999999999999999")
    assert refused(lambda: client.expand_document(inline)) == expected
    spec = CommandSpec(Targets(all=True), document=inline)
    assert refused(lambda: client.send_command(spec)) == expected
    # and the shell plugin's own timeout input, which had no ceiling
    inline = b'{"schemaVersion":"2.2","mainSteps":[{"action":"shell","name":"t","inputs":{"cmd":"sleep 1",' \
             b'"timeout_seconds":99999999999999999999}}]}'
    assert refused(lambda: client.expand_document(inline)) == (
        "document.mainSteps[0].inputs.timeout_seconds: must be at most 2592000, got 99999999999999999999")
    # a stored document's step timeout
    doc = _doc("{runCommand: [echo]}").replace("    inputs:", "    timeoutSeconds: 99999999999999999999\n    inputs:")
    line = one_error(create_document(cluster, tmp_path, "Slow-Doc", doc, check=False), code=1)
    assert line == (f"error: {tmp_path / 'Slow-Doc.yaml'}:5: document Slow-Doc is not valid: document.mainSteps[0]."
                    "timeoutSeconds: must be at most 2592000 seconds (30 days), got 99999999999999999999")
    assert command_ids(cluster) == before


def test_nul_characters_are_refused_by_the_field_that_holds_them(cluster: Cluster, client: AdminClient) -> None:
    activations = cluster.outpost_json("activation", "list")
    assert refused(lambda: client.create_activation((Tag("Role", "w\x00b"),), 1, 60, "")) == (
        f"tags[0].value: {NUL_PROBLEM}")
    assert refused(lambda: client.put_group("g\x00", Targets(node_ids=("mi-0123456789abcdef0",)))) == (
        f"group.name: {NUL_PROBLEM}")
    spec = CommandSpec(Targets(all=True), document_name="Outpost-RunShellScript", parameters={"commands": ("a\x00",)})
    assert refused(lambda: client.send_command(spec)) == f"parameters['commands'].values[0]: {NUL_PROBLEM}"
    inline = b'{"schemaVersion":"2.2","mainSteps":[{"action":"shell","name":"t","inputs":{"cmd":"echo a\\u0000b"}}]}'
    assert refused(lambda: client.expand_document(inline)) == f"document.mainSteps[0].inputs.cmd: {NUL_PROBLEM}"
    assert cluster.outpost_json("activation", "list") == activations


# -- 5. a certificate from another CA was reported as "the controller is unavailable" -------------

def _config(cluster: Cluster, directory: Path, ca: Path, cert: bytes, key: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "op.crt").write_bytes(cert)
    (directory / "op.key").write_bytes(key)
    path = directory / "cli.yaml"
    CliConfig(cluster.address, ca, directory / "op.crt", directory / "op.key", "admin").save(path)
    return path


def test_a_certificate_from_another_ca_is_named_in_the_error(cluster: Cluster, tmp_path: Path) -> None:
    real = CliConfig.load(cluster.config)
    other = CertificateAuthority(create_ca("Outpost CA"))  # another `controller init`'s CA: the same name
    operator = other.issue_operator("admin")
    foreign = _config(cluster, tmp_path / "foreign", real.ca, operator.cert_pem, operator.key_pem)
    line = one_error(cluster.outpost("--config", str(foreign), "node", "list", check=False), code=1)
    assert line == (f"error: TLS handshake with {cluster.address} failed: the controller does not trust this "
                    f"certificate: it was issued by another CA (CN=Outpost CA,O=Outpost), not by the controller's")

    # the other way round: the CLI trusts another CA than the one that issued the controller's certificate
    (tmp_path / "other-ca.pem").write_bytes(other.cert_pem)
    untrusting = _config(cluster, tmp_path / "untrusting", tmp_path / "other-ca.pem",
                         real.certificate.read_bytes(), real.key.read_bytes())
    line = one_error(cluster.outpost("--config", str(untrusting), "node", "list", check=False), code=1)
    assert line.startswith(f"error: TLS handshake with {cluster.address} failed: the controller's certificate is "
                           f"not trusted here"), line
    # and the genuine operator still gets in
    assert cluster.outpost("node", "list").returncode == 0
