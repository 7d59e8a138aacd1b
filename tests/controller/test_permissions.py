"""The admin calls in policy terms (controller/server/permissions.py), the gate's parts that need no
process (source addresses, the administrator's shortcut, loading once), and the denylist."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from controller.server.access_gate import source_ip
from controller.server.permissions import INLINE_DOCUMENT, PERMISSIONS
from controller.trust.authorizer import Authorizer
from controller.trust.policy import ADMINISTRATOR_ACCESS, Action
from controller.trust.policy_eval import Decision, ResourceRef
from controller.trust.revocation import Denylist
from outpost.v1 import outpost_pb2 as pb
from outpost.v1 import outpost_pb2_grpc as pbg

ADMIN_TEXT = '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}'
DENY_SEND = '{"Statement": {"Sid": "NoSend", "Effect": "Deny", "Action": "command:Send", "Resource": "node/mi-x*"}}'


def test_every_admin_call_is_in_the_table() -> None:
    methods = {m for m in vars(pbg.AdminServiceServicer) if m[0].isupper()}
    assert methods == set(PERMISSIONS), "a call missing from PERMISSIONS is denied to everyone"


@pytest.mark.parametrize(("method", "request_", "action", "resources"), [
    ("SendCommand", pb.SendCommandRequest(document_name="deploy"), Action.COMMAND_SEND, ["document/deploy"]),
    ("SendCommand", pb.SendCommandRequest(document_name="AWS-RunShellScript", document=b"{}"), Action.COMMAND_SEND,
     [f"document/{INLINE_DOCUMENT}"]),  # an inline document is never the stored one it names
    ("PutDocument", pb.PutDocumentRequest(name="d", create=True), Action.DOCUMENT_CREATE, ["document/d"]),
    ("PutDocument", pb.PutDocumentRequest(name="d"), Action.DOCUMENT_UPDATE, ["document/d"]),
    ("PutPolicy", pb.PutPolicyRequest(name="p"), Action.POLICY_UPDATE, ["policy/p"]),
    ("AttachPolicy", pb.AttachPolicyRequest(policy="p", detach=True), Action.POLICY_DETACH, ["policy/p"]),
    ("TagNode", pb.TagNodeRequest(node_id="mi-1"), Action.NODE_TAG, ["node/mi-1"]),
    ("PutGroup", pb.PutGroupRequest(group=pb.Group(name="web")), Action.GROUP_PUT, ["group/web"]),
    ("ListNodes", pb.ListNodesRequest(), Action.NODE_LIST, []),
])
def test_a_call_names_its_action_and_resources(method: str, request_: object, action: Action,
                                               resources: list[str]) -> None:
    permission = PERMISSIONS[method]
    assert permission.action_of(request_) is action  # type: ignore[arg-type]
    assert [r.name for r in permission.resources(request_)] == resources  # type: ignore[arg-type]


@pytest.mark.parametrize(("peer", "address"), [
    ("ipv4:127.0.0.1:5555", "127.0.0.1"), ("ipv6:[::1]:443", "::1"), ("ipv6:[2001:db8::7]:1", "2001:db8::7"),
    ("unix:/tmp/sock", None), ("ipv4:nonsense:1", None), ("", None),
])
def test_the_source_address_of_a_peer(peer: str, address: str | None) -> None:
    assert source_ip(peer) == address


def _authorizer(documents: dict[str, Sequence[tuple[str, str]]], loads: list[str]) -> Authorizer:
    async def load(operator: str) -> tuple[bool, bool, Sequence[tuple[str, str]]]:
        loads.append(operator)
        return operator in documents, operator == "revoked", documents.get(operator, ())
    return Authorizer(load)


def test_an_administrator_is_allowed_without_deciding_each_resource_and_a_deny_takes_that_away() -> None:
    loads: list[str] = []
    auth = _authorizer({"admin": [("AdministratorAccess", ADMIN_TEXT)],
                        "fenced": [("AdministratorAccess", ADMIN_TEXT), ("no-send", DENY_SEND)]}, loads)
    nodes = [ResourceRef.node(f"mi-x{i}") for i in range(3)]

    async def go() -> None:
        quick = await auth.decide("admin", None, Action.COMMAND_SEND, nodes)
        assert quick.allowed and quick.resources == ()  # the shortcut: nothing evaluated
        fenced = await auth.decide("fenced", None, Action.COMMAND_SEND, nodes)
        assert fenced.decision is Decision.EXPLICIT_DENY and len(fenced.denied) == 3
        assert (await auth.decide("fenced", None, Action.COMMAND_LIST, ())).allowed  # the deny covers sends only
        for who in ("stranger", "revoked"):
            assert (await auth.decide(who, None, Action.COMMAND_LIST, ())).decision is Decision.IMPLICIT_DENY
        await auth.decide("admin", None, Action.NODE_LIST, ())
        assert loads == ["admin", "fenced", "stranger", "revoked"]  # each loaded once
        auth.changed("admin")
        await auth.decide("admin", None, Action.NODE_LIST, ())
        assert loads[-1] == "admin"
    asyncio.run(go())
    assert (ADMIN_TEXT and ADMINISTRATOR_ACCESS.statements[0].actions) == frozenset(Action)


def test_a_stored_policy_that_no_longer_parses_denies_its_holder_everything() -> None:
    auth = _authorizer({"x": [("AdministratorAccess", ADMIN_TEXT), ("broken", "{not json")]}, [])
    decided = asyncio.run(auth.decide("x", None, Action.COMMAND_LIST, ()))
    assert decided.decision is Decision.EXPLICIT_DENY
    assert str(decided.resources[0].statement) == "broken:Unreadable"


def test_the_denylist_ignores_case() -> None:
    deny = Denylist(["0ABC"])
    deny.add(["ff01"])
    assert "0abc" in deny and "FF01" in deny and "0abd" not in deny and len(deny) == 2
