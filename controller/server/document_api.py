"""AdminService's document calls (SSM's CreateDocument, UpdateDocument, ListDocuments,
GetDocument, DeleteDocument, UpdateDocumentDefaultVersion, ListDocumentVersions).

AdminService checks the operator's certificate and then hands the call here with the operator's
name. The document's own checks (schema, parameters, steps) are the injected ``validate``: it
returns a DocumentSummary or raises an OutpostError whose message goes back as INVALID_ARGUMENT.
AdminService's runs what a send of the document would run, so nothing a send refuses is stored.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, ParamSpec, Protocol, TypeVar

import grpc

from controller.documents.catalog import BUILTIN_OF_ALIAS
from controller.model import DOCUMENT_NAME
from controller.store.db import Db
from controller.store.documents import (
    FORMATS,
    BuiltinDocument,
    DefaultVersion,
    DocumentRecord,
    parse_version_selector,
    version_name_problem,
)
from controller.store.errors import Conflict, NotFound, StoreError
from outpost.v1 import outpost_pb2 as pb
from plugins.sdk.errors import OutpostError
from plugins.sdk.host.clock import now_ms

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

NAME_PATTERN = DOCUMENT_NAME
RESERVED_PREFIXES = ("AWS-", "Amazon", "amzn", "Outpost-")  # built-in documents only; any case
MAX_CONTENT_BYTES = 64 * 1024


class Summary(Protocol):
    """What the validator returns (controller.documents.catalog.DocumentSummary is one)."""
    @property
    def description(self) -> str: ...
    @property
    def parameters(self) -> tuple[str, ...]: ...  # parameter names, in document order
    @property
    def unsafe(self) -> tuple[str, ...]: ...  # parameters pasted into a script as text, a line each


@dataclass(frozen=True)
class DocumentSummary:
    """What the validator found in a valid document."""
    description: str = ""
    parameters: tuple[str, ...] = ()
    unsafe: tuple[str, ...] = ()


# (content, format) -> summary, or an OutpostError saying what is wrong. DocumentApi always passes
# the format it will store ("YAML" | "JSON": the request's, or its guess), so the two agree.
Validator = Callable[[bytes, str | None], Summary]


async def abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("abort raises")


def name_problem(name: str) -> str | None:
    """Why an operator may not create a document called ``name``, or None."""
    if not NAME_PATTERN.match(name):
        return (f"document name {name!r}: use 3 to 128 characters from letters, digits, "
                f"'_', '-' and '.'")
    lowered = name.lower()
    for prefix in RESERVED_PREFIXES:
        if lowered.startswith(prefix.lower()):
            return f"document name {name!r}: names starting with {prefix!r} are reserved for built-in documents"
    return None


def document_format(content: bytes, requested: str) -> str:
    """The requested format ("yaml"/"json", any case), or a guess: JSON if the content parses as a
    JSON object, YAML otherwise. ValueError for an unknown format."""
    if requested.strip():
        fmt = requested.strip().upper()
        if fmt not in FORMATS:
            raise ValueError(f"document format must be YAML or JSON, got {requested!r}")
        return fmt
    try:
        return "JSON" if isinstance(json.loads(content), dict) else "YAML"
    except (ValueError, UnicodeDecodeError, RecursionError):  # the parser says what is wrong, by name
        return "YAML"


def document_info_to_pb(rec: DocumentRecord, parameters: tuple[str, ...] = ()) -> pb.DocumentInfo:
    return pb.DocumentInfo(
        name=rec.name, version=rec.version, latest_version=rec.latest_version,
        default_version=rec.default_version, sha256=rec.sha256, description=rec.description,
        format=rec.format, created_at_ms=rec.created_at_ms, created_by=rec.created_by, builtin=rec.builtin,
        parameters=list(parameters), version_name=rec.version_name)


class DocumentApi:
    """``validate``: what a document must pass to be stored (AdminService's: the checks a send of it
    runs); ``describe``: its description and parameter names once stored (by default ``validate``)."""

    def __init__(self, db: Db, validate: Validator, describe: Validator | None = None,
                 clock: Callable[[], int] = now_ms, require_safe_parameters: bool = False) -> None:
        self._db = db
        self._require_safe = require_safe_parameters
        self._validate = validate
        self._describe = describe or validate
        self._clock = clock

    def _parameters(self, rec: DocumentRecord) -> tuple[str, ...]:
        """Parameter names of a stored version (not stored: they are read again)."""
        try:
            return self._describe(rec.content, rec.format).parameters
        except OutpostError as exc:  # stored under an older parser; still listable
            log.warning("stored document %s version %d no longer validates: %s", rec.name, rec.version, exc)
            return ()

    async def _store(self, context: grpc.aio.ServicerContext, fn: Callable[P, T], *args: P.args,
                     **kwargs: P.kwargs) -> T:
        """``fn`` on the DB thread, the store's refusals turned into status codes."""
        try:
            return await self._db.run(fn, *args, **kwargs)
        except NotFound as exc:
            await abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
        except Conflict as exc:
            await abort(context, grpc.StatusCode.ALREADY_EXISTS, str(exc))
        except (BuiltinDocument, DefaultVersion) as exc:
            await abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(exc))

    async def PutDocument(self, request: pb.PutDocumentRequest, context: grpc.aio.ServicerContext,  # noqa: N802
                          operator_name: str) -> pb.PutDocumentResponse:
        name = request.name
        problem = name_problem(name)
        if problem:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, problem)
        if request.version_name and (problem := version_name_problem(request.version_name)):
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"document {name}: {problem}")
        content = bytes(request.content)
        if not content.strip():
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"document {name}: content is empty")
        if len(content) > MAX_CONTENT_BYTES:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                        f"document {name}: content is {len(content)} bytes, at most {MAX_CONTENT_BYTES} allowed")
        try:
            fmt = document_format(content, request.format)
        except ValueError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"document {name}: {exc}")
        try:
            summary = self._validate(content, fmt)
        except OutpostError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"document {name} is not valid: {exc}")
        if summary.unsafe and self._require_safe:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"document {name} is refused "
                        f"(require_safe_parameters): {summary.unsafe[0]}"
                        + (f" (and {len(summary.unsafe) - 1} more)" if len(summary.unsafe) > 1 else ""))
        rec = await self._store(context, self._db.store.put_document, name, content, fmt,
                                hashlib.sha256(content).hexdigest(), summary.description, operator_name,
                                self._clock(), create=request.create, version_name=request.version_name)
        log.info("operator %s %s document %s version %d", operator_name,
                 "created" if request.create else "updated", rec.name, rec.version)
        return pb.PutDocumentResponse(document=document_info_to_pb(rec, summary.parameters),
                                      warnings=list(summary.unsafe))

    async def ListDocuments(self, request: pb.ListDocumentsRequest,  # noqa: N802
                            context: grpc.aio.ServicerContext, operator_name: str) -> pb.ListDocumentsResponse:
        recs = await self._db.run(self._db.store.list_documents)
        return pb.ListDocumentsResponse(documents=[document_info_to_pb(r, self._parameters(r)) for r in recs])

    async def GetDocument(self, request: pb.GetDocumentRequest, context: grpc.aio.ServicerContext,  # noqa: N802
                          operator_name: str) -> pb.GetDocumentResponse:
        try:
            parse_version_selector(request.version)
        except StoreError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        name = BUILTIN_OF_ALIAS.get(request.name, request.name)  # AWS-RunShellScript shows its built-in
        rec = await self._store(context, self._db.store.get_document_version, name, request.version,
                                version_name=request.version_name)
        return pb.GetDocumentResponse(document=document_info_to_pb(rec, self._parameters(rec)), content=rec.content)

    async def DeleteDocument(self, request: pb.DeleteDocumentRequest,  # noqa: N802
                             context: grpc.aio.ServicerContext, operator_name: str) -> pb.DeleteDocumentResponse:
        if request.version or request.version_name:
            await self._delete_version(request, context, operator_name)
            return pb.DeleteDocumentResponse()
        await self._store(context, self._db.store.delete_document, request.name)
        log.info("operator %s deleted document %s", operator_name, request.name)
        return pb.DeleteDocumentResponse()

    async def _delete_version(self, request: pb.DeleteDocumentRequest, context: grpc.aio.ServicerContext,
                              operator_name: str) -> None:
        """One version, by number or name (both: they must agree, as SSM's DeleteDocument has it)."""
        version = request.version
        if request.version_name:
            named = await self._store(context, self._db.store.get_document_version, request.name,
                                      str(version) if version else "", version_name=request.version_name)
            version = named.version
        rec = await self._store(context, self._db.store.delete_document_version, request.name, version)
        log.info("operator %s deleted document %s version %d", operator_name, rec.name, rec.version)

    async def ListDocumentVersions(self, request: pb.ListDocumentVersionsRequest,  # noqa: N802
                                   context: grpc.aio.ServicerContext,
                                   operator_name: str) -> pb.ListDocumentVersionsResponse:
        name = BUILTIN_OF_ALIAS.get(request.name, request.name)
        recs = await self._store(context, self._db.store.list_document_versions, name)
        return pb.ListDocumentVersionsResponse(versions=[document_info_to_pb(r) for r in recs])

    async def SetDefaultVersion(self, request: pb.SetDefaultVersionRequest,  # noqa: N802
                                context: grpc.aio.ServicerContext,
                                operator_name: str) -> pb.SetDefaultVersionResponse:
        if request.version < 1:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                        f"document {request.name}: version must be 1 or more, got {request.version}")
        rec = await self._store(context, self._db.store.set_default_version, request.name, request.version)
        log.info("operator %s set document %s default version %d", operator_name, rec.name, rec.version)
        return pb.SetDefaultVersionResponse(document=document_info_to_pb(rec, self._parameters(rec)))
