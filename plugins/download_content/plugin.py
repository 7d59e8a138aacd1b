"""The ``download_content`` plugin: a file from the controller written on the node (also SSM's
``aws:downloadContent``, with ``sourceType`` ``OutpostContent`` or ``SSMDocument``).

The sources are the controller's own: a file of its content store (``src``, stored with ``outpost
content put``) or a stored document (``document``). When the command is sent the controller puts
what the step writes into the signed document: the content file's sha256, which the agent fetches
the bytes by over its own stream and checks them against; or the document's text itself. Nothing is
fetched from anywhere else, and nothing the signature does not cover is written. SSM's other source
types (GitHub, Git, HTTP, S3) are refused when the document is created or sent, saying the Outpost
way: put the file in the content store.

``dest`` (``destinationPath``) is a file, or a directory when it ends with ``/`` or is one on the
node (the file inside is named after the source); a relative path is relative to the command's
working directory, where later steps (a shell step's default directory) find it; missing directories
are made. The file is written whole (a temporary file renamed), mode 0600.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from plugins.sdk import (
    API_VERSION,
    Alias,
    InputError,
    OutputStreamKind,
    Platform,
    PluginError,
    PluginSpec,
    RunContext,
    StepOutcome,
    os_problem,
    param,
    run_blocking,
)

MAX_BYTES = 64 * 1024 * 1024  # the content store's bound
OUTPOST_CONTENT = "OutpostContent"
SSM_DOCUMENT = "SSMDocument"
# SSM's sources that fetch from outside: refused by name, saying the Outpost way
ELSEWHERE = ("GitHub", "Git", "HTTP", "S3")


@dataclass(frozen=True)
class DownloadContentInputs:
    src: str | None = param("A file of the controller's content store (`outpost content put NAME --file F`), by "
                            "name. Give this or `document`.", default=None)
    document: str | None = param("A stored document (`outpost document create`), by name: its text is the file. "
                                 "Give this or `src`.", default=None)
    document_version: str = param("The document's version: a number, `$DEFAULT` or `$LATEST`; empty: `$DEFAULT`.",
                                  default="")
    dest: str = param("Where to write: a file, or a directory when it ends with `/` or is one (the file inside is "
                      "named after the source); relative to the command's working directory. Empty: the working "
                      "directory.", default="")
    file_name: str = param("The file's name in a directory `dest`: filled in by the controller when the command is "
                           "sent (the content's name, or `NAME.yaml` / `NAME.json` for a document).", default="")
    sha256: str = param("The sha256 of what is written: filled in by the controller when the command is sent.",
                        default="")
    text: str | None = param("A document's text: filled in by the controller when the command is sent.",
                             default=None)


@dataclass(frozen=True)
class SsmDownloadContentInputs:
    """SSM's aws:downloadContent parameters."""
    sourceType: str = param("`OutpostContent` (a file of the content store) or `SSMDocument` (a stored document). "
                            "GitHub, Git, HTTP and S3 are refused: put the file in the content store.")
    sourceInfo: Mapping[str, str] = param("A mapping, or a string holding a JSON object as SSM writes it: "
                                          "`{\"name\": \"NAME\"}` for OutpostContent; `{\"name\": \"DOC\", "
                                          "\"version\": \"2\"}` for SSMDocument (version optional).",
                                          json_text=True)
    destinationPath: str | None = param("A file, or a directory (ending with `/`, or one on the node); relative "
                                        "to the command's working directory. Empty: the working directory.",
                                        default=None)


_SOURCE_KEYS = {OUTPOST_CONTENT: ("name",), SSM_DOCUMENT: ("name", "version")}


def convert_download_content(inputs: SsmDownloadContentInputs) -> DownloadContentInputs:
    """aws:downloadContent's inputs as the plugin's; InputError for a source Outpost does not fetch."""
    kind = inputs.sourceType
    if kind in ELSEWHERE:
        raise InputError("sourceType", f"{kind} is not fetched by Outpost: nodes download only from their controller. "
                                       f"Put the file in the content store (outpost content put NAME --file FILE) "
                                       f"and use sourceType {OUTPOST_CONTENT} with sourceInfo {{\"name\": \"NAME\"}}")
    if kind not in _SOURCE_KEYS:
        raise InputError("sourceType", f"expected {OUTPOST_CONTENT} or {SSM_DOCUMENT}, got {kind[:64]!r}")
    info = dict(inputs.sourceInfo)
    unknown = sorted(set(info) - set(_SOURCE_KEYS[kind]))
    if unknown:
        raise InputError(f"sourceInfo.{unknown[0]}", f"unsupported for {kind} (supported: "
                                                     f"{', '.join(_SOURCE_KEYS[kind])})")
    name = info.get("name", "").strip()
    if not name:
        what = "file" if kind == OUTPOST_CONTENT else "document"
        raise InputError("sourceInfo.name", f"missing: the name of the {what}")
    dest = inputs.destinationPath or ""
    if kind == OUTPOST_CONTENT:
        return DownloadContentInputs(src=name, dest=dest)
    return DownloadContentInputs(document=name, document_version=info.get("version", "").strip(), dest=dest)


def target_path(inputs: DownloadContentInputs, workdir: str) -> str:
    """The file to write: ``dest`` under the working directory when relative, the source's file
    name inside it when it is a directory."""
    dest = inputs.dest or "./"
    path = os.path.normpath(os.path.join(workdir, dest))  # an absolute dest stays itself
    if dest.endswith("/") or os.path.isdir(path):
        if not inputs.file_name or "/" in inputs.file_name or inputs.file_name in (".", ".."):
            raise PluginError("download_content: no file name for a directory dest: send the command through the "
                              "controller, which fills it in")
        path = os.path.join(path, inputs.file_name)
    return path


def _check(inputs: DownloadContentInputs) -> None:
    if (inputs.src is None) == (inputs.document is None):
        raise PluginError("download_content: give src or document (one of them)")
    if len(inputs.sha256) != 64:
        raise PluginError("download_content: no sha256: send the command through the controller, which fills it in")
    if inputs.document is not None and inputs.text is None:
        raise PluginError("download_content: no document text: send the command through the controller, which "
                          "fills it in")


def _write_text(path: str, text: str, sha256: str) -> int:
    data = text.encode("utf-8")
    if hashlib.sha256(data).hexdigest() != sha256.lower():
        raise PluginError(f"download_content: the document's text does not match its sha256 {sha256}")
    fd, tmp = tempfile.mkstemp(prefix=".outpost-download-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return len(data)


def _make_parent(path: str) -> bool:
    parent = os.path.dirname(path)
    if os.path.isdir(parent):
        return False
    os.makedirs(parent, mode=0o755, exist_ok=True)
    return True


class DownloadContentPlugin:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="download_content",
        version="1.0.0",
        api=API_VERSION,
        summary="Write a file of the controller's content store or a stored document on the node "
                "(also aws:downloadContent).",
        inputs=DownloadContentInputs,
        platforms=frozenset({Platform.LINUX, Platform.MACOS}),
        aliases=(Alias("aws:downloadContent", SsmDownloadContentInputs, convert_download_content),),
        supports_check_mode=False,
    )

    async def run(self, ctx: RunContext, inputs: DownloadContentInputs) -> StepOutcome:
        _check(inputs)
        path = target_path(inputs, ctx.workdir)
        try:
            made = await run_blocking(_make_parent, path)
            if inputs.text is not None:
                size = await run_blocking(_write_text, path, inputs.text, inputs.sha256)
            else:
                size = await self._fetch(ctx, inputs, path)
        except OSError as exc:
            raise PluginError(f"download_content: cannot write {path}: {os_problem(exc)}") from None
        what = f"document {inputs.document}" if inputs.document is not None else f"content {inputs.src}"
        line = (f"made directory {os.path.dirname(path)}\n" if made else "") + \
            f"downloaded {what} ({size} bytes, sha256 {inputs.sha256.lower()}) to {path}\n"
        await ctx.output.write(OutputStreamKind.STDOUT, line.encode())
        return StepOutcome.from_exit_code(0)

    @staticmethod
    async def _fetch(ctx: RunContext, inputs: DownloadContentInputs, path: str) -> int:
        """The content file's bytes from the controller, over the agent's stream, by their sha256
        (checked against it by the fetch), then renamed into place."""
        if ctx.content is None:
            raise PluginError("download_content: src needs an agent connected to its controller")
        fd, tmp = tempfile.mkstemp(prefix=".outpost-download-", dir=os.path.dirname(path))
        os.close(fd)
        try:
            size = await ctx.content.fetch("file", inputs.sha256, inputs.sha256, tmp, MAX_BYTES)
            await run_blocking(os.replace, tmp, path)
            return size
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
