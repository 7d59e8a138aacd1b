"""``outpost ssm list-document-versions | delete-document | update-document-default-version``: SSM's
document version calls, with the AWS CLI's argument names and its answers' shapes."""
from __future__ import annotations

from typing import Any

import click

from controller.cli import params
from controller.cli.render import ssm_document_record
from controller.cli.ssm import shapes
from controller.cli.ssm.args import AwsCommand, check_text, common, merged
from controller.cli.ssm.commands import _page
from controller.cli.ssm.output import emit
from plugins.sdk.errors import InputError

VERSIONS_KEYS = {"Name": "--name", "MaxResults": "--max-results", "NextToken": "--next-token"}
DELETE_KEYS = {"Name": "--name", "DocumentVersion": "--document-version", "VersionName": "--version-name",
               "Force": "--force"}
DEFAULT_KEYS = {"Name": "--name", "DocumentVersion": "--document-version"}


def _name(o: dict) -> str:
    if not o.get("name"):
        raise click.UsageError("Missing option '--name'")
    return check_text(o["name"], params.DOCUMENT, "Name")


def _number(value: object, where: str) -> int:
    """A version number as SSM takes it on these calls: digits (``$LATEST`` and ``$DEFAULT`` name no one
    version to delete or make the default)."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= params.MAX_DOCUMENT_VERSION):
        raise InputError(where, f"expected a version number (1 to {params.MAX_DOCUMENT_VERSION}), got {text[:40]!r}")
    return int(text)


@click.command("list-document-versions", cls=AwsCommand)
@click.option("--name", default=None, type=params.DOCUMENT)
@click.option("--max-results", default=None, type=click.IntRange(1, 50))
@common(paged=True)
@click.pass_context
def list_document_versions(ctx: click.Context, **_: Any) -> None:
    """SSM's ListDocumentVersions: every version of a document not deleted, oldest first."""
    o = merged(ctx, VERSIONS_KEYS)
    name = _name(o)
    with ctx.obj.client() as c:
        entries = [shapes.document_version(ssm_document_record(d)) for d in c.list_document_versions(name)]
    page, token = _page(entries, o, 50)
    emit(shapes.paged("DocumentVersions", page, token), o["output"], o["query"], "ListDocumentVersions")


@click.command("delete-document", cls=AwsCommand)
@click.option("--name", default=None, type=params.DOCUMENT)
@click.option("--document-version", default=None, type=params.TEXT,
              help="delete only this version (never the default one)")
@click.option("--version-name", default=None, type=params.VERSION_NAME, help="delete only the version of this name")
@click.option("--force", is_flag=True, default=None,
              help="accepted, as SSM accepts it for Command documents: it changes nothing for them")
@common()
@click.pass_context
def delete_document(ctx: click.Context, **_: Any) -> None:
    """SSM's DeleteDocument: the whole document, or one version of it."""
    o = merged(ctx, DELETE_KEYS)
    name = _name(o)
    version = _number(o["document_version"], "--document-version") if o.get("document_version") else 0
    version_name = check_text(o["version_name"], params.VERSION_NAME, "VersionName") if o.get("version_name") else ""
    with ctx.obj.client() as c:
        c.delete_document(name, version, version_name)
    emit({}, o["output"], o["query"], "DeleteDocument")


@click.command("update-document-default-version", cls=AwsCommand)
@click.option("--name", default=None, type=params.DOCUMENT)
@click.option("--document-version", default=None, type=params.TEXT, help="the version to make the default")
@common()
@click.pass_context
def update_document_default_version(ctx: click.Context, **_: Any) -> None:
    """SSM's UpdateDocumentDefaultVersion: {"Description": {Name, DefaultVersion, DefaultVersionName}}."""
    o = merged(ctx, DEFAULT_KEYS)
    name = _name(o)
    if not o.get("document_version"):
        raise click.UsageError("Missing option '--document-version'")
    version = _number(o["document_version"], "--document-version")
    with ctx.obj.client() as c:
        doc = ssm_document_record(c.set_default_version(name, version))
    emit({"Description": shapes.default_version(doc)}, o["output"], o["query"], "UpdateDocumentDefaultVersion")
