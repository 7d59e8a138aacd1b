"""``outpost ssm``'s AWS CLI argument forms: --cli-input-json merged under the command line, list
options of several words, refusals naming the Outpost way, NextTokens, --filters. No controller."""
from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from controller.cli.app import cli
from controller.cli.ssm import args
from controller.cli.ssm.commands import _page
from controller.cli.ssm.filters import command_filter, document_filter, instance_filter
from plugins.sdk.errors import InputError

KEYS = {"DocumentName": "--document-name", "Targets": "--targets", "Parameters": "--parameters",
        "TimeoutSeconds": "--timeout-seconds", "InstanceIds": "--instance-ids"}


@click.command(cls=args.AwsCommand)
@click.option("--document-name", default=None)
@click.option("--targets", multiple=True)
@click.option("--instance-ids", multiple=True)
@click.option("--parameters", multiple=True)
@click.option("--timeout-seconds", default=None, type=int)
@args.common()
@click.pass_context
def probe(ctx: click.Context, **_: object) -> None:
    click.echo(json.dumps(args.merged(ctx, KEYS), default=list, sort_keys=True))


def _run(*argv: str) -> tuple[int, dict | str]:
    result = CliRunner().invoke(probe, list(argv), catch_exceptions=True)
    if result.exception and not isinstance(result.exception, SystemExit):
        return 1, str(result.exception)
    return result.exit_code, json.loads(result.output) if result.exit_code == 0 else result.output


def test_cli_input_json_fills_what_the_command_line_leaves() -> None:
    code, o = _run("--cli-input-json", json.dumps({"DocumentName": "AWS-RunShellScript", "TimeoutSeconds": 60,
                                                    "Targets": [{"Key": "tag:Role", "Values": ["web"]}],
                                                    "Parameters": {"commands": ["a", "b"]}}))
    assert code == 0
    assert o["document_name"] == "AWS-RunShellScript" and o["timeout_seconds"] == 60
    assert json.loads(o["targets"][0]) == [{"Key": "tag:Role", "Values": ["web"]}]
    assert json.loads(o["parameters"][0]) == {"commands": ["a", "b"]}


def test_the_command_line_wins_over_cli_input_json(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"DocumentName": "From-File", "TimeoutSeconds": 60}))
    code, o = _run("--cli-input-json", f"file://{path}", "--document-name", "From-Line")
    assert code == 0 and o["document_name"] == "From-Line" and o["timeout_seconds"] == 60


def test_cli_input_yaml() -> None:
    code, o = _run("--cli-input-yaml", "DocumentName: Y-Doc\nInstanceIds: [mi-a, mi-b]\n")
    assert code == 0 and o["document_name"] == "Y-Doc" and o["instance_ids"] == ["mi-a", "mi-b"]


@pytest.mark.parametrize(("text", "says"), [
    ('{"OutputS3BucketName": "b"}', "Outpost keeps output on the controller"),
    ('{"ServiceRoleArn": "arn"}', "needs no service role"),
    ('{"Nope": 1}', "unknown parameter 'Nope'"),
    ("[1]", "expected an object"),
    ("{not json", "not valid JSON"),
    ('{"Targets": "x"}', "expected a list"),
])
def test_cli_input_json_refusals(text: str, says: str) -> None:
    code, out = _run("--cli-input-json", text)
    assert code != 0 and says in str(out)


def test_list_options_take_several_words() -> None:
    assert args.spread(["--instance-ids", "a", "b", "--comment", "c", "d"]) == \
        ["--instance-ids", "a", "--instance-ids", "b", "--comment", "c", "d"]
    assert args.spread(["--targets", "Key=a,Values=b", "Key=c,Values=d"]) == \
        ["--targets", "Key=a,Values=b", "--targets", "Key=c,Values=d"]
    code, o = _run("--instance-ids", "mi-a", "mi-b")
    assert code == 0 and o["instance_ids"] == ["mi-a", "mi-b"]


SEND = ["send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", "mi-a"]


@pytest.mark.parametrize(("argv", "says"), [
    (["send-command", "--output-s3-bucket-name", "b"], "outpost ssm get-command-invocation"),
    (["send-command", "--output-s3-key-prefix", "p"], "Outpost keeps output on the controller"),
    (["send-command", "--service-role-arn", "x"], "drop --service-role-arn"),
    (SEND + ["--notification-config", "NotificationArn=arn:aws:sns:us-east-1:123456789012:t"], "Outpost has no SNS"),
    (SEND + ["--notification-config", "NotificationArn=https://h.example/x,NotificationEvents=Success,Done"],
     "unknown event 'Done'"),
    (SEND + ["--notification-config", "NotificationArn=https://h.example/x,NotificationType=Both"],
     "unknown type 'Both'"),
    (SEND + ["--notification-config", "NotificationUrl=https://h.example/x"], "unknown key 'NotificationUrl'"),
    (SEND + ["--notification-config", "NotificationEvents=All"], "NotificationArn: give the http"),
    (SEND + ["--notification-config", "NotificationArn=ftp://h.example/x"], "only http:// and https://"),
    (SEND + ["--cli-input-json", '{"NotificationConfig": "x"}'], "expected an object of NotificationArn"),
    (["send-command", "--cloud-watch-output-config", "x"], "CloudWatch"),
    (["list-commands", "--region", "us-east-1"], "OUTPOST_CONFIG"),
    (["list-commands", "--profile", "p"], "OUTPOST_CONFIG"),
    (["describe-document", "--endpoint-url", "https://x"], "OUTPOST_CONFIG"),
    (["send-command", "--document-name", "AWS-RunShellScript", "--instance-ids", "mi-a",
      "--document-hash-type", "Sha1"], "Sha256"),
    (["list-commands", "--query", "!? x"], "JMESPath"),
    (["list-commands", "--next-token", "abc"], "NextToken"),
    (["list-command-invocations"], "--command-id"),
    (["get-command-invocation", "--command-id", "c"], "--instance-id"),
    (["send-command", "--instance-ids", "mi-a"], "--document-name"),
])
def test_refusals_name_the_argument_and_exit_252(argv: list[str], says: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from controller.cli.app import run

    assert run(["ssm", *argv]) == args.USAGE_EXIT
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_tokens_round_trip() -> None:
    assert args.decode_token(args.encode_token({"s": "abc"})) == {"s": "abc"}
    with pytest.raises(InputError):
        args.decode_token("bm90LWpzb24")


def test_client_side_pages() -> None:
    items = list(range(5))
    page, token = _page(items, {"max_results": 2}, 50)
    assert page == [0, 1] and token
    page, token = _page(items, {"max_results": 2, "next_token": token}, 50)
    assert page == [2, 3]
    page, token = _page(items, {"max_results": 2, "next_token": token}, 50)
    assert page == [4] and token == ""
    assert _page(items, {}, 50) == (items, "")


def test_filters() -> None:
    f = command_filter(("key=Status,value=Success", '[{"key": "DocumentName", "value": "AWS-RunShellScript"}]'))
    assert (f.status, f.document) == ("Success", "AWS-RunShellScript")
    with pytest.raises(InputError, match="execution stages"):
        command_filter(("key=ExecutionStage,value=Executing",))
    passes = instance_filter(("Key=PingStatus,Values=Online", "Key=tag:Role,Values=web,db"))
    assert passes({"PingStatus": "Online", "_tags": {"Role": "db"}})
    assert not passes({"PingStatus": "ConnectionLost", "_tags": {"Role": "db"}})
    with pytest.raises(InputError, match="unknown key"):
        instance_filter(("Key=IamRole,Values=x",))
    owners = document_filter(("Key=Owner,Values=Self",))
    assert owners({"Owner": "Self"}) and not owners({"Owner": "Amazon"})


def test_ssm_is_registered() -> None:
    assert "ssm" in cli.commands and "command-executed" in cli.commands["ssm"].commands["wait"].commands
