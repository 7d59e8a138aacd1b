"""controller.trust.policy: a text that is no policy is refused with one InputError, one line naming
what is wrong and where (the policy's own keys and indices), never a traceback of the parsers'."""
from __future__ import annotations

import json
import re

import pytest

from controller.trust.policy import parse_policy
from plugins.sdk.errors import InputError

SERVICES = ("command, document, node, group, activation, operator, policy, audit, controller, agentRelease, content, "
            "baseline, compliance, parameter")
TYPES = "document, node, group, operator, policy, activation, agent-release, content, baseline, parameter"
KEYS = ("node:tag/KEY, document:name, operator:name, request:source_ip; from IAM: ssm:resourceTag/KEY, "
        "aws:ResourceTag/KEY, aws:SourceIp")
ARNS = ("arn:aws:ssm:REGION:ACCOUNT:document/NAME, arn:aws:ssm:REGION:ACCOUNT:parameter/NAME, "
        "arn:aws:ssm:REGION:ACCOUNT:managed-instance/ID or arn:aws:ec2:REGION:ACCOUNT:instance/ID")
OPERATORS = ("StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, "
             "StringNotLike, IpAddress, NotIpAddress; each also ...IfExists")
SSM = re.escape("(Outpost maps ssm:SendCommand, ssm:CancelCommand, ") + r"[a-zA-Z:, ]+" + re.escape(
    "ssm:DeleteParameters)")
PRINCIPAL = ("a statement with a Principal belongs to a resource policy; Outpost's policies are identity policies, "
             "attached to operators, and name none")
STATEMENT_KEYS = "Sid, Effect, Action, NotAction, Resource, NotResource, Condition"


def policy(*statements: dict[str, object], **top: object) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements), **top})


def allow(action: object = "*", resource: object = "*", condition: object = None, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition is not None:
        out["Condition"] = condition
    return out


def cond(operator: str, key: str, values: object) -> dict[str, object]:
    return allow(condition={operator: {key: values}})


# (id, text, the message: exact, or a regex when it starts with ^)
CASES = [
    # -- actions ------------------------------------------------------------------------------------------------------
    ("unknown action", policy(allow("command:Sned")), "Statement[0].Action: unknown action 'command:Sned' "
     "(did you mean 'command:Send'? known: command:Send, command:Cancel, command:Get, command:List)"),
    ("unknown action in a list", policy(allow(), allow(["command:Send", "comand:Send"])),
     "Statement[1].Action[1]: 'comand:Send' has no Outpost equivalent: Outpost has no service 'comand' "
     f"(did you mean 'command:Send'? its services: {SERVICES}; and ssm: actions it maps)"),
    ("unknown action pattern", policy(allow("document:Foo*")), "Statement[0].Action: unknown action 'document:Foo*' "
     "(known: document:Create, document:Update, document:Delete, document:Get, document:List)"),
    ("a pattern matching nothing", policy(allow("*:Nothing")), "Statement[0].Action: unknown action '*:Nothing' "
     "(known: command:*, document:*, node:*, group:*, activation:*, operator:*, policy:*, audit:*, controller:*, "
     "agentRelease:*, content:*, baseline:*, compliance:*, parameter:*)"),
    ("another service", policy(allow("s3:GetObject")), "Statement[0].Action: 's3:GetObject' has no Outpost "
     f"equivalent: Outpost has no service 's3' (its services: {SERVICES}; and ssm: actions it maps)"),
    ("an unmapped ssm action", policy(allow("ssm:LabelParameterVersion")),
     "^" + re.escape("Statement[0].Action: 'ssm:LabelParameterVersion' has no Outpost equivalent ") + SSM + "$"),
    ("an unmapped ssm action in a Deny", policy({"Effect": "Deny", "Action": ["ssm:SendCommand", "ssm:StartSession"],
                                                 "Resource": "*"}),
     "^" + re.escape("Statement[0].Action[1]: 'ssm:StartSession' has no Outpost equivalent ") + SSM + "$"),
    ("an ssm pattern matching nothing", policy(allow("ssm:GetInventory*")), "^" + re.escape(
        "Statement[0].Action: 'ssm:GetInventory*' matches no SSM action with an Outpost equivalent ") + SSM + "$"),
    ("no service", policy(allow("commandSend")),
     "Statement[0].Action: 'commandSend' is not SERVICE:ACTION (e.g. command:Send) or *"),
    ("an empty action", policy(allow("")), "Statement[0].Action: '' is not SERVICE:ACTION (e.g. command:Send) or *"),
    ("no actions", policy(allow([])), "Statement[0].Action: is empty; write at least one"),
    ("an action list nested", policy(allow([["command:Send"]])),
     "Statement[0].Action[0]: expected a string, got a list (['command:Send'])"),
    ("an action mapping", policy(allow({"a": "b"})),
     "Statement[0].Action: expected a string or a list of strings, got a mapping"),
    ("a NUL", policy(allow("command:Send\x00")), "Statement[0].Action: contains a NUL character, which no command "
     "line, environment variable or database text can carry"),
    # -- resources ----------------------------------------------------------------------------------------------------
    ("no Resource", policy({"Effect": "Allow", "Action": "*"}), "Statement[0]: has no Resource or NotResource (an "
     "identity policy names the resources it covers; write \"Resource\": \"*\" for all)"),
    ("both Resource and NotResource", policy(allow(NotResource="*")),
     "Statement[0]: has both Resource and NotResource; a statement has one of them"),
    ("unknown resource type", policy(allow(resource="documents/x")), "Statement[0].Resource: unknown resource type "
     f"'documents' (did you mean 'document'? types: {TYPES}; written out)"),
    ("a wildcard type", policy(allow(resource=["*", "*/x"])),
     f"Statement[0].Resource[1]: unknown resource type '*' (types: {TYPES}; written out)"),
    ("no name", policy(allow(resource="document/")),
     f"Statement[0].Resource: 'document/' is not TYPE/NAME or * (types: {TYPES})"),
    ("no slash", policy(allow(resource="node*")),
     f"Statement[0].Resource: 'node*' is not TYPE/NAME or * (types: {TYPES})"),
    ("a policy variable", policy(allow(resource="document/${aws:username}")),
     "Statement[0].Resource: 'document/${aws:username}': policy variables (${...}) are not supported"),
    ("an S3 ARN", policy(allow(resource="arn:aws:s3:::bucket/*")),
     f"Statement[0].Resource: 'arn:aws:s3:::bucket/*' has no Outpost equivalent (Outpost maps {ARNS})"),
    ("an SSM maintenance window ARN", policy(allow(resource="arn:aws:ssm:us-east-1:1:maintenancewindow/x")),
     "Statement[0].Resource: 'arn:aws:ssm:us-east-1:1:maintenancewindow/x' has no Outpost equivalent "
     f"(Outpost maps {ARNS})"),
    ("every SSM resource", policy(allow(resource="arn:aws:ssm:*:*:*")),
     f"Statement[0].Resource: 'arn:aws:ssm:*:*:*' has no Outpost equivalent (Outpost maps {ARNS})"),
    ("an instance ARN without an id", policy(allow(resource=["*", "arn:aws:ec2:r:a:instance/"])),
     f"Statement[0].Resource[1]: 'arn:aws:ec2:r:a:instance/' has no Outpost equivalent (Outpost maps {ARNS})"),
    # -- conditions ---------------------------------------------------------------------------------------------------
    ("unknown condition key", policy(cond("StringEquals", "node:tags/Env", "x")),
     f"Statement[0].Condition.StringEquals.node:tags/Env: unknown condition key 'node:tags/Env' (keys: {KEYS})"),
    ("a tag without a key", policy(cond("StringEquals", "node:tag/", "x")),
     f"Statement[0].Condition.StringEquals.node:tag/: unknown condition key 'node:tag/' (keys: {KEYS})"),
    ("aws:username", policy(cond("StringEquals", "aws:username", "x")),
     "Statement[0].Condition.StringEquals.aws:username: condition key 'aws:username' has no Outpost equivalent "
     "(Outpost maps ssm:resourceTag/KEY, aws:ResourceTag/KEY, aws:SourceIp)"),
    ("aws:PrincipalTag", policy(cond("StringLike", "aws:PrincipalTag/Team", "x")),
     "Statement[0].Condition.StringLike.aws:PrincipalTag/Team: condition key 'aws:PrincipalTag/Team' has no Outpost "
     "equivalent (Outpost maps ssm:resourceTag/KEY, aws:ResourceTag/KEY, aws:SourceIp)"),
    ("an IAM tag key without a tag", policy(cond("StringEquals", "ssm:resourceTag/", "x")),
     "Statement[0].Condition.StringEquals.ssm:resourceTag/: condition key 'ssm:resourceTag/' has no Outpost "
     "equivalent (Outpost maps ssm:resourceTag/KEY, aws:ResourceTag/KEY, aws:SourceIp)"),
    ("unknown operator", policy(cond("StringEqual", "document:name", "x")),
     f"Statement[0].Condition.StringEqual: unknown condition operator 'StringEqual' (did you mean 'StringEquals'? "
     f"known: {OPERATORS})"),
    ("an operator Outpost lacks", policy(cond("NumericEquals", "document:name", "1")),
     f"Statement[0].Condition.NumericEquals: unknown condition operator 'NumericEquals' (known: {OPERATORS})"),
    ("a set operator", policy(cond("ForAnyValue:StringEquals", "document:name", "x")),
     "Statement[0].Condition.ForAnyValue:StringEquals: set operators ('ForAnyValue:') are not supported: each of "
     "Outpost's condition keys holds one value"),
    ("IpAddress on a string key", policy(cond("IpAddress", "document:name", "10.0.0.0/8")),
     "Statement[0].Condition.IpAddress.document:name: IpAddress compares addresses; only request:source_ip holds one"),
    ("a string operator on the address", policy(cond("StringEquals", "aws:SourceIp", "10.0.0.1")),
     "Statement[0].Condition.StringEquals.aws:SourceIp: request:source_ip is compared by IpAddress or NotIpAddress, "
     "not StringEquals"),
    ("a bad CIDR", policy(cond("IpAddress", "aws:SourceIp", ["10.0.0.0/8", "10.0.0.300"])),
     "Statement[0].Condition.IpAddress.aws:SourceIp[1]: '10.0.0.300' is not an IP address or CIDR block "
     "(e.g. 203.0.113.0/24, 2001:db8::/32)"),
    ("a bad IPv6 prefix", policy(cond("NotIpAddress", "request:source_ip", "2001:db8::/129")),
     "Statement[0].Condition.NotIpAddress.request:source_ip: '2001:db8::/129' is not an IP address or CIDR block "
     "(e.g. 203.0.113.0/24, 2001:db8::/32)"),
    ("no values", policy(cond("StringEquals", "document:name", [])),
     "Statement[0].Condition.StringEquals.document:name: is empty; write at least one"),
    ("a number", policy(cond("StringEquals", "node:tag/Port", 80)),
     "Statement[0].Condition.StringEquals.node:tag/Port: expected a string, got an integer (80; quote it if it is "
     "one)"),
    ("a boolean in a list", policy(cond("StringEquals", "node:tag/On", ["x", True])),
     "Statement[0].Condition.StringEquals.node:tag/On[1]: expected a string, got a boolean (True; quote it if it is "
     "one)"),
    ("a policy variable in a value", policy(cond("StringEquals", "document:name", "${aws:username}")),
     "Statement[0].Condition.StringEquals.document:name: '${aws:username}': policy variables (${...}) are not "
     "supported"),
    ("an operator with no key", policy(allow(condition={"StringEquals": {}})),
     "Statement[0].Condition.StringEquals: names no condition key"),
    ("a Condition list", policy(allow(condition=["x"])),
     "Statement[0].Condition: expected a mapping of condition operators, got a list"),
    ("a key that would break the line", policy(cond("StringEquals", "a\nb", "x")),
     f"Statement[0].Condition.StringEquals.'a\\nb': unknown condition key 'a\\nb' (keys: {KEYS})"),
    # -- statements ---------------------------------------------------------------------------------------------------
    ("Principal", policy(allow(Principal={"AWS": "*"})), f"Statement[0].Principal: {PRINCIPAL}"),
    ("NotPrincipal", policy(allow(), allow(NotPrincipal="*")), f"Statement[1].NotPrincipal: {PRINCIPAL}"),
    ("no Action", policy({"Effect": "Allow", "Resource": "*"}), "Statement[0]: has no Action or NotAction"),
    ("both Action and NotAction", policy(allow(NotAction="x")),
     "Statement[0]: has both Action and NotAction; a statement has one of them"),
    ("no Effect", policy({"Action": "*", "Resource": "*"}), "Statement[0]: has no Effect ('Allow' or 'Deny')"),
    ("Effect in the wrong case", policy(allow(Effect="allow")),
     "Statement[0].Effect: must be 'Allow' or 'Deny', got 'allow'"),
    ("unknown statement key", policy(allow(Efect="Allow")),
     f"Statement[0]: unknown key 'Efect' (did you mean 'Effect'? known: {STATEMENT_KEYS})"),
    ("a Sid with a space", policy(allow(Sid="has space")),
     "Statement[0].Sid: 'has space' is not 1 to 128 letters, digits, '_' or '-'"),
    ("a Sid twice", policy(allow(Sid="A"), allow(Sid="B"), allow(Sid="A")),
     "Statement[2].Sid: 'A' is Statement[0]'s Sid too; Sids are unique in a policy"),
    ("a Sid number", policy(allow(Sid=7)), "Statement[0].Sid: expected a string, got an integer (7; quote it if it is "
     "one)"),
    ("a statement that is a list", policy(["x"]), "Statement[0]: expected a statement (a mapping), got a list"),
    # -- the policy ---------------------------------------------------------------------------------------------------
    ("no statements", policy(), "Statement: is empty; a policy has at least one statement"),
    ("no Statement", json.dumps({"Version": "2012-10-17"}), "policy: has no Statement"),
    ("101 statements", policy(*[allow()] * 101), "Statement: has 101 statements; a policy has at most 100"),
    ("Statement a string", json.dumps({"Statement": "x"}),
     "Statement: expected a statement or a list of them, got a string"),
    ("unknown top key", json.dumps({"Statment": []}),
     "policy: unknown key 'Statment' (did you mean 'Statement'? known: Version, Id, Statement)"),
    ("unknown version", json.dumps({"Version": "2012-10-18", "Statement": [allow()]}),
     "Version: must be '2012-10-17' or '2008-10-17', got '2012-10-18'"),
    ("unknown version, a YAML date", "Version: 2012-10-18\nStatement: []\n",
     "Version: must be '2012-10-17' or '2008-10-17', got '2012-10-18'"),
    ("a list", "- 1\n- 2\n", "policy: expected a mapping with a Statement, got a list"),
    ("a key that is no string", "1: x", "policy: a key is an integer (1); keys are strings"),
    # -- the text -----------------------------------------------------------------------------------------------------
    ("oversize", "#" + "x" * 65536, "policy: is 65537 bytes; a policy has at most 65536 (64 KiB)"),
    ("oversize in UTF-8", "#" + "é" * 32768, "policy: is 65537 bytes; a policy has at most 65536 (64 KiB)"),
    ("not UTF-8", b"\xff{}", "policy: is not UTF-8 text (byte 0)"),
    ("empty", "  \n", "policy: is empty"),
    ("bad YAML", "Statement:\n  - Effect: Allow\n   Action: '*'\n", "policy: is not valid YAML: expected <block "
     "end>, but found '<block mapping start>' (while parsing a block collection) (line 3, column 4)"),
    ("bad YAML, a colon", "Statement: Effect: Allow", "policy: is not valid YAML: mapping values are not allowed "
     "here (line 1, column 18)"),
    ("bad JSON", '{"Statement": [{"Effect": "Allow",}]}',
     "policy: is not valid JSON: Expecting property name enclosed in double quotes (line 1, column 35)"),
    ("bad JSON, line 3", '{\n "Statement": [\n  {"Effect" "Allow"}]}',
     "policy: is not valid JSON: Expecting ':' delimiter (line 3, column 13)"),
    ("a key twice, JSON", '{"Statement": [{"Effect": "Allow", "Effect": "Deny", "Action": "*", "Resource": "*"}]}',
     "Statement[0]: key 'Effect' is written twice"),
    ("a key twice, YAML", "Statement:\n  - Effect: Deny\n    Action: '*'\n    Action: x\n    Resource: '*'\n",
     "Statement[0]: key 'Action' is written twice"),
    ("a YAML alias", "Statement:\n  - &s {Effect: Allow, Action: '*', Resource: '*'}\n  - *s\n",
     "policy: is not valid YAML: aliases (*name) are not allowed in a policy (line 3, column 5)"),
    ("a YAML merge key", "Statement:\n  - Effect: Allow\n    Action: '*'\n    Resource: '*'\n    <<: {Sid: x}\n",
     f"Statement[0]: unknown key '<<' (known: {STATEMENT_KEYS})"),
    ("two YAML documents", "---\nStatement: []\n---\nx: 1\n", "policy: is not valid YAML: but found another document "
     "(expected a single document in the stream) (line 3, column 1)"),
    ("a YAML tag", "Statement:\n  - Effect: Allow\n    Action: !!int x\n",
     "policy: is not valid YAML: a value does not read as its type (\"invalid literal for int() with base 10: 'x'\")"),
    ("a YAML boolean", "Statement: [{Effect: Allow, Action: '*', Resource: '*', Condition: {StringEquals: "
     "{node:tag/On: yes}}}]",
     "Statement[0].Condition.StringEquals.node:tag/On: expected a string, got a boolean (True; quote it if it is one)"),
    ("a control character", "\x07", "policy: is not valid YAML: character '\\x07' is not allowed (line 1)"),
    ("JSON nested too deep", "[" * 30000, "policy: is nested too deeply to read"),
    ("YAML nested too deep", "a: " + "[" * 100, "policy: is not valid YAML: nested deeper than 64 levels "
     "(line 1, column 67)"),
    ("a long number", '{"Statement": ' + "1" * 200 + "}",
     "policy: is not valid JSON: a number of 200 digits; numbers have at most 100"),
    ("NaN", '{"Statement": NaN}', "policy: is not valid JSON: NaN is not a number"),
]


@pytest.mark.parametrize(("text", "message"), [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_refused_in_one_line_naming_the_place(text: str | bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_policy(text)
    error = info.value
    if message.startswith("^"):
        assert re.fullmatch(message[1:], str(error)), str(error)
    else:
        assert str(error) == message
    assert "\n" not in str(error) and len(str(error)) < 1000
    assert str(error).startswith(f"{error.where}: ")
