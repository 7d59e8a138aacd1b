"""The command document: what a play compiles to, what the controller signs, what the agent runs.

Its wire form is canonical JSON (sorted keys, no spaces, UTF-8); the envelope carries the
sha256 of exactly those bytes.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plugins.sdk.errors import DocumentError
from plugins.sdk.schema import JsonValue

SCHEMA_VERSION = "2.2"
MAX_DOCUMENT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Step:
    name: str
    action: str
    inputs: Mapping[str, JsonValue]
    timeout_seconds: int | None = None
    ignore_errors: bool = False

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {"name": self.name, "action": self.action, "inputs": dict(self.inputs)}
        if self.timeout_seconds is not None:
            out["timeoutSeconds"] = self.timeout_seconds
        if self.ignore_errors:
            out["ignoreErrors"] = True
        return out


@dataclass(frozen=True)
class Document:
    steps: tuple[Step, ...]
    description: str = ""
    schema_version: str = SCHEMA_VERSION

    def to_json(self) -> dict[str, JsonValue]:
        return {"schemaVersion": self.schema_version, "description": self.description,
                "mainSteps": [s.to_json() for s in self.steps]}

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def sha256(self) -> bytes:
        return hashlib.sha256(self.canonical_bytes()).digest()


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _req(obj: Mapping[str, Any], key: str, typ: type, where: str) -> Any:
    if key not in obj:
        raise DocumentError(f"{where}: missing {key!r}")
    value = obj[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise DocumentError(f"{where}.{key}: expected {typ.__name__}, got {type(value).__name__}")
    return value


def document_from_bytes(data: bytes) -> Document:
    """Parse a document's canonical JSON. Structure only; inputs are checked by their plugin."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"document is {len(data)} bytes; the limit is {MAX_DOCUMENT_BYTES}")
    try:
        obj = json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DocumentError(f"document is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DocumentError("document: expected a JSON object")
    version = _req(obj, "schemaVersion", str, "document")
    if version != SCHEMA_VERSION:
        raise DocumentError(f"document.schemaVersion: unsupported {version!r} (supported: {SCHEMA_VERSION})")
    raw_steps = _req(obj, "mainSteps", list, "document")
    steps = []
    names: set[str] = set()
    for i, raw in enumerate(raw_steps):
        where = f"document.mainSteps[{i}]"
        if not isinstance(raw, dict):
            raise DocumentError(f"{where}: expected an object")
        name = _req(raw, "name", str, where)
        if name in names:
            raise DocumentError(f"{where}.name: duplicate step name {name!r}")
        names.add(name)
        inputs = _req(raw, "inputs", dict, where)
        timeout = raw.get("timeoutSeconds")
        if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0):
            raise DocumentError(f"{where}.timeoutSeconds: expected a positive integer")
        ignore = raw.get("ignoreErrors", False)
        if not isinstance(ignore, bool):
            raise DocumentError(f"{where}.ignoreErrors: expected a boolean")
        steps.append(Step(name, _req(raw, "action", str, where), inputs, timeout, ignore))
    description = obj.get("description", "")
    if not isinstance(description, str):
        raise DocumentError("document.description: expected a string")
    return Document(tuple(steps), description, version)
