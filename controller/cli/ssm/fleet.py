"""``outpost ssm describe-instance-information | list-documents | describe-document``
(the document version calls: document_versions.py)."""
from __future__ import annotations

from typing import Any

import click
import yaml

from controller.cli import params
from controller.cli.render import ssm_document_record, ssm_node_record
from controller.cli.ssm import shapes
from controller.cli.ssm.args import AwsCommand, check_int, check_text, common, encode_token, merged
from controller.cli.ssm.commands import _page, _token
from controller.cli.ssm.filters import document_filter, instance_filter
from controller.cli.ssm.output import emit

INSTANCE_KEYS = {"Filters": "--filters", "MaxResults": "--max-results", "NextToken": "--next-token"}
DOCUMENT_KEYS = {"Filters": "--filters", "MaxResults": "--max-results", "NextToken": "--next-token"}
DESCRIBE_KEYS = {"Name": "--name", "DocumentVersion": "--document-version", "VersionName": "--version-name"}


def _instance(n: object) -> dict:
    record = ssm_node_record(n)  # type: ignore[arg-type]
    return {**shapes.instance(record), "_tags": record["tags"]}


def _public(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if not k.startswith("_")}


@click.command("describe-instance-information", cls=AwsCommand)
@click.option("--filters", multiple=True, type=params.TEXT,
              help="Key=PingStatus|PlatformTypes|AgentVersion|InstanceIds|ActivationIds|ResourceType|tag:K|"
                   "tag-key,Values=V1,V2 (repeat: ANDed)")
@click.option("--max-results", default=None, type=click.IntRange(1, 50),
              help="a page of this many (SSM's range is 5..50; Outpost's 1..50)")
@common(paged=True, refused=("--instance-information-filter-list",))
@click.pass_context
def describe_instance_information(ctx: click.Context, **_: Any) -> None:
    """SSM's DescribeInstanceInformation: every Outpost node is a ManagedInstance. Without --filters
    the controller pages the nodes; with them the CLI reads every node and pages what passes."""
    o = merged(ctx, INSTANCE_KEYS)
    filters = tuple(o.get("filters") or ())
    passes = instance_filter(filters)
    limit = o.get("max_results")
    with ctx.obj.client() as c:
        if filters or limit is None:
            entries = [e for e in map(_instance, c.list_nodes()) if passes(e)]
            page, token = _page([_public(e) for e in entries], o, 50)
        else:
            nodes, server = c.node_page(check_int(limit, 1, 50, "--max-results"), str(_token(o).get("s", "")))
            page, token = [_public(_instance(n)) for n in nodes], encode_token({"s": server}) if server else ""
    emit(shapes.paged("InstanceInformationList", page, token), o["output"], o["query"],
         "DescribeInstanceInformation")


def _content(data: bytes) -> dict | None:
    try:
        value = yaml.safe_load(data.decode("utf-8", errors="replace"))  # JSON is YAML too
    except yaml.YAMLError:
        return None
    return value if isinstance(value, dict) else None


@click.command("list-documents", cls=AwsCommand)
@click.option("--filters", multiple=True, type=params.TEXT,
              help="Key=Name|Owner|DocumentType,Values=V (Owner: Self or Amazon, the built-ins)")
@click.option("--max-results", default=None, type=click.IntRange(1, 50))
@common(paged=True, refused=("--document-filter-list",))
@click.pass_context
def list_documents(ctx: click.Context, **_: Any) -> None:
    """SSM's ListDocuments: every document at its default version, by name."""
    o = merged(ctx, DOCUMENT_KEYS)
    passes = document_filter(tuple(o.get("filters") or ()))
    with ctx.obj.client() as c:
        entries = [shapes.document_identifier(ssm_document_record(d)) for d in c.list_documents()]
    page, token = _page([e for e in entries if passes(e)], o, 50)
    emit(shapes.paged("DocumentIdentifiers", page, token), o["output"], o["query"], "ListDocuments")


@click.command("describe-document", cls=AwsCommand)
@click.option("--name", default=None, type=params.DOCUMENT)
@click.option("--document-version", default=None, type=params.DOCUMENT_VERSION)
@click.option("--version-name", default=None, type=params.VERSION_NAME,
              help="the version of that name (with --document-version too, they must agree)")
@common()
@click.pass_context
def describe_document(ctx: click.Context, **_: Any) -> None:
    """SSM's DescribeDocument: {"Document": {...}}, its Parameters read from its content."""
    o = merged(ctx, DESCRIBE_KEYS)
    if not o.get("name"):
        raise click.UsageError("Missing option '--name'")
    name = check_text(o["name"], params.DOCUMENT, "Name")
    version_name = check_text(o["version_name"], params.VERSION_NAME, "VersionName") if o.get("version_name") else ""
    version = check_text(o.get("document_version") or "$DEFAULT", params.DOCUMENT_VERSION, "DocumentVersion")
    with ctx.obj.client() as c:
        r = c.get_document(name, version, version_name)
    answer = {"Document": shapes.document_description(ssm_document_record(r.document), _content(r.content))}
    emit(answer, o["output"], o["query"], "DescribeDocument")
