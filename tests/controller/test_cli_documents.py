"""``outpost document|group|node tag`` through click, with the stub wired straight to DocumentApi
and GroupApi over a real (SQLite) store."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from controller.cli.documents import document
from controller.cli.groups import group, register_node_commands
from controller.model import Tag
from controller.sdk.transport import AdminClient
from controller.server.document_api import DocumentApi
from controller.server.group_api import GroupApi
from controller.store.db import Db
from tests.controller.test_document_api import FakeContext, _TestStore, node, validate
from tests.support.keys import fixed_sealer


class Stub:
    def __init__(self, apis: list[Any]) -> None:
        self._apis = apis
        self.requests: list[Any] = []

    def __getattr__(self, method: str) -> Any:
        api = next(a for a in self._apis if hasattr(a, method))

        def call(request: Any, timeout: float) -> Any:
            self.requests.append(request)
            return asyncio.run(getattr(api, method)(request, FakeContext(), "alice"))
        return call


class Client(AdminClient):
    """The real client's typed calls, on the stub above instead of a channel."""

    def __init__(self, stub: Stub) -> None:  # no channel
        self.stub = stub  # type: ignore[assignment]
        self.timeout = 5.0

    def close(self) -> None:
        pass


class Obj:
    def __init__(self, stub: Stub) -> None:
        self.stub = stub

    def client(self) -> Client:
        return Client(self.stub)


@click.group()
def cli() -> None:
    pass


@cli.group("node")
def node_group() -> None:
    pass


cli.add_command(document)
cli.add_command(group)
register_node_commands(node_group)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Db, Obj]]:
    store = _TestStore.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    store.migrate()
    db = Db(store)
    try:
        yield db, Obj(Stub([DocumentApi(db, validate), GroupApi(db)]))
    finally:
        db.close()


def invoke(obj: Obj, *args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), obj=obj, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_document_commands(env: tuple[Db, Obj], tmp_path: Path) -> None:
    _db, obj = env
    doc = tmp_path / "deploy.json"
    doc.write_text(json.dumps({"schemaVersion": "2.2", "description": "d", "parameters": {"p": {}}}))
    out = invoke(obj, "document", "create", "Deploy", "--file", str(doc), "-o", "json").output
    assert json.loads(out)["version"] == 1 and json.loads(out)["format"] == "JSON"
    yml = tmp_path / "deploy.txt"
    yml.write_text("schemaVersion: '2.2'\n")
    out = invoke(obj, "document", "update", "Deploy", "--file", str(yml), "--format", "yaml").output
    assert "version: 2" in out and "format: YAML" in out
    rows = json.loads(invoke(obj, "document", "list", "--output", "json").output)
    assert [(r["name"], r["version"], r["latest_version"], r["parameters"]) for r in rows] == \
        [("Deploy", 1, 2, ["p"])]
    assert "Deploy" in invoke(obj, "document", "list").output
    shown = json.loads(invoke(obj, "document", "show", "Deploy", "--version", "$LATEST", "--content",
                              "-o", "json").output)
    assert (shown["version"], shown["content"]) == (2, "schemaVersion: '2.2'\n")
    assert invoke(obj, "document", "show", "Deploy", "--content").output.endswith(doc.read_text() + "\n")
    assert "default version: 2" in invoke(obj, "document", "set-default", "Deploy", "--version", "2").output
    assert invoke(obj, "document", "delete", "Deploy").output == "deleted document Deploy\n"
    assert json.loads(invoke(obj, "document", "list", "-o", "json").output) == []


def test_group_and_tag_commands(env: tuple[Db, Obj]) -> None:
    db, obj = env
    db.store.add_node(node("mi-1", (Tag("Role", "web"),)))
    db.store.add_node(node("mi-2", (Tag("Role", "db"),)))
    out = invoke(obj, "group", "create", "web", "--targets", "Key=tag:Role,Values=web,api",
                 "--targets", "Key=InstanceIds,Values=mi-1,mi-2").output
    assert "targets: Key=tag:Role,Values=web,api" in out and "targets: Key=InstanceIds,Values=mi-1,mi-2" in out
    shown = json.loads(invoke(obj, "group", "show", "web", "-o", "json").output)
    assert [n["node_id"] for n in shown["nodes"]] == ["mi-1"]
    assert "1 matching nodes" in invoke(obj, "group", "show", "web").output
    rows = json.loads(invoke(obj, "group", "list", "-o", "json").output)
    assert rows[0]["targets"] == ["Key=tag:Role,Values=web,api", "Key=InstanceIds,Values=mi-1,mi-2"]
    assert "web" in invoke(obj, "group", "list").output

    tagged = json.loads(invoke(obj, "node", "tag", "mi-2", "Role=web", "note=a=b,c", "-o", "json").output)
    assert tagged["tags"] == {"Role": "web", "note": "a=b,c"}
    assert [n["node_id"] for n in json.loads(invoke(obj, "group", "show", "web", "-o", "json").output)["nodes"]] \
        == ["mi-1", "mi-2"]
    untagged = json.loads(invoke(obj, "node", "untag", "mi-2", "note", "-o", "json").output)
    assert untagged["tags"] == {"Role": "web"}
    assert invoke(obj, "group", "delete", "web").output == "deleted group web\n"


def test_cli_input_errors(env: tuple[Db, Obj]) -> None:
    _db, obj = env
    runner = CliRunner()
    for args, message in [
        (["group", "create", "g", "--targets", "Key=Role,Values=web"], "unknown key 'Role'"),
        (["group", "create", "g", "--targets", "Key=resource-groups:Name,Values=x"], "cannot contain another group"),
        (["group", "create", "g", "--targets", "Key=InstanceIds,Values=*"], "cannot be every node"),
        (["node", "tag", "mi-1", "novalue"], "expected KEY=VALUE"),
    ]:
        result = runner.invoke(cli, args, obj=obj)
        assert result.exit_code != 0 and message in str(result.exception), (args, result.exception)
    assert obj.stub.requests == []  # refused before anything was sent


def test_document_versions_commands(env: tuple[Db, Obj], tmp_path: Path) -> None:
    """create|update --version-name, list-versions, show --version-name, delete --version."""
    _db, obj = env
    doc = tmp_path / "deploy.yaml"
    doc.write_text("schemaVersion: '2.2'\n")
    invoke(obj, "document", "create", "Deploy", "--file", str(doc), "--version-name", "first")
    doc.write_text("schemaVersion: '2.2'\ndescription: two\n")
    out = invoke(obj, "document", "update", "Deploy", "--file", str(doc), "--version-name", "v2.0_rc-1").output
    assert "version name: v2.0_rc-1" in out
    doc.write_text("schemaVersion: '2.2'\ndescription: three\n")
    invoke(obj, "document", "update", "Deploy", "--file", str(doc))
    rows = json.loads(invoke(obj, "document", "list-versions", "Deploy", "-o", "json").output)
    assert [(r["version"], r["version_name"], r["default"], r["status"]) for r in rows] == \
        [(1, "first", True, "Active"), (2, "v2.0_rc-1", False, "Active"), (3, "", False, "Active")]
    table = invoke(obj, "document", "list-versions", "Deploy").output
    assert "v2.0_rc-1" in table and rows[0]["sha256"][:12] in table
    shown = json.loads(invoke(obj, "document", "show", "Deploy", "--version-name", "v2.0_rc-1", "--content",
                              "-o", "json").output)
    assert (shown["version"], shown["content"]) == (2, "schemaVersion: '2.2'\ndescription: two\n")
    assert invoke(obj, "document", "delete", "Deploy", "--version", "3").output == \
        "deleted document Deploy version 3\n"
    assert invoke(obj, "document", "delete", "Deploy", "--version-name", "v2.0_rc-1").output == \
        "deleted document Deploy named 'v2.0_rc-1'\n"
    assert [r["version"] for r in json.loads(invoke(obj, "document", "list-versions", "Deploy", "-o",
                                                    "json").output)] == [1]
    assert obj.stub.requests[-2].version_name == "v2.0_rc-1"  # the name went to the controller


def test_document_versions_refusals(env: tuple[Db, Obj], tmp_path: Path) -> None:
    _db, obj = env
    doc = tmp_path / "deploy.yaml"
    doc.write_text("schemaVersion: '2.2'\n")
    invoke(obj, "document", "create", "Deploy", "--file", str(doc), "--version-name", "first")
    runner = CliRunner()
    sent = len(obj.stub.requests)
    for args, message in [
        (["document", "update", "Deploy", "--file", str(doc), "--version-name", "has space"], "a version name"),
        (["document", "update", "Deploy", "--file", str(doc), "--version-name", "x" * 129], "at most 128"),
        (["document", "delete", "Deploy", "--version", "0"], "0 is not in the range"),
        (["document", "show", "Deploy", "--version-name", "bad/name"], "a version name"),
    ]:
        result = runner.invoke(cli, args, obj=obj)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    assert len(obj.stub.requests) == sent  # refused before anything was sent
    for args, message in [
        (["document", "update", "Deploy", "--file", str(doc), "--version-name", "first"],
         "already has a version named 'first' (version 1): version names are never reused"),
        (["document", "delete", "Deploy", "--version", "1"],
         "version 1 is its default version and cannot be deleted: set another default first"),
        (["document", "delete", "Deploy", "--version-name", "nope"], "has no version named 'nope'"),
        (["document", "show", "Deploy", "--version", "1", "--version-name", "other"], "no version named 'other'"),
    ]:
        result = runner.invoke(cli, args, obj=obj)
        assert result.exit_code != 0 and message in str(result.exception), (args, result.exception)
    assert [r["version"] for r in json.loads(invoke(obj, "document", "list-versions", "Deploy", "-o",
                                                    "json").output)] == [1]
