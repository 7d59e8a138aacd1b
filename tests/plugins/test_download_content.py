"""The download_content plugin (also aws:downloadContent): inputs in, the file and the output line out;
SSM's sources that fetch from elsewhere refused by name. The content comes from a stand-in for the
agent's fetcher that checks the sha256 as the real one does (the real one: tests/e2e/test_download_content.py)."""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from plugins.sdk.contract import StepOutcome
from plugins.sdk.errors import InputError, PluginError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail
from tests.plugins.support import Sink, make_ctx

REGISTRY = PluginRegistry.discover()
SCRIPT = b"#!/bin/sh\necho downloaded script ran\n"
SUM = hashlib.sha256(SCRIPT).hexdigest()


class Store:
    """Serves content by sha256, as the controller does (``kind`` "file", name = sha256)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.asked: list[str] = []

    async def fetch(self, kind: str, name: str, sha256: str, dest: str, max_bytes: int) -> int:
        self.asked.append(name)
        data = self.files.get(name)
        if kind != "file" or data is None:
            raise PluginError(f"fetching {kind} {name}: no such content")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise PluginError(f"fetching {kind} {name}: sha256 mismatch")
        Path(dest).write_bytes(data)
        return len(data)


def run(action: str, raw: Any, workdir: Path, store: Store | None = None) -> tuple[StepOutcome, Sink]:
    bound = REGISTRY.bind(action, raw, "case")
    sink = Sink()
    ctx = dataclasses.replace(make_ctx(sink, workdir), workdir=str(workdir), content=store)
    return asyncio.run(bound.plugin.run(ctx, bound.inputs)), sink


def test_content_by_sha256_to_a_relative_path_in_the_working_directory(tmp_path: Path) -> None:
    store = Store({SUM: SCRIPT})
    outcome, sink = run("download_content", {"src": "scripts/run.sh", "dest": "bin/run.sh", "sha256": SUM,
                                             "file_name": "run.sh"}, tmp_path, store)
    assert outcome.detail is Detail.SUCCESS
    assert (tmp_path / "bin" / "run.sh").read_bytes() == SCRIPT
    assert os.stat(tmp_path / "bin" / "run.sh").st_mode & 0o777 == 0o600
    assert store.asked == [SUM]
    assert sink.stdout == (f"made directory {tmp_path / 'bin'}\n"
                           f"downloaded content scripts/run.sh ({len(SCRIPT)} bytes, sha256 {SUM}) to "
                           f"{tmp_path / 'bin' / 'run.sh'}\n")
    assert [p.name for p in (tmp_path / "bin").iterdir()] == ["run.sh"]  # no temporary file left


def test_a_directory_dest_takes_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    for dest in (str(tmp_path / "out"), "out/", ""):
        outcome, _sink = run("download_content", {"src": "run.sh", "dest": dest, "sha256": SUM, "file_name": "run.sh"},
                             tmp_path, Store({SUM: SCRIPT}))
        assert outcome.detail is Detail.SUCCESS
    assert (tmp_path / "out" / "run.sh").read_bytes() == SCRIPT
    assert (tmp_path / "run.sh").read_bytes() == SCRIPT


def test_a_document_is_written_from_its_signed_text(tmp_path: Path) -> None:
    text = "schemaVersion: '2.2'\nmainSteps: []\n"
    raw = {"document": "Deploy", "text": text, "sha256": hashlib.sha256(text.encode()).hexdigest(),
           "file_name": "Deploy.yaml"}
    outcome, sink = run("download_content", raw, tmp_path)  # no content source needed
    assert outcome.detail is Detail.SUCCESS
    assert (tmp_path / "Deploy.yaml").read_text() == text
    assert "downloaded document Deploy" in sink.stdout
    with pytest.raises(PluginError, match="does not match its sha256"):
        run("download_content", {**raw, "text": text + "echo extra\n"}, tmp_path)


@pytest.mark.parametrize(("raw", "message"), [
    ({"src": "run.sh", "dest": "x"}, "no sha256: send the command through the controller"),
    ({"src": "run.sh", "document": "D", "sha256": SUM}, "give src or document"),
    ({"document": "D", "sha256": SUM}, "no document text"),
    ({"src": "run.sh", "dest": "dir/", "sha256": SUM}, "no file name for a directory dest"),
])
def test_what_only_the_controller_fills_in_is_required(raw: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=message):
        run("download_content", raw, tmp_path, Store({SUM: SCRIPT}))
    assert not (tmp_path / "x").exists()


def test_a_fetch_the_controller_refuses_fails_the_step_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="no such content"):
        run("download_content", {"src": "run.sh", "dest": "run.sh", "sha256": "a" * 64}, tmp_path, Store({}))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("raw", "where", "message"), [
    ({"sourceType": "S3", "sourceInfo": '{"path": "https://bucket/x"}'}, "case.sourceType",
     "S3 is not fetched by Outpost: nodes download only from their controller. Put the file in the content "
     "store (outpost content put NAME --file FILE)"),
    ({"sourceType": "GitHub", "sourceInfo": {"owner": "o"}}, "case.sourceType", "GitHub is not fetched by Outpost"),
    ({"sourceType": "HTTP", "sourceInfo": {"url": "http://x"}}, "case.sourceType", "HTTP is not fetched"),
    ({"sourceType": "Git", "sourceInfo": {"repository": "r"}}, "case.sourceType", "Git is not fetched"),
    ({"sourceType": "Ftp", "sourceInfo": {}}, "case.sourceType", "expected OutpostContent or SSMDocument"),
    ({"sourceType": "SSMDocument", "sourceInfo": {"name": "D", "path": "x"}}, "case.sourceInfo.path",
     "unsupported for SSMDocument (supported: name, version)"),
    ({"sourceType": "OutpostContent", "sourceInfo": {"name": "x", "version": "1"}}, "case.sourceInfo.version",
     "unsupported for OutpostContent (supported: name)"),
    ({"sourceType": "OutpostContent", "sourceInfo": "{}"}, "case.sourceInfo.name", "missing"),
    ({"sourceType": "OutpostContent", "sourceInfo": "{not json"}, "case.sourceInfo", "not JSON"),
    ({"sourceType": "OutpostContent", "sourceInfo": '{"name": {"x": 1}}'}, "case.sourceInfo.name",
     "expected a string, got a mapping"),
    ({"sourceInfo": {"name": "x"}}, "case.sourceType", "missing required parameter"),
])
def test_ssm_inputs_refused_naming_the_input(raw: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        REGISTRY.bind("aws:downloadContent", raw, "case")
    assert caught.value.where == where and message in caught.value.message


def test_ssm_inputs_convert_as_ssm_writes_them() -> None:
    doc = REGISTRY.bind("aws:downloadContent", {"sourceType": "SSMDocument",
                                                "sourceInfo": '{"name": "Deploy", "version": 2}',
                                                "destinationPath": "/opt/x/"}, "case").inputs
    assert (doc.document, doc.document_version, doc.dest, doc.src) == ("Deploy", "2", "/opt/x/", None)
    content = REGISTRY.bind("aws:downloadContent", {"sourceType": "OutpostContent",
                                                    "sourceInfo": {"name": "scripts/run.sh"}}, "case").inputs
    assert (content.src, content.document, content.dest) == ("scripts/run.sh", None, "")
