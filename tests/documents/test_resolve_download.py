"""resolve_downloads: what the controller puts into download steps at send (the content file's sha256,
or a stored document's text and sha256), aws:downloadContent turned into download_content, and the
names it does not hold refused naming the step."""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Collection

import pytest

from controller.documents.resolve_download import StoredText, resolve_downloads
from controller.store.errors import NotFound
from plugins.sdk.errors import InputError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES, Document, Step

REGISTRY = PluginRegistry.discover()
SCRIPT_SUM = "ab" * 32
DEPLOY = b"schemaVersion: '2.2'\nmainSteps: []\n"


async def sums(names: Collection[str]) -> dict[str, str]:
    return {n: SCRIPT_SUM for n in names if n == "scripts/run.sh"}


async def documents(name: str, version: str) -> StoredText:
    if name != "Deploy":
        raise NotFound(f"no document {name}")
    if version not in ("", "2"):
        raise NotFound(f"document Deploy has no version {version} (latest is 2)")
    return StoredText("Deploy", 2, "YAML", DEPLOY)


def resolve(*steps: Step) -> Document:
    return asyncio.run(resolve_downloads(Document(tuple(steps)), REGISTRY, sums, documents))


def ssm(name: str, source_type: str, info: str, dest: str | None = None) -> Step:
    inputs = {"sourceType": source_type, "sourceInfo": info}
    if dest is not None:
        inputs["destinationPath"] = dest
    return Step(name, "aws:downloadContent", inputs)


def test_content_gets_its_sha256_and_the_step_becomes_download_content() -> None:
    shell = Step("run", "aws:runShellScript", {"runCommand": ["sh run.sh"]})
    doc = resolve(ssm("get", "OutpostContent", '{"name": "scripts/run.sh"}', "run.sh"), shell)
    get, run = doc.steps
    assert (get.action, get.inputs) == ("download_content", {
        "src": "scripts/run.sh", "document": None, "document_version": "", "dest": "run.sh",
        "file_name": "run.sh", "sha256": SCRIPT_SUM, "text": None})
    assert run == shell


def test_a_document_gets_its_text_and_sha256() -> None:
    (get,) = resolve(ssm("get", "SSMDocument", '{"name": "Deploy", "version": "2"}')).steps
    assert get.action == "download_content"
    assert (get.inputs["text"], get.inputs["sha256"], get.inputs["file_name"], get.inputs["dest"]) == (
        DEPLOY.decode(), hashlib.sha256(DEPLOY).hexdigest(), "Deploy.yaml", "")


def test_what_an_author_wrote_into_the_filled_inputs_is_replaced() -> None:
    (get,) = resolve(Step("get", "download_content", {"src": "scripts/run.sh", "sha256": "00" * 32,
                                                      "text": "not this"})).steps
    assert (get.inputs["sha256"], get.inputs["text"]) == (SCRIPT_SUM, None)


@pytest.mark.parametrize(("step", "where", "message"), [
    (ssm("get", "OutpostContent", '{"name": "nope.sh"}'), "mainSteps[0].inputs.src",
     "step 'get': no content named 'nope.sh' in the content store (outpost content put NAME --file FILE"),
    (ssm("get", "SSMDocument", '{"name": "Other"}'), "mainSteps[0].inputs.document", "step 'get': no document Other"),
    (ssm("get", "SSMDocument", '{"name": "Deploy", "version": "7"}'), "mainSteps[0].inputs.document",
     "step 'get': document Deploy has no version 7"),
    (ssm("get", "S3", '{"path": "https://x"}'), "mainSteps[0].inputs.sourceType", "S3 is not fetched by Outpost"),
    (Step("get", "download_content", {"dest": "x"}), "mainSteps[0].inputs",
     "step 'get': give src (a content store file) or document"),
])
def test_refusals_name_the_step(step: Step, where: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        resolve(step)
    assert caught.value.where == where and caught.value.message.startswith(message), caught.value


def test_documents_that_make_the_command_too_large_are_refused() -> None:
    steps = [ssm(f"get{i}", "SSMDocument", '{"name": "Deploy"}') for i in range(MAX_DOCUMENT_BYTES // len(DEPLOY))]
    with pytest.raises(InputError, match="with the documents its download steps write, the document is"):
        resolve(*steps)


def test_a_document_without_download_steps_is_the_same_object() -> None:
    doc = Document((Step("run", "aws:runShellScript", {"runCommand": ["true"]}),))
    assert asyncio.run(resolve_downloads(doc, REGISTRY, sums, documents)) is doc
