"""The AWS CLI's argument forms for ``outpost ssm``: ``--cli-input-json`` (inline or ``file://``)
merged under the options given on the command line, list options that take several words
(``--instance-ids a b``), the arguments Outpost refuses (each naming the Outpost way), opaque
NextTokens and the options every ``outpost ssm`` command has (``--query``, ``--output``)."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
import yaml
from click.core import ParameterSource

from controller.cli import params
from plugins.sdk.errors import InputError
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES

USAGE_EXIT = 252  # the AWS CLI v2: the command line or a parameter is not valid
SERVICE_EXIT = 254  # the AWS CLI v2: the service (here the controller) answered with an error
OTHER_EXIT = 255  # the AWS CLI: anything else, a waiter's failure among them

# words after these options are each one more value, as the AWS CLI reads a list argument
LIST_OPTIONS = frozenset({"--instance-ids", "--targets", "--filters"})

CONFIG_REFUSAL = ("Outpost talks to the controller in your CLI config (OUTPOST_CONFIG, or outpost --config FILE); "
                  "it has no regions, profiles or endpoints")
OUTPUT_REFUSAL = ("Outpost keeps output on the controller: outpost ssm get-command-invocation (24,000/8,000 "
                  "characters) or outpost command output ID --node NODE --full (all of it)")
ROLE_REFUSAL = ("Outpost needs no service role to notify: the controller POSTs --notification-config's URL itself "
                "(signed with its notification_secret); drop --service-role-arn")
REFUSED: dict[str, str] = {  # option -> why, and the Outpost way
    "--output-s3-bucket-name": OUTPUT_REFUSAL, "--output-s3-key-prefix": OUTPUT_REFUSAL,
    "--output-s3-region": OUTPUT_REFUSAL,
    "--cloud-watch-output-config": "Outpost has no CloudWatch: " + OUTPUT_REFUSAL
                                   + "; outpost command logs ID --follow streams it live",
    "--service-role-arn": ROLE_REFUSAL,
    "--alarm-configuration": "not supported: Outpost has no CloudWatch alarms; bound a rollout with "
                             "--max-errors (and --max-concurrency 1)",
    "--region": CONFIG_REFUSAL, "--profile": CONFIG_REFUSAL, "--endpoint-url": CONFIG_REFUSAL,
    "--version-name": "Outpost's document versions are numbers: --document-version N",
    "--instance-information-filter-list": "give the same as --filters Key=KEY,Values=V1,V2",
    "--document-filter-list": "give the same as --filters Key=Name|Owner,Values=V",
}
# the AWS keys of --cli-input-json that Outpost refuses, as their options
REFUSED_KEYS = {"".join(w.capitalize() for w in opt[2:].split("-")): opt for opt in REFUSED}
REFUSED_KEYS.update({"OutputS3BucketName": "--output-s3-bucket-name", "OutputS3KeyPrefix": "--output-s3-key-prefix",
                     "OutputS3Region": "--output-s3-region"})


def _query_problem(text: str) -> str | None:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(text)
    except JMESPathError as exc:
        return f"not a JMESPath expression: {' '.join(str(exc).split())}"
    return None


def decode_token(text: str) -> dict:
    """An opaque NextToken back as what it holds: {"s": the controller's token} or {"o": an offset}."""
    try:
        value = json.loads(base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict) or not ({"s", "o"} & set(value)):
        raise InputError("--next-token", "not a NextToken this CLI gave")
    return value


def _token_problem(text: str) -> str | None:
    try:
        decode_token(text)
    except InputError as exc:
        return exc.message
    return None


def encode_token(value: Mapping[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(dict(value), separators=(",", ":")).encode()).decode().rstrip("=")


QUERY = params.Text(4096, _query_problem, metavar="JMESPATH")
NEXT_TOKEN = params.Text(2048, _token_problem, metavar="TOKEN")
INPUT = params.Text(MAX_DOCUMENT_BYTES * 2, metavar="JSON|file://PATH")
REFUSED_VALUE = params.Text(metavar="VALUE")


class AwsCommand(click.Command):
    """A command that reads the AWS CLI's list arguments: ``--instance-ids a b`` is
    ``--instance-ids a --instance-ids b``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, spread(args))


def spread(args: list[str]) -> list[str]:
    out: list[str] = []
    current, taken = None, 0
    for word in args:
        if word.startswith("--"):
            current, taken = (word if word in LIST_OPTIONS else None), 0
            out.append(word)
            continue
        if current is not None:
            if taken:
                out.append(current)
            taken += 1
        out.append(word)
    return out


def common(*, paged: bool = False, refused: tuple[str, ...] = ()) -> Callable:
    """The options of every ``outpost ssm`` command: the input file, --query, --output, the global
    options Outpost refuses; with ``paged`` --max-results and --next-token (the caller adds its own
    range of --max-results)."""
    def wrap(f: Callable) -> Callable:
        for opt in reversed((*refused, "--region", "--profile", "--endpoint-url")):
            f = click.option(opt, opt.lstrip("-").replace("-", "_"), default=None, type=REFUSED_VALUE,
                             hidden=True, expose_value=False, callback=_refuse)(f)
        if paged:
            f = click.option("--next-token", default=None, type=NEXT_TOKEN,
                             help="the NextToken of the previous answer")(f)
        f = click.option("--no-cli-pager", is_flag=True, expose_value=False,
                         help="accepted: Outpost never pages its output")(f)
        f = click.option("--output", "output", default="json", show_default=True,
                         type=click.Choice(["json", "text", "table", "yaml"]))(f)
        f = click.option("--query", default=None, type=QUERY, help="a JMESPath expression applied to the answer")(f)
        f = click.option("--cli-input-yaml", default=None, type=INPUT,
                         help="the request as YAML, inline or file://PATH")(f)
        f = click.option("--cli-input-json", default=None, type=INPUT,
                         help="the request as JSON (the API's field names), inline or file://PATH; "
                              "options given on the command line win")(f)
        return f
    return wrap


def _refuse(ctx: click.Context, param: click.Parameter, value: object) -> None:
    if value is not None:
        opt = param.opts[0]
        raise click.BadParameter(REFUSED[opt], ctx=ctx, param=param)


def _read(text: str, where: str) -> str:
    if text.startswith(("file://", "fileb://")):
        path = Path(text.split("://", 1)[1]).expanduser()
        try:
            if path.stat().st_size > MAX_DOCUMENT_BYTES * 2:
                raise InputError(where, f"{path} is larger than {MAX_DOCUMENT_BYTES * 2} bytes")
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(where, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return text


def input_document(ctx: click.Context, allowed: Mapping[str, str]) -> dict[str, Any]:
    """The request --cli-input-json (or -yaml) gives, by its AWS keys; each key is one of ``allowed``
    (AWS key -> option) or refused by name."""
    json_text, yaml_text = ctx.params.get("cli_input_json"), ctx.params.get("cli_input_yaml")
    if json_text is None and yaml_text is None:
        return {}
    if json_text is not None and yaml_text is not None:
        raise InputError("--cli-input-json", "give --cli-input-json or --cli-input-yaml, not both")
    where = "--cli-input-json" if json_text is not None else "--cli-input-yaml"
    text = _read(json_text if json_text is not None else yaml_text, where)
    try:
        value = json.loads(text) if json_text is not None else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(where, f"not valid {where[12:].upper()}: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(value, dict):
        raise InputError(where, "expected an object of the request's fields (e.g. {\"DocumentName\": ...})")
    for key in value:
        if key in REFUSED_KEYS:
            raise InputError(where, f"{key} ({REFUSED_KEYS[key]}): {REFUSED[REFUSED_KEYS[key]]}")
        if key not in allowed:
            raise InputError(where, f"unknown parameter {key!r}, must be one of: {', '.join(sorted(allowed))}")
    return value


def given(ctx: click.Context, name: str) -> bool:
    """Whether the option ``name`` came from the command line (or its environment variable)."""
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def merged(ctx: click.Context, allowed: Mapping[str, str]) -> dict[str, Any]:
    """Each option's value, by click name: the command line's, else --cli-input-json's (AWS key,
    typed as the API has it, as the AWS CLI merges them), else the default."""
    doc = input_document(ctx, allowed)
    out = dict(ctx.params)
    for key, option in allowed.items():
        name = option.lstrip("-").replace("-", "_")
        if key in doc and not given(ctx, name):
            out[name] = from_json(doc[key], key, option)
    return out


def from_json(value: object, key: str, option: str) -> object:
    """A --cli-input-json value in the form the option's own value takes."""
    where = f"--cli-input-json {key}"
    if option in ("--targets", "--filters"):
        if not isinstance(value, list):
            raise InputError(where, "expected a list")
        return (json.dumps(value),)
    if option == "--parameters":
        if not isinstance(value, dict):
            raise InputError(where, "expected an object of NAME: [values]")
        return (json.dumps(value),)
    if option == "--instance-ids":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(where, "expected a list of strings")
        return tuple(value)
    if option == "--notification-config":
        if not isinstance(value, dict):
            raise InputError(where, "expected an object of NotificationArn, NotificationEvents, NotificationType")
        return json.dumps(value)
    if option in ("--details", "--force"):
        if not isinstance(value, bool):
            raise InputError(where, "expected true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(where, "expected a string or a number")
    return value


def check_int(value: object, low: int, high: int, where: str) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise InputError(where, f"expected a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise InputError(where, f"{number} is not in {low}..{high}")
    return number


def check_text(value: object, ptype: click.ParamType, where: str) -> str:
    """A --cli-input-json value checked as the option's own type checks it."""
    try:
        return str(ptype.convert(str(value), None, None))
    except click.BadParameter as exc:
        raise InputError(where, exc.message) from None


class ServiceError(Exception):
    """What SSM would answer with an error (InvocationDoesNotExist, ...): the AWS CLI's line, exit 254."""

    def __init__(self, code: str, operation: str, message: str) -> None:
        self.code, self.operation = code, operation
        super().__init__(f"An error occurred ({code}) when calling the {operation} operation: {message}")


class WaiterError(Exception):
    """A waiter that ended without success: exit 255, as the AWS CLI's."""
