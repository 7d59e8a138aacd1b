"""The parameter store at the controller: a send's ``{{ssm:NAME}}`` references filled by the document
catalogue from the store (controller/documents/catalog.py), a SecureString's value only in the
document's secret environment (masked where shown) and never in the parameters stored with the
command or in the audit trail's; what the API answers of a SecureString (controller/server/
parameters_api.py), the resource a call names (permissions.py), and what the CLI shows and reads."""
from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cli.parameters import _read_value
from controller.cli.render import HIDDEN_VALUE, parameter_row
from controller.documents.catalog import DocumentCatalog, masked_document
from controller.server.parameters_api import parameter_to_pb
from controller.server.permissions import PERMISSIONS
from controller.store import Store
from controller.store.db import Db
from controller.store.parameters import ParameterRecord
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import InputError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.secrets import MASK
from plugins.shell.plugin import ShellPlugin
from tests.support.keys import fixed_sealer

PASSWORD = "correct-horse-battery-staple"
DOC = b"""schemaVersion: "2.2"
parameters:
  commands: {type: StringList, default: ["echo {{ssm:/app/name}}"]}
  pw: {type: String, secret: true, interpolationType: ENV_VAR, default: "{{ssm-secure:/app/db/password}}"}
mainSteps:
  - {action: aws:runShellScript, name: run, inputs: {runCommand: ["{{ commands }}", 'login "{{ pw }}"']}}
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[DocumentCatalog]:
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    store.migrate()
    store.put_document("App", DOC, "YAML", hashlib.sha256(DOC).hexdigest(), "", "alice", 1, create=True)
    store.put_parameter("/app/name", "String", "web", "", overwrite=False, at_ms=1, by="alice")
    store.put_parameter("/app/db/password", "SecureString", PASSWORD, "", overwrite=False, at_ms=1, by="alice")
    try:
        yield DocumentCatalog(Db(store), PluginRegistry([ShellPlugin()]))
    finally:
        store.close()


def test_a_send_fills_references_and_keeps_the_secure_value_secret(catalog: DocumentCatalog) -> None:
    given = {"commands": ("echo {{ssm:/app/name}}", "echo {{ ssm:/app/name }}!")}
    rendered = asyncio.run(catalog.render("App", "", "", given))
    document = json.loads(rendered.document)
    assert document["mainSteps"][0]["inputs"]["runCommand"] == ["echo web", "echo web!", 'login "${OUTPOST_PW}"']
    assert document["environment"] == {"OUTPOST_PW": PASSWORD} and document["secretEnvironment"] == ["OUTPOST_PW"]
    assert PASSWORD.encode() not in masked_document(rendered.document) and MASK in masked_document(
        rendered.document).decode()
    assert rendered.shown_parameters == given  # stored with the command: the references, as given
    assert "pw" in rendered.secret_names


def test_a_secure_value_given_is_shown_masked(catalog: DocumentCatalog) -> None:
    rendered = asyncio.run(catalog.render("App", "", "", {"pw": ("{{ssm-secure:/app/db/password}}",)}))
    assert rendered.shown_parameters == {"pw": (MASK,)}
    assert PASSWORD not in json.dumps(rendered.shown_parameters)


def test_an_unknown_name_is_refused_at_send_naming_the_step(catalog: DocumentCatalog) -> None:
    with pytest.raises(InputError) as info:
        asyncio.run(catalog.render("App", "", "", {"commands": ("echo {{ssm:/app/nope}}",)}))
    assert str(info.value) == ("parameters.commands: {{ssm:/app/nope}}: no parameter '/app/nope' in the parameter "
                               "store (outpost parameter put)")


def test_a_document_with_references_is_accepted_at_create(catalog: DocumentCatalog) -> None:
    summary = catalog.validate(DOC, "YAML")
    assert summary.parameters == ("commands", "pw")


def test_a_secure_string_is_answered_only_with_decryption() -> None:
    rec = ParameterRecord("/app/db/password", "SecureString", 3, "db", 5, "alice", PASSWORD)
    assert parameter_to_pb(rec).value == ""
    assert parameter_to_pb(rec, with_decryption=True).value == PASSWORD
    plain = ParameterRecord("/app/name", "String", 1, "", 5, "alice", "web")
    assert parameter_to_pb(plain).value == "web"
    assert parameter_row(parameter_to_pb(rec), value=True)["value"] == HIDDEN_VALUE
    assert "value" not in parameter_row(parameter_to_pb(plain))  # list: no values


@pytest.mark.parametrize("method", ["PutParameter", "GetParameter", "DeleteParameter"])
def test_a_parameter_call_names_the_parameter_as_its_arn_does(method: str) -> None:
    request = pb.PutParameterRequest(name="/app/db/password")
    assert [r.name for r in PERMISSIONS[method].resources(request)] == ["parameter/app/db/password"]
    assert [r.name for r in PERMISSIONS[method].resources(pb.PutParameterRequest(name="plain"))] == ["parameter/plain"]


def test_the_cli_reads_a_value_from_a_file_or_standard_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "v").write_text(PASSWORD + "\n")
    assert _read_value(f"file://{tmp_path / 'v'}") == PASSWORD
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\n"))
    assert _read_value("-") == "from-stdin"
    assert _read_value("plain") == "plain"
    (tmp_path / "big").write_text("x" * 4097)
    with pytest.raises(InputError, match="4097 bytes; at most 4096"):
        _read_value(f"file://{tmp_path / 'big'}")


def test_an_inline_document_naming_a_reference_is_refused(catalog: DocumentCatalog) -> None:
    inline = json.dumps({"schemaVersion": "2.2", "mainSteps": [
        {"name": "s", "action": "aws:runShellScript", "inputs": {"runCommand": ["echo {{ssm:/app/name}}"]}}]}).encode()
    with pytest.raises(InputError) as info:
        asyncio.run(catalog.expand(inline))
    assert str(info.value) == ("step s: inputs.runCommand[0]: {{ssm:/app/name}}: a document sent inline is not filled "
                               "from the parameter store; store it (outpost document create) and send it by name")
