"""Explicit JSON encodings of the structured values the store keeps in text columns.

Each ``encode_*`` writes compact, key-sorted JSON; each ``decode_*`` checks every field's type and
raises StoreError on anything it did not write, so a corrupt row fails loudly at the boundary.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeAlias

from controller.model import Tag, TagFilter, Targets
from controller.store.errors import StoreError
from plugins.sdk.facts import Facts, Platform, PluginInfo

# json.loads yields these; the decoders narrow them to typed values.
_Json: TypeAlias = None | bool | int | float | str | list["_Json"] | dict[str, "_Json"]


def _dumps(value: _Json) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _loads(text: str, what: str) -> _Json:
    try:
        value: _Json = json.loads(text)
    except (TypeError, ValueError) as e:
        raise StoreError(f"corrupt {what} JSON: {e}") from e
    return value


def _obj(value: _Json, what: str) -> dict[str, _Json]:
    if not isinstance(value, dict):
        raise StoreError(f"corrupt {what}: expected an object")
    return value


def _list(value: _Json, what: str) -> list[_Json]:
    if not isinstance(value, list):
        raise StoreError(f"corrupt {what}: expected a list")
    return value


def _str(obj: dict[str, _Json], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise StoreError(f"corrupt {what}: {key!r} is not a string")
    return value


def _strs(obj: dict[str, _Json], key: str, what: str) -> tuple[str, ...]:
    items = _list(obj.get(key, []), f"{what}.{key}")
    if not all(isinstance(s, str) for s in items):
        raise StoreError(f"corrupt {what}: {key!r} holds a non-string")
    return tuple(items)


# -- tags -------------------------------------------------------------------------------------------

def _tags_value(tags: tuple[Tag, ...]) -> list[_Json]:
    return [{"key": t.key, "value": t.value} for t in tags]


def encode_tags(tags: tuple[Tag, ...]) -> str:
    return _dumps(_tags_value(tags))


def decode_tags(text: str) -> tuple[Tag, ...]:
    out: list[Tag] = []
    for item in _list(_loads(text, "tags"), "tags"):
        o = _obj(item, "tag")
        out.append(Tag(key=_str(o, "key", "tag"), value=_str(o, "value", "tag")))
    return tuple(out)


# -- targets ----------------------------------------------------------------------------------------

def encode_targets(targets: Targets) -> str:
    return _dumps({
        "node_ids": list(targets.node_ids),
        "tags": [{"key": f.key, "values": list(f.values)} for f in targets.tags],
        "group": targets.group,
        "all": targets.all,
    })


def decode_targets(text: str) -> Targets:
    o = _obj(_loads(text, "targets"), "targets")
    filters: list[TagFilter] = []
    for item in _list(o.get("tags", []), "targets.tags"):
        f = _obj(item, "tag filter")
        filters.append(TagFilter(key=_str(f, "key", "tag filter"), values=_strs(f, "values", "tag filter")))
    group = o.get("group", "")
    if not isinstance(group, str):
        raise StoreError("corrupt row: targets.group: expected a string")
    return Targets(node_ids=_strs(o, "node_ids", "targets"), tags=tuple(filters), group=group,
                   all=bool(o.get("all", False)))


# -- parameters -------------------------------------------------------------------------------------

def encode_parameters(params: Mapping[str, tuple[str, ...]]) -> str:
    return _dumps({k: list(v) for k, v in sorted(params.items())})


def decode_parameters(text: str) -> dict[str, tuple[str, ...]]:
    o = _obj(_loads(text, "parameters"), "parameters")
    return {k: _strs(o, k, "parameters") for k in o}


# -- facts ------------------------------------------------------------------------------------------

def encode_facts(facts: Facts) -> str:
    return _dumps({
        "hostname": facts.hostname,
        "os_name": facts.os_name,
        "os_version": facts.os_version,
        "platform": facts.platform.value,
        "architecture": facts.architecture,
        "ip_addresses": list(facts.ip_addresses),
        "agent_version": facts.agent_version,
        "plugins": [{"name": p.name, "version": p.version, "aliases": list(p.aliases)}
                    for p in facts.plugins],
    })


def decode_facts(text: str) -> Facts:
    o = _obj(_loads(text, "facts"), "facts")
    platform_value = _str(o, "platform", "facts")
    try:
        platform = Platform(platform_value)
    except ValueError as e:
        raise StoreError(f"corrupt facts: unknown platform {platform_value!r}") from e
    plugins: list[PluginInfo] = []
    for item in _list(o.get("plugins", []), "facts.plugins"):
        p = _obj(item, "plugin")
        plugins.append(PluginInfo(name=_str(p, "name", "plugin"), version=_str(p, "version", "plugin"),
                                  aliases=_strs(p, "aliases", "plugin")))
    return Facts(
        hostname=_str(o, "hostname", "facts"),
        os_name=_str(o, "os_name", "facts"),
        os_version=_str(o, "os_version", "facts"),
        platform=platform,
        architecture=_str(o, "architecture", "facts"),
        ip_addresses=_strs(o, "ip_addresses", "facts"),
        agent_version=_str(o, "agent_version", "facts"),
        plugins=tuple(plugins),
    )
