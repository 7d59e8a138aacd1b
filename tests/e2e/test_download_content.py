"""End to end: aws:downloadContent and document versions through the real CLI, controller and agent.

A schema 2.2 document downloads a script from the content store and a shell step runs it; another
downloads a stored document by version; GitHub/S3 sources are refused at create, a name the store
lacks at send, each in one line. Versions: create|update --version-name, list-versions, show
--version-name, delete --version (the default refused), and a command sent with a version keeps
running after that version is deleted (it holds its rendered, signed document).

One fleet for the module (a controller and one Linux agent); every test uses its own names.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.docrun import (
    AgentSpec,
    by_node,
    create_document,
    output,
    run,
    send,
    start_fleet,
    step_details,
    wait_terminal,
    write_file,
)

NODE = "Key=tag:Role,Values=dl"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("download"))
    c.init()
    try:
        start_fleet(c, [AgentSpec("dl1", "Role=dl")])
        yield c
    finally:
        c.close()


@pytest.fixture
def cluster(fleet_cluster: Cluster) -> Cluster:
    return fleet_cluster


def stdout_of(c: Cluster, shown: dict) -> dict[str, str]:
    (inv,) = shown["invocations"]
    return {r["step"]: r["stdout"] for r in output(c, shown["command_id"], inv["node_id"])}


def test_download_a_script_from_the_content_store_then_run_it(cluster: Cluster, tmp_path: Path) -> None:
    script = write_file(tmp_path, "hello.sh", 'echo "script ran in $(pwd)"\necho args: "$@"\n')
    stored = cluster.outpost_json("content", "put", "scripts/hello.sh", "--file", str(script))
    doc = ('schemaVersion: "2.2"\nmainSteps:\n'
           "  - action: aws:downloadContent\n    name: fetch\n    inputs:\n      sourceType: OutpostContent\n"
           "      sourceInfo: '{\"name\": \"scripts/hello.sh\"}'\n      destinationPath: hello.sh\n"
           "  - action: aws:runShellScript\n    name: run\n    inputs:\n      runCommand: [sh hello.sh one two]\n")
    create_document(cluster, tmp_path, "Dl-Script", doc)
    shown = run(cluster, "--document", "Dl-Script", "--targets", NODE)
    assert shown["status_detail"] == "Success", shown
    (inv,) = shown["invocations"]
    assert step_details(inv) == [("fetch", "Success"), ("run", "Success")]
    out = stdout_of(cluster, shown)
    assert out["fetch"].startswith("downloaded content scripts/hello.sh (")
    assert f"sha256 {stored['sha256']}) to " in out["fetch"] and out["fetch"].rstrip().endswith("/hello.sh")
    assert out["run"].startswith("script ran in ") and "args: one two\n" in out["run"]
    # the node ran the step the controller resolved and signed: download_content, by sha256
    assert [s["action"] for s in inv["steps"]] == ["download_content", "aws:runShellScript"]


def test_download_a_stored_document_by_version(cluster: Cluster, tmp_path: Path) -> None:
    v1 = 'schemaVersion: "2.2"\ndescription: payload one\nmainSteps:\n  - {action: aws:runShellScript, name: a, ' \
         'inputs: {runCommand: ["echo one"]}}\n'
    v2 = v1.replace("payload one", "payload two")
    create_document(cluster, tmp_path, "Dl-Payload", v1)
    cluster.outpost("document", "update", "Dl-Payload", "--file", str(write_file(tmp_path, "v2.yaml", v2)))
    dest = tmp_path / "node-out"
    doc = ('schemaVersion: "2.2"\nmainSteps:\n'
           "  - action: aws:downloadContent\n    name: fetch\n    inputs:\n      sourceType: SSMDocument\n"
           "      sourceInfo: {name: Dl-Payload, version: '2'}\n"
           f"      destinationPath: {dest}/\n"
           "  - action: aws:runShellScript\n    name: show\n    inputs:\n"
           f"      runCommand: [cat {dest}/Dl-Payload.yaml]\n")
    create_document(cluster, tmp_path, "Dl-Doc", doc)
    shown = run(cluster, "--document", "Dl-Doc", "--targets", NODE)
    assert shown["status_detail"] == "Success", shown
    assert (dest / "Dl-Payload.yaml").read_text() == v2
    assert stdout_of(cluster, shown)["show"] == v2
    assert f"sha256 {hashlib.sha256(v2.encode()).hexdigest()}" in stdout_of(cluster, shown)["fetch"]


def test_sources_outpost_does_not_fetch_are_refused_in_one_line(cluster: Cluster, tmp_path: Path) -> None:
    s3 = ('schemaVersion: "2.2"\nmainSteps:\n'
          "  - action: aws:downloadContent\n    name: fetch\n    inputs:\n      sourceType: S3\n"
          "      sourceInfo: '{\"path\": \"https://bucket.s3.amazonaws.com/x.sh\"}'\n")
    proc = create_document(cluster, tmp_path, "Dl-S3", s3, check=False)
    assert proc.returncode != 0 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert "mainSteps[0].inputs.sourceType: S3 is not fetched by Outpost" in line
    assert line.startswith(f"error: {tmp_path / 'Dl-S3.yaml'}:6: document Dl-S3 is not valid: ")
    assert line.endswith('outpost content put NAME --file FILE) and use sourceType OutpostContent with sourceInfo '
                         '{"name": "NAME"}')
    missing = ('schemaVersion: "2.2"\nmainSteps:\n'
               "  - action: aws:downloadContent\n    name: fetch\n    inputs:\n      sourceType: OutpostContent\n"
               "      sourceInfo: {name: never/put.sh}\n")
    create_document(cluster, tmp_path, "Dl-Missing", missing)  # a name is looked up when sent
    proc = cluster.outpost("command", "send", "--document", "Dl-Missing", "--targets", NODE, check=False)
    assert proc.returncode != 0
    (line,) = proc.stderr.strip().splitlines()
    assert "mainSteps[0].inputs.src: step 'fetch': no content named 'never/put.sh' in the content store" in line
    assert "Dl-S3" not in cluster.outpost("document", "list").stdout


def test_versions_names_list_show_and_delete(cluster: Cluster, tmp_path: Path) -> None:
    body = 'schemaVersion: "2.2"\ndescription: "{d}"\nmainSteps:\n  - {{action: aws:runShellScript, name: s, ' \
           'inputs: {{runCommand: ["{cmd}"]}}}}\n'
    f1 = write_file(tmp_path, "v1.yaml", body.format(d="one", cmd="echo one"))
    cluster.outpost("document", "create", "Dl-Versions", "--file", str(f1), "--version-name", "release-1")
    f2 = write_file(tmp_path, "v2.yaml", body.format(d="two", cmd="sleep 3; echo two"))
    cluster.outpost("document", "update", "Dl-Versions", "--file", str(f2), "--version-name", "release-2")
    f3 = write_file(tmp_path, "v3.yaml", body.format(d="three", cmd="echo three"))
    cluster.outpost("document", "update", "Dl-Versions", "--file", str(f3))
    rows = cluster.outpost_json("document", "list-versions", "Dl-Versions")
    assert [(r["version"], r["version_name"], r["default"]) for r in rows] == \
        [(1, "release-1", True), (2, "release-2", False), (3, "", False)]
    assert rows[1]["sha256"] == hashlib.sha256(f2.read_bytes()).hexdigest()
    shown = cluster.outpost_json("document", "show", "Dl-Versions", "--version-name", "release-2", "--content")
    assert (shown["version"], shown["content"]) == (2, f2.read_text())
    refused = cluster.outpost("document", "update", "Dl-Versions", "--file", str(f3), "--version-name",
                              "release-1", check=False)
    assert refused.returncode != 0
    assert "already has a version named 'release-1' (version 1): version names are never reused" in refused.stderr
    refused = cluster.outpost("document", "delete", "Dl-Versions", "--version", "1", check=False)
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    assert "version 1 is its default version and cannot be deleted: set another default first" in refused.stderr
    # a command sent with version 2 keeps running after version 2 is deleted: it holds what it runs
    cid = send(cluster, "--document", "Dl-Versions:2", "--targets", NODE)
    time.sleep(1)  # sent and delivered; not an assertion on timing: the outcome is the same either way
    assert cluster.outpost("document", "delete", "Dl-Versions", "--version", "2").stdout == \
        "deleted document Dl-Versions version 2\n"
    done = wait_terminal(cluster, cid)
    assert done["status_detail"] == "Success" and done["document_version"] == 2
    assert stdout_of(cluster, done) == {"s": "two\n"}
    assert [r["version"] for r in cluster.outpost_json("document", "list-versions", "Dl-Versions")] == [1, 3]
    gone = cluster.outpost("command", "send", "--document", "Dl-Versions:2", "--targets", NODE, check=False)
    assert gone.returncode != 0 and "document Dl-Versions version 2 was deleted" in gone.stderr
    assert by_node(cluster.outpost_json("command", "show", cid))  # the command is still there to read


def test_ssm_document_version_commands(cluster: Cluster, tmp_path: Path) -> None:
    """outpost ssm list-document-versions | describe-document --version-name | update-document-default-version
    | delete-document [--document-version | --version-name]: the AWS CLI's arguments and JSON shapes."""
    def ssm(*argv: str) -> dict | None:
        proc = cluster.outpost("ssm", *argv)
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    body = 'schemaVersion: "2.2"\ndescription: "{d}"\nmainSteps:\n  - {{action: aws:runShellScript, name: s, ' \
           'inputs: {{runCommand: [echo]}}}}\n'
    for i, vname in enumerate(("alpha", "", "gamma"), start=1):
        f = write_file(tmp_path, f"s{i}.yaml", body.format(d=f"v{i}"))
        extra = ("--version-name", vname) if vname else ()
        cluster.outpost("document", "create" if i == 1 else "update", "Dl-Ssm", "--file", str(f), *extra)
    listed = ssm("list-document-versions", "--name", "Dl-Ssm")
    assert listed is not None
    assert [{k: v for k, v in e.items() if k != "CreatedDate"} for e in listed["DocumentVersions"]] == [
        {"Name": "Dl-Ssm", "DocumentVersion": "1", "VersionName": "alpha", "IsDefaultVersion": True,
         "DocumentFormat": "YAML", "Status": "Active"},
        {"Name": "Dl-Ssm", "DocumentVersion": "2", "IsDefaultVersion": False, "DocumentFormat": "YAML",
         "Status": "Active"},
        {"Name": "Dl-Ssm", "DocumentVersion": "3", "VersionName": "gamma", "IsDefaultVersion": False,
         "DocumentFormat": "YAML", "Status": "Active"}]
    paged = ssm("list-document-versions", "--name", "Dl-Ssm", "--max-results", "2", "--query",
                "DocumentVersions[].DocumentVersion")
    assert paged == ["1", "2"]
    described = ssm("describe-document", "--name", "Dl-Ssm", "--version-name", "gamma")
    assert described is not None
    assert (described["Document"]["DocumentVersion"], described["Document"]["VersionName"],
            described["Document"]["Description"]) == ("3", "gamma", "v3")
    assert ssm("update-document-default-version", "--name", "Dl-Ssm", "--document-version", "3") == \
        {"Description": {"Name": "Dl-Ssm", "DefaultVersion": "3", "DefaultVersionName": "gamma"}}
    assert ssm("delete-document", "--name", "Dl-Ssm", "--version-name", "alpha") is None
    assert ssm("delete-document", "--cli-input-json", '{"Name": "Dl-Ssm", "DocumentVersion": "2", "Force": true}') \
        is None
    assert ssm("list-document-versions", "--name", "Dl-Ssm", "--query", "DocumentVersions[].DocumentVersion") == ["3"]
    refused = cluster.outpost("ssm", "delete-document", "--name", "Dl-Ssm", "--document-version", "3", check=False)
    assert refused.returncode == 254 and len(refused.stderr.strip().splitlines()) == 1
    assert "(FAILED_PRECONDITION)" in refused.stderr and "set another default first" in refused.stderr
    bad = cluster.outpost("ssm", "delete-document", "--name", "Dl-Ssm", "--document-version", "$LATEST", check=False)
    assert bad.returncode == 252 and "--document-version: expected a version number" in bad.stderr
    assert ssm("delete-document", "--name", "Dl-Ssm") is None
    assert "Dl-Ssm" not in cluster.outpost("document", "list").stdout
