"""Parameters and secrets: a parameter value that would run commands, a secret too short to mask or
left in plain text in the database files, and a document pasting a String parameter into a script."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.security.rig import DEV, Rig, now, refused

BOX_DOC = """\
schemaVersion: "2.2"
parameters:
  name: {{type: String, interpolationType: ENV_VAR}}
mainSteps:
  - {{action: aws:runShellScript, name: read, inputs: {{runCommand: ['cat {box}/{{{{ name }}}}']}}}}
"""


@pytest.fixture(scope="module")
def box(rig: Rig) -> Path:
    """Document Sec-Read-Box: `cat BOX/{{ name }}`, name an ENV_VAR parameter; BOX holds a secret file
    and a file outside it another."""
    box = rig.root / "box"
    box.mkdir()
    (box / "secret.txt").write_text("BOX-SECRET\n")
    (rig.root / "outside.txt").write_text("OUTSIDE-SECRET\n")
    rig.document("Sec-Read-Box", BOX_DOC.format(box=box))
    return box


@pytest.mark.parametrize("value", [
    pytest.param("nothing {outside}", id="word-splitting"),
    pytest.param("*", id="globbing"),
    pytest.param("$(touch {marker})", id="command-substitution"),
    pytest.param("`touch {marker}`", id="backticks"),
    pytest.param("x; touch {marker}", id="command-chaining"),
    pytest.param("x' && touch {marker} && echo '", id="closing-a-quote"),
])
def test_an_env_var_parameter_value_stays_one_word(rig: Rig, box: Path, value: str,
                                                    request: pytest.FixtureRequest) -> None:
    """`cat BOX/{{ name }}` with a name that would read outside BOX, read every file in it or run a
    command: it is one file name that does not exist, and the step fails saying so in one line."""
    marker = rig.marker(f"injected-{request.node.callspec.id}")
    given, since = value.format(outside=rig.root / "outside.txt", marker=marker), now()
    cid = rig.json("command", "send", "--document", "Sec-Read-Box", "--targets", DEV,
                   "--parameters", f"name={given}")["command_id"]
    assert rig.wait(cid)["status_detail"] == "Failed"
    (step,) = rig.output(cid, rig.node("dev"))
    # one name (cat quotes it in its message: 'x'\'' for a quote), which does not exist
    assert step["stdout"] == "" and step["stderr"].count("\n") == 1, step
    assert step["stderr"].startswith(f"cat: '{box}/") and step["stderr"].endswith(": No such file or directory\n")
    record = rig.audited("command:Send", "the send", since, detail=f"command {cid}", outcome="Succeeded")
    assert record["parameters"] == {"name": given}
    assert not marker.exists()


SECRET_DOC = """\
schemaVersion: "2.2"
parameters:
  pin: {type: String, secret: true, interpolationType: ENV_VAR}
mainSteps:
  - {action: aws:runShellScript, name: use, inputs: {runCommand: ['touch MARKER-{{ pin }}', 'echo pin={{ pin }}']}}
"""


@pytest.fixture(scope="module")
def secret_doc(rig: Rig) -> str:
    rig.document("Sec-Pin", SECRET_DOC.replace("MARKER", str(rig.marker("pin"))))
    return "Sec-Pin"


def test_a_secret_too_short_to_mask(rig: Rig, secret_doc: str) -> None:
    before, since = rig.command_ids(), now()
    run = rig.cli("command", "send", "--document", secret_doc, "--targets", DEV, "--parameters", "pin=1234567")
    line = refused(run, "parameters.pin: a secret must be at least 8 characters long")
    assert "1234567" not in line and "7 characters" not in line
    record = rig.audited("command:Send", "the failure", since, resource=f"document/{secret_doc}", outcome="Failed")
    assert "1234567" not in str(record)
    assert rig.command_ids() == before and not rig.marker("pin-1234567").exists()


def test_the_database_files_hold_no_plaintext_secret(rig: Rig, secret_doc: str) -> None:
    """Someone reading outpost.db, -wal and -shm raw does not find a secret parameter's value (the
    command's document is sealed; the trail keeps a keyed hash)."""
    secret, since = f"sec-{uuid.uuid4().hex}", now()
    cid = rig.json("command", "send", "--document", secret_doc, "--targets", DEV, "--parameters",
                   f"pin={secret}")["command_id"]
    assert rig.wait(cid)["status_detail"] == "Success"
    assert rig.output(cid, rig.node("dev"))[0]["stdout"] == "pin=********\n"
    assert rig.marker(f"pin-{secret}").exists()
    record = rig.audited("command:Send", "the send", since, detail=f"command {cid}")
    assert record["parameters"]["pin"].startswith("hmac-sha256:")
    files = sorted(rig.c.controller_dir.glob("outpost.db*"))
    assert {p.name for p in files} >= {"outpost.db", "outpost.db-wal"}
    for path in files:
        assert secret.encode() not in path.read_bytes(), f"the secret is in {path.name}"
    rig.marker(f"pin-{secret}").unlink()


def test_a_document_pasting_a_string_parameter_into_a_script(rig: Rig) -> None:
    """With require_safe_parameters the controller refuses such a document at create: a value could
    run commands."""
    marker, since = rig.marker("unsafe"), now()
    path = rig.write("unsafe.yaml", 'schemaVersion: "2.2"\nparameters:\n  name: {type: String}\nmainSteps:\n'
                     "  - {action: aws:runShellScript, name: t, inputs: "
                     f"{{runCommand: ['touch {marker}-{{{{ name }}}}']}}}}\n")
    refused(rig.cli("document", "create", "Sec-Unsafe", "--file", str(path)),
            "document Sec-Unsafe is refused (require_safe_parameters)", "parameter 'name' is pasted into the script")
    rig.audited("document:Create", "the failure", since, resource="document/Sec-Unsafe", outcome="Failed")
    assert "Sec-Unsafe" not in {d["name"] for d in rig.json("document", "list")}
    refused(rig.cli("command", "send", "--document", "Sec-Unsafe", "--targets", DEV, "--parameters", "name=x; id"))
    assert not list(marker.parent.glob("unsafe*"))
