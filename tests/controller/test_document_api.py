"""DocumentApi and GroupApi over a real (SQLite) store, with a stand-in gRPC context."""
from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import pytest

from controller.model import NodeRecord, Tag
from controller.server.document_api import DocumentApi, DocumentSummary, document_format, name_problem
from controller.server.group_api import GroupApi
from controller.store import Store
from controller.store.db import Db
from controller.store.documents import DocumentTables
from controller.store.groups import GroupTables
from controller.store.nodetags import NodeTagTables
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import DocumentError
from plugins.sdk.facts import Facts, Platform
from tests.support.databases import sqlite_db

T = TypeVar("T")
NOW = 1_700_000_000_000

if all(issubclass(Store, m) for m in (DocumentTables, GroupTables, NodeTagTables)):
    _TestStore = Store
else:
    class _TestStore(DocumentTables, GroupTables, NodeTagTables, Store):  # type: ignore[no-redef]
        pass


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class FakeContext:
    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


def validate(content: bytes, fmt: str | None) -> DocumentSummary:
    """A stand-in for the SSM parser: JSON documents only, parameters are the object's keys."""
    if b"INVALID" in content:
        raise DocumentError("mainSteps[0]: unknown action aws:nope")
    if fmt == "JSON":
        doc = json.loads(content)
        return DocumentSummary(description=str(doc.get("description", "")), parameters=tuple(doc.get("parameters", {})))
    return DocumentSummary(description="yaml doc", parameters=())


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    with sqlite_db(tmp_path, _TestStore) as d:
        yield d


def run(fn: Callable[[], Awaitable[T]]) -> T:
    async def go() -> T:
        return await fn()
    return asyncio.run(go())


def call(method: Callable[..., Awaitable[T]], request: object, who: str = "alice") -> T:
    return run(lambda: method(request, FakeContext(), who))


def refused(method: Callable[..., Awaitable[object]], request: object) -> Aborted:
    with pytest.raises(Aborted) as info:
        call(method, request)
    return info.value


JSON_DOC = json.dumps({"schemaVersion": "2.2", "description": "deploy it", "parameters": {"a": {}, "b": {}},
                       "mainSteps": []}).encode()
YAML_DOC = b"schemaVersion: '2.2'\nmainSteps: []\n"


# -- documents -----------------------------------------------------------------------------------------

def test_put_get_list_set_default_delete(db: Db) -> None:
    api = DocumentApi(db, validate, clock=lambda: NOW)
    r = call(api.PutDocument, pb.PutDocumentRequest(name="Deploy", content=JSON_DOC, create=True))
    d = r.document
    assert (d.name, d.version, d.latest_version, d.default_version, d.format) == ("Deploy", 1, 1, 1, "JSON")
    assert (d.description, list(d.parameters), d.created_by, d.created_at_ms, d.builtin) == \
        ("deploy it", ["a", "b"], "alice", NOW, False)
    assert d.sha256 == hashlib.sha256(JSON_DOC).hexdigest()
    r2 = call(api.PutDocument, pb.PutDocumentRequest(name="Deploy", content=YAML_DOC, create=False), who="bob")
    assert (r2.document.version, r2.document.default_version, r2.document.format, r2.document.created_by) == \
        (2, 1, "YAML", "bob")

    got = call(api.GetDocument, pb.GetDocumentRequest(name="Deploy"))
    assert (got.document.version, got.content, list(got.document.parameters)) == (1, JSON_DOC, ["a", "b"])
    assert call(api.GetDocument, pb.GetDocumentRequest(name="Deploy", version="$LATEST")).content == YAML_DOC
    assert call(api.GetDocument, pb.GetDocumentRequest(name="Deploy", version="2")).document.version == 2

    s = call(api.SetDefaultVersion, pb.SetDefaultVersionRequest(name="Deploy", version=2))
    assert (s.document.version, s.document.default_version) == (2, 2)
    listed = call(api.ListDocuments, pb.ListDocumentsRequest())
    assert [(x.name, x.version) for x in listed.documents] == [("Deploy", 2)]

    call(api.DeleteDocument, pb.DeleteDocumentRequest(name="Deploy"))
    assert list(call(api.ListDocuments, pb.ListDocumentsRequest()).documents) == []
    e = refused(api.GetDocument, pb.GetDocumentRequest(name="Deploy"))
    assert e.code is grpc.StatusCode.NOT_FOUND and "no document Deploy" in e.details


@pytest.mark.parametrize(("request_", "code", "message"), [
    (pb.PutDocumentRequest(name="ab", content=YAML_DOC, create=True), "INVALID_ARGUMENT", "3 to 128 characters"),
    (pb.PutDocumentRequest(name="a b c", content=YAML_DOC, create=True), "INVALID_ARGUMENT", "3 to 128"),
    (pb.PutDocumentRequest(name="x" * 129, content=YAML_DOC, create=True), "INVALID_ARGUMENT", "3 to 128"),
    (pb.PutDocumentRequest(name="AWS-RunShellScript", content=YAML_DOC, create=True), "INVALID_ARGUMENT",
     "reserved for built-in"),
    (pb.PutDocumentRequest(name="aws-mine", content=YAML_DOC, create=True), "INVALID_ARGUMENT", "reserved"),
    (pb.PutDocumentRequest(name="AmazonThing", content=YAML_DOC, create=True), "INVALID_ARGUMENT", "reserved"),
    (pb.PutDocumentRequest(name="amzn-x", content=YAML_DOC, create=True), "INVALID_ARGUMENT", "reserved"),
    (pb.PutDocumentRequest(name="Outpost-Mine", content=YAML_DOC, create=True), "INVALID_ARGUMENT", "reserved"),
    (pb.PutDocumentRequest(name="Deploy", content=b"", create=True), "INVALID_ARGUMENT", "content is empty"),
    (pb.PutDocumentRequest(name="Deploy", content=b"#" * (64 * 1024 + 1), create=True), "INVALID_ARGUMENT",
     "at most 65536"),
    (pb.PutDocumentRequest(name="Deploy", content=YAML_DOC, format="TOML", create=True), "INVALID_ARGUMENT",
     "YAML or JSON"),
    (pb.PutDocumentRequest(name="Deploy", content=b"INVALID", create=True), "INVALID_ARGUMENT",
     "document Deploy is not valid: mainSteps\\[0\\]: unknown action aws:nope"),
    (pb.PutDocumentRequest(name="Deploy", content=YAML_DOC, create=False), "NOT_FOUND", "no document Deploy"),
])
def test_put_refusals(db: Db, request_: pb.PutDocumentRequest, code: str, message: str) -> None:
    e = refused(DocumentApi(db, validate).PutDocument, request_)
    assert e.code is grpc.StatusCode[code]
    assert re.search(message, e.details), e.details


def test_conflict_builtin_and_selector_codes(db: Db) -> None:
    api = DocumentApi(db, validate)
    call(api.PutDocument, pb.PutDocumentRequest(name="Deploy", content=YAML_DOC, create=True))
    e = refused(api.PutDocument, pb.PutDocumentRequest(name="Deploy", content=YAML_DOC, create=True))
    assert e.code is grpc.StatusCode.ALREADY_EXISTS
    e = refused(api.GetDocument, pb.GetDocumentRequest(name="Deploy", version="latest"))
    assert e.code is grpc.StatusCode.INVALID_ARGUMENT and "$LATEST" in e.details
    e = refused(api.GetDocument, pb.GetDocumentRequest(name="Deploy", version="9"))
    assert e.code is grpc.StatusCode.NOT_FOUND and "no version 9" in e.details
    e = refused(api.SetDefaultVersion, pb.SetDefaultVersionRequest(name="Deploy", version=0))
    assert e.code is grpc.StatusCode.INVALID_ARGUMENT
    e = refused(api.SetDefaultVersion, pb.SetDefaultVersionRequest(name="Deploy", version=3))
    assert e.code is grpc.StatusCode.NOT_FOUND
    e = refused(api.DeleteDocument, pb.DeleteDocumentRequest(name="Nope"))
    assert e.code is grpc.StatusCode.NOT_FOUND

    db.store.put_document("Outpost-RunShellScript", YAML_DOC, "YAML", hashlib.sha256(YAML_DOC).hexdigest(), "",
                          "outpost", NOW, create=True, builtin=True)
    e = refused(api.DeleteDocument, pb.DeleteDocumentRequest(name="Outpost-RunShellScript"))
    assert e.code is grpc.StatusCode.FAILED_PRECONDITION and "built in" in e.details
    e = refused(api.SetDefaultVersion, pb.SetDefaultVersionRequest(name="Outpost-RunShellScript", version=1))
    assert e.code is grpc.StatusCode.FAILED_PRECONDITION
    assert call(api.GetDocument, pb.GetDocumentRequest(name="Outpost-RunShellScript")).document.builtin


def test_helpers() -> None:
    assert name_problem("Deploy-App_1.0") is None
    assert document_format(b'  {"a": 1}', "") == "JSON"
    assert document_format(b"a: 1\n", "") == "YAML"
    assert document_format(b"{a: 1}", "") == "YAML"  # YAML flow mapping, not JSON
    assert document_format(b"\xff", "") == "YAML"
    assert document_format(b"{}", "yaml") == "YAML"


# -- groups and node tags --------------------------------------------------------------------------------

def node(node_id: str, tags: tuple[Tag, ...]) -> NodeRecord:
    f = Facts(hostname=node_id, os_name="Debian", os_version="12", platform=Platform.LINUX,
              architecture="x86_64", ip_addresses=(), agent_version="0.1.0", plugins=())
    return NodeRecord(node_id=node_id, facts=f, tags=tags, activation_id="act-1", certificate_serial="01",
                      registered_at_ms=NOW, last_seen_at_ms=NOW)


def web_group(name: str = "web") -> pb.Group:
    return pb.Group(name=name, targets=pb.Targets(tags=[pb.TagFilter(key="Role", values=["web", "api"])]))


def test_groups(db: Db) -> None:
    api = GroupApi(db, clock=lambda: NOW)
    db.store.add_node(node("mi-1", (Tag("Role", "web"),)))
    db.store.add_node(node("mi-2", (Tag("Role", "db"),)))
    db.store.add_node(node("mi-3", (Tag("Role", "api"),)))
    r = call(api.PutGroup, pb.PutGroupRequest(group=web_group()))
    assert r.group == pb.Group(name="web", targets=web_group().targets, created_at_ms=NOW)
    got = call(api.GetGroup, pb.GetGroupRequest(name="web"))
    assert [n.node_id for n in got.nodes] == ["mi-1", "mi-3"]
    assert [g.name for g in call(api.ListGroups, pb.ListGroupsRequest()).groups] == ["web"]
    call(api.DeleteGroup, pb.DeleteGroupRequest(name="web"))
    assert refused(api.GetGroup, pb.GetGroupRequest(name="web")).code is grpc.StatusCode.NOT_FOUND
    assert refused(api.DeleteGroup, pb.DeleteGroupRequest(name="web")).code is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(("group", "message"), [
    (pb.Group(name="", targets=web_group().targets), "group name"),
    (pb.Group(name="a b", targets=web_group().targets), "group name"),
    (pb.Group(name="g"), "needs targets"),
    (pb.Group(name="g", targets=pb.Targets(group="other")), "another group"),
    (pb.Group(name="g", targets=pb.Targets(all=True)), "every node"),
    (pb.Group(name="g", targets=pb.Targets(node_ids=[f"mi-{i}" for i in range(51)])), "at most 50 node ids"),
    (pb.Group(name="g", targets=pb.Targets(tags=[pb.TagFilter(key=f"k{i}", values=["v"]) for i in range(6)])),
     "at most 5 tag keys"),
    (pb.Group(name="g", targets=pb.Targets(tags=[pb.TagFilter(key="k", values=[])])), "1 to 50 values"),
    (pb.Group(name="g", targets=pb.Targets(tags=[pb.TagFilter(key="k", values=["v"]),
                                                 pb.TagFilter(key="k", values=["w"])])), "given twice"),
])
def test_put_group_refusals(db: Db, group: pb.Group, message: str) -> None:
    e = refused(GroupApi(db).PutGroup, pb.PutGroupRequest(group=group))
    assert e.code is grpc.StatusCode.INVALID_ARGUMENT and message in e.details, e.details


def test_tag_node(db: Db) -> None:
    api = GroupApi(db)
    db.store.add_node(node("mi-1", (Tag("Role", "web"), Tag("env", "prod"))))
    r = call(api.TagNode, pb.TagNodeRequest(node_id="mi-1", tags=[pb.Tag(key="env", value="staging"),
                                                                   pb.Tag(key="zone", value="")]))
    assert [(t.key, t.value) for t in r.node.tags] == [("Role", "web"), ("env", "staging"), ("zone", "")]
    r = call(api.TagNode, pb.TagNodeRequest(node_id="mi-1", remove=["Role", "nope"]))
    assert [t.key for t in r.node.tags] == ["env", "zone"]
    assert refused(api.TagNode, pb.TagNodeRequest(node_id="mi-9", remove=["x"])).code is grpc.StatusCode.NOT_FOUND
    for req, message in [
        (pb.TagNodeRequest(node_id="mi-1"), "nothing to change"),
        (pb.TagNodeRequest(node_id="mi-1", tags=[pb.Tag(key="", value="v")]), "1 to 128"),
        (pb.TagNodeRequest(node_id="mi-1", tags=[pb.Tag(key="k" * 129, value="v")]), "1 to 128"),
        (pb.TagNodeRequest(node_id="mi-1", tags=[pb.Tag(key="k", value="v" * 257)]), "longer than 256"),
        (pb.TagNodeRequest(node_id="mi-1", tags=[pb.Tag(key="k", value="1"), pb.Tag(key="k", value="2")]),
         "given twice"),
        (pb.TagNodeRequest(node_id="mi-1", tags=[pb.Tag(key="k", value="1")], remove=["k"]), "both set and removed"),
        (pb.TagNodeRequest(node_id="mi-1", tags=[pb.Tag(key=f"k{i}", value="") for i in range(49)]),
         "at most 50 tags"),
    ]:
        e = refused(api.TagNode, req)
        assert e.code is grpc.StatusCode.INVALID_ARGUMENT and message in e.details, (message, e.details)
    assert [t.key for t in db.store.get_node("mi-1").tags] == ["env", "zone"]
