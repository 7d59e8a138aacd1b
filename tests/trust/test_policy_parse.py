"""controller.trust.policy: what a policy text parses to: actions resolved (IAM's SSM names mapped),
resources in Outpost's words, conditions typed; JSON and YAML alike; IAM's wildcards."""
from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from controller.trust import policy_iam
from controller.trust.policy import (
    ADMINISTRATOR_ACCESS,
    Action,
    Condition,
    ConditionKey,
    ConditionOperator,
    Effect,
    Glob,
    KeyKind,
    PolicyVersion,
    ResourceType,
    parse_policy,
)

POLICIES = Path(__file__).parent / "policies"


def one(action: object = "*", resource: object = "*", **extra: object) -> str:
    return json.dumps({"Statement": {"Effect": "Allow", "Action": action, "Resource": resource, **extra}})


@pytest.mark.parametrize(("pattern", "actions"), [
    ("command:Send", "command:Send"),
    ("Command:SEND", "command:Send"),
    ("command:*", "command:Send command:Cancel command:Get command:List"),
    ("document:Get*", "document:Get"),
    ("operator:*e", "operator:Create operator:Revoke"),
    ("policy:?etach", "policy:Detach"),
    ("*:List", "command:List document:List node:List group:List activation:List operator:List policy:List "
               "agentRelease:List content:List baseline:List compliance:List parameter:List"),
    ("*:Get*", "command:Get document:Get group:Get operator:Get policy:Get baseline:Get compliance:Get "
               "parameter:Get parameter:List"),  # ssm:GetParametersByPath's too
    ("ssm:GetParameter*", "parameter:Get parameter:List"),
    ("ssm:DeleteParameters", "parameter:Delete"),
    ("ssm:SendCommand", "command:Send"),
    ("SSM:sendcommand", "command:Send"),
    ("ssm:GetCommandInvocation", "command:Get"),
    ("ssm:ListCommandInvocations", "command:List"),
    ("ssm:DescribeDocument", "document:Get"),
    ("ssm:RemoveTagsFromResource", "node:Tag"),
    ("ssm:DeregisterManagedInstance", "node:Deregister"),
    ("ssm:DescribeActivations", "activation:List"),
    ("ssm:Send*", "command:Send"),
    ("ssm:List*", "command:List document:List document:Get"),  # ListDocumentVersions reads a document
    ("ssm:Describe*", "document:Get node:List activation:List parameter:List"),
    ("ssm:*Tags*", "node:Tag"),
    ("ssm:*", " ".join(a.value for a in Action if a.service in ("command", "document", "node", "activation",
                                                                 "parameter"))),
    ("*", " ".join(a.value for a in Action)),
])
def test_an_action_pattern_resolves_to_outpost_actions(pattern: str, actions: str) -> None:
    statement = parse_policy(one(pattern)).statements[0]
    assert statement.actions == frozenset(Action(name) for name in actions.split())
    assert statement.covers(Action(actions.split()[0]))


def test_not_action_covers_every_other_action() -> None:
    statement = parse_policy(json.dumps({"Statement": {"Effect": "Deny", "NotAction": "ssm:*", "Resource": "*"}}))
    st = statement.statements[0]
    covered = {a for a in Action if st.covers(a)}
    assert covered == {a for a in Action if a.service in ("group", "operator", "policy", "audit", "controller",
                                                                        "agentRelease", "content", "baseline",
                                                                        "compliance")}
    assert (st.effect, st.not_action) == (Effect.DENY, True)


def test_every_ssm_name_maps_to_an_outpost_action_once() -> None:
    names = [ssm for ssm, _ in policy_iam.SSM_ACTIONS]
    assert len(names) == len(set(names)) == 27
    assert {Action(outpost).service for _, outpost in policy_iam.SSM_ACTIONS} == {"command", "document", "node",
                                                                                  "activation", "parameter"}


@pytest.mark.parametrize(("written", "text", "kind"), [
    ("*", "*", None),
    ("document/deploy", "document/deploy", ResourceType.DOCUMENT),
    ("node/mi-*", "node/mi-*", ResourceType.NODE),
    ("group/web?", "group/web?", ResourceType.GROUP),
    ("operator/alice", "operator/alice", ResourceType.OPERATOR),
    ("policy/prod-senders", "policy/prod-senders", ResourceType.POLICY),
    ("activation/a-1", "activation/a-1", ResourceType.ACTIVATION),
    ("arn:aws:ssm:us-east-2::document/AWS-RunShellScript", "document/AWS-RunShellScript", ResourceType.DOCUMENT),
    ("arn:aws:ssm:us-east-2:123456789012:document/My*", "document/My*", ResourceType.DOCUMENT),
    ("arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/*", "parameter/app/db/*", ResourceType.PARAMETER),
    ("arn:aws:ssm:*:*:managed-instance/mi-0123*", "node/mi-0123*", ResourceType.NODE),
    ("arn:aws:ec2:::instance/*", "node/*", ResourceType.NODE),
    ("arn:aws:ec2:us-east-2:accountID:instance/i-1", "node/i-1", ResourceType.NODE),
    ("arn:aws-cn:ec2:cn-north-1:1:instance/i-1", "node/i-1", ResourceType.NODE),
    ("arn:*:ssm:*:*:document/x", "document/x", ResourceType.DOCUMENT),
])
def test_a_resource_is_held_in_outposts_words(written: str, text: str, kind: ResourceType | None) -> None:
    pattern = parse_policy(one(resource=written)).statements[0].resources[0]
    assert (pattern.text, pattern.written, pattern.type) == (text, written, kind)


@pytest.mark.parametrize(("key", "canonical"), [
    ("node:tag/Environment", ConditionKey(KeyKind.NODE_TAG, "Environment")),
    ("Node:Tag/Environment", ConditionKey(KeyKind.NODE_TAG, "Environment")),
    ("node:tag/a/b:c", ConditionKey(KeyKind.NODE_TAG, "a/b:c")),
    ("ssm:resourceTag/Environment", ConditionKey(KeyKind.NODE_TAG, "Environment")),
    ("aws:resourcetag/environment", ConditionKey(KeyKind.NODE_TAG, "environment")),
    ("aws:ResourceTag/Environment", ConditionKey(KeyKind.NODE_TAG, "Environment")),
    ("document:name", ConditionKey(KeyKind.DOCUMENT_NAME)),
    ("Operator:Name", ConditionKey(KeyKind.OPERATOR_NAME)),
])
def test_a_condition_key_is_held_in_outposts_words(key: str, canonical: ConditionKey) -> None:
    condition = parse_policy(one(Condition={"StringLike": {key: ["a*", "b"]}})).statements[0].conditions[0]
    assert condition == Condition(ConditionOperator.STRING_LIKE, False, canonical, ("a*", "b"))


@pytest.mark.parametrize("key", ["aws:SourceIp", "AWS:SOURCEIP", "request:source_ip"])
def test_addresses_are_parsed_once(key: str) -> None:
    condition = parse_policy(one(Condition={"NotIpAddressIfExists": {key: ["10.1.2.3/8", "2001:db8::1"]}})
                             ).statements[0].conditions[0]
    assert (condition.operator, condition.if_exists, condition.key.kind) == (
        ConditionOperator.NOT_IP_ADDRESS, True, KeyKind.SOURCE_IP)
    assert condition.networks == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::1/128"))


@pytest.mark.parametrize(("operator", "negated"), [(op, "Not" in op.value) for op in ConditionOperator])
def test_operators_know_whether_they_are_negated(operator: ConditionOperator, negated: bool) -> None:
    assert operator.negated is negated
    assert operator.on_addresses is (operator.value in ("IpAddress", "NotIpAddress"))


def test_json_and_yaml_give_the_same_policy() -> None:
    yaml_text = """
Version: 2012-10-17   # unquoted: YAML reads a date
Id: example
Statement:
  Sid: Prod-senders_1
  Effect: Allow
  Action: [command:Send, ssm:CancelCommand]
  NotResource: node/mi-dev*
  Condition:
    StringEqualsIfExists: {node:tag/Environment: prod}
"""
    json_text = json.dumps({"Version": "2012-10-17", "Id": "example", "Statement": [{
        "Sid": "Prod-senders_1", "Effect": "Allow", "Action": ["command:Send", "ssm:CancelCommand"],
        "NotResource": ["node/mi-dev*"], "Condition": {"StringEqualsIfExists": {"node:tag/Environment": "prod"}}}]})
    from_yaml, from_json = parse_policy(yaml_text), parse_policy(("\ufeff" + json_text).encode())
    assert from_yaml == from_json
    st = from_yaml.statements[0]
    assert (from_yaml.version, from_yaml.id, st.label, st.not_resource) == (
        PolicyVersion.V2012_10_17, "example", "Prod-senders_1", True)
    assert st.actions == {Action.COMMAND_SEND, Action.COMMAND_CANCEL}


@pytest.mark.parametrize(("text", "version"), [
    ('{"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
     PolicyVersion.V2008_10_17),
    (one(), None),
    ("Version: '2012-10-17'\nStatement: {Effect: Allow, Action: '*', Resource: '*'}", PolicyVersion.V2012_10_17),
])
def test_version_is_optional(text: str, version: PolicyVersion | None) -> None:
    assert parse_policy(text).version is version


def test_statements_are_named_by_sid_else_index() -> None:
    policy = parse_policy(json.dumps({"Statement": [
        {"Sid": "", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "Second", "Effect": "Deny", "Action": "*", "Resource": "*"}]}))
    assert [st.label for st in policy.statements] == ["Statement[0]", "Second"]
    assert policy.statements[0].sid is None


def test_the_ssm_examples_pasted_and_in_outposts_words_differ_only_in_how_resources_were_written() -> None:
    pasted = parse_policy((POLICIES / "ssm-least-privilege.json").read_text()).statements[0]
    own = parse_policy((POLICIES / "ssm-least-privilege.yaml").read_text()).statements[0]
    assert [r.text for r in pasted.resources] == [r.text for r in own.resources]
    assert [r.written for r in pasted.resources] != [r.written for r in own.resources]
    assert (pasted.actions, pasted.conditions) == (own.actions, own.conditions)


def test_administrator_access_allows_everything_everywhere() -> None:
    (st,) = ADMINISTRATOR_ACCESS.statements
    assert (st.effect, st.actions, [r.text for r in st.resources], st.conditions) == (
        Effect.ALLOW, frozenset(Action), ["*"], ())


@pytest.mark.parametrize(("pattern", "text", "matches"), [
    ("*", "", True),
    ("*", "document/a/b", True),
    ("document/*", "document/", True),
    ("document/*", "document", False),
    ("a?c", "abc", True),
    ("a?c", "ac", False),
    ("a?c", "abbc", False),
    ("a*b*c", "aXbYc", True),
    ("a*b*c", "acb", False),
    ("ab*ba", "aba", False),
    ("ab*ba", "abba", True),
    ("*.*", "x.y", True),
    ("[a]", "[a]", True),
    ("[a]", "a", False),
    ("a\\*", "a\\xyz", True),
    ("Doc*", "doc1", False),
    ("*x", "x\ny\nx", True),
    ("a?b", "a\nb", True),
    ("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c*b", "a" * 5000 + "b", False),  # exponential with a backtracking regex
    ("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 5000 + "b", True),
])
def test_glob(pattern: str, text: str, matches: bool) -> None:
    assert Glob(pattern).matches(text) is matches


def test_glob_ignoring_case() -> None:
    assert Glob("Command:S*", ignore_case=True).matches("command:send")
    assert not Glob("Command:S*").matches("command:send")
