"""The AWS CLI's ``--filters`` of ``outpost ssm``, JSON or shorthand, applied here in the CLI:

- list-commands / list-command-invocations: ``key=InvokedAfter|InvokedBefore|Status|DocumentName,value=V``
  (SSM's CommandFilter);
- describe-instance-information: ``Key=InstanceIds|AgentVersion|PingStatus|PlatformTypes|ActivationIds|
  ResourceType|tag:KEY|tag-key,Values=V1,V2`` (InstanceInformationStringFilter: values ORed, keys ANDed);
- list-documents: ``Key=Name|Owner|DocumentType,Values=V`` (DocumentKeyValuesFilter)."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from controller.cli.filters import CommandFilter, parse_timestamp
from controller.shorthand import split_top, targets_of, value_of
from plugins.sdk.errors import InputError
from plugins.sdk.limits import shown

COMMAND_KEYS = ("InvokedAfter", "InvokedBefore", "Status", "DocumentName")
INSTANCE_KEYS = ("InstanceIds", "AgentVersion", "PingStatus", "PlatformTypes", "ActivationIds", "ResourceType")
DOCUMENT_KEYS = ("Name", "Owner", "DocumentType")
WHERE = "--filters"


def _pairs(text: str) -> list[tuple[str, str]]:
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(WHERE, f"not valid JSON: {exc.msg} at character {exc.pos + 1}") from None
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if not isinstance(item, dict) or set(item) != {"key", "value"} or not all(
                    isinstance(v, str) for v in item.values()):
                raise InputError(WHERE, 'expected [{"key": KEY, "value": VALUE}, ...]')
            out.append((item["key"], item["value"]))
        return out
    fields: dict[str, str] = {}
    for piece in split_top(text, WHERE):
        name, sep, rest = piece.partition("=")
        field = name.strip().lower()
        if not sep or field not in ("key", "value") or field in fields:
            raise InputError(WHERE, f"expected key=KEY,value=VALUE, got {shown(text)}")
        fields[field] = " ".join(value_of(rest, WHERE))
    if set(fields) != {"key", "value"}:
        raise InputError(WHERE, f"expected key=KEY,value=VALUE, got {shown(text)}")
    return [(fields["key"], fields["value"])]


def command_filter(items: tuple[str, ...]) -> CommandFilter:
    """SSM's CommandFilter list as ``command list``'s filter."""
    found: dict[str, str] = {}
    for text in items:
        for key, value in _pairs(text):
            if key not in COMMAND_KEYS:
                hint = " (Outpost has no execution stages)" if key == "ExecutionStage" else ""
                raise InputError(WHERE, f"unknown key {shown(key)}{hint}; one of {', '.join(COMMAND_KEYS)}")
            found[key] = value
    try:
        after = parse_timestamp(found["InvokedAfter"]) if "InvokedAfter" in found else None
        before = parse_timestamp(found["InvokedBefore"]) if "InvokedBefore" in found else None
    except ValueError as exc:
        raise InputError(WHERE, str(exc)) from None
    return CommandFilter(found.get("Status", ""), found.get("DocumentName", ""), after, before)


def _key_values(items: tuple[str, ...], keys: tuple[str, ...], tags: bool) -> list[tuple[str, list[str]]]:
    out = targets_of(items, WHERE)
    for key, values in out:
        if key not in keys and not (tags and (key.startswith("tag:") or key == "tag-key")):
            raise InputError(WHERE, f"unknown key {shown(key)}; one of {', '.join(keys)}"
                                    + (", tag:KEY, tag-key" if tags else ""))
        if not values:
            raise InputError(WHERE, f"{key}: give at least one value")
    return out


def instance_filter(items: tuple[str, ...]) -> Callable[[Mapping[str, Any]], bool]:
    """Whether an InstanceInformationList entry (shapes.instance's, with the node's tags) passes."""
    chosen = _key_values(items, INSTANCE_KEYS, tags=True)
    fields = {"InstanceIds": "InstanceId", "AgentVersion": "AgentVersion", "PingStatus": "PingStatus",
              "PlatformTypes": "PlatformType", "ActivationIds": "ActivationId", "ResourceType": "ResourceType"}

    def passes(entry: Mapping[str, Any]) -> bool:
        tags = entry.get("_tags", {})
        for key, values in chosen:
            if key == "tag-key":
                ok = any(v in tags for v in values)
            elif key.startswith("tag:"):
                ok = tags.get(key[4:]) in values
            else:
                ok = str(entry.get(fields[key], "")).lower() in {v.lower() for v in values}
            if not ok:
                return False
        return True
    return passes


def document_filter(items: tuple[str, ...]) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a DocumentIdentifiers entry passes: Name (exact), Owner (Self, Amazon; Private is
    Self, Public is nothing), DocumentType (Command: every Outpost document)."""
    chosen = _key_values(items, DOCUMENT_KEYS, tags=False)

    def passes(entry: Mapping[str, Any]) -> bool:
        for key, values in chosen:
            if key == "Owner":
                owners = {"Private": "Self", "Self": "Self", "Amazon": "Amazon"}
                ok = entry["Owner"] in {owners.get(v, "") for v in values}
            else:
                ok = str(entry.get(key, "")) in values
            if not ok:
                return False
        return True
    return passes
