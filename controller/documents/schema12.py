"""Schema 1.2 command documents (``runtimeConfig``: the shape of many documents AWS published) read as
the steps a schema 2.2 document would have.

Each entry of a plugin's ``properties`` (a list, or one mapping) becomes one step, in the order
written: its action is the plugin's name (the ``runtimeConfig`` key), its name the entry's ``id``
(``0.aws:runShellScript``) or, with none, ``<index>.<plugin>`` as SSM numbers them, and its inputs
the entry's other keys (``runCommand``, ``workingDirectory``, ``timeoutSeconds``...). A 1.2 document
has no preconditions and no shared inputs (onFailure, onSuccess, finallyStep): as for a 2.2 step
without a precondition, the plugin's platforms decide where a step runs (aws:runShellScript is
skipped on Windows; a node where no step runs ends InvalidPlatform, as SSM reports a node outside a
1.2 document's platforms, which it derives from the plugins). SSM's agent fails, rather than skips,
a 1.x step whose plugin the platform does not support (getStepExecutionOperation: "not supported in
current platform"); Outpost's agent has one rule, 2.2's, and skips it. SSM's agent reads
``runtimeConfig`` as a map, so the order of several plugins is not defined there; Outpost runs them
in the order written.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plugins.sdk.errors import DocumentError
from plugins.sdk.schema import JsonValue, kind_of

DOCUMENT_KEYS_12 = ("schemaVersion", "description", "parameters", "runtimeConfig")
PLUGIN_KEYS_12 = ("properties", "description")  # a plugin's description is the author's note, not run
STEP_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")  # SSM's own ids hold the plugin's name: 0.aws:runShellScript
NOT_IN_12 = {
    "mainSteps": "a schema 1.2 document has runtimeConfig; mainSteps is schema 2.0 and 2.2's "
                 "(write schemaVersion: '2.2')",
    "settings": "plugin settings are not supported",
    "precondition": "a schema 1.2 document has no preconditions (they are schema 2.2's)",
    "onFailure": "a schema 1.2 document has no shared inputs (they are schema 2.2's)",
    "onSuccess": "a schema 1.2 document has no shared inputs (they are schema 2.2's)",
    "finallyStep": "a schema 1.2 document has no shared inputs (they are schema 2.2's)",
}


@dataclass(frozen=True)
class Step12:
    name: str
    action: str
    inputs: Mapping[str, JsonValue]
    where: str  # the entry's place, without ``document.``: runtimeConfig.aws:runShellScript.properties[0]


def _refuse(where: str, key: str, known: tuple[str, ...]) -> DocumentError:
    why = NOT_IN_12.get(key, f"unknown key for schemaVersion 1.2 (known: {', '.join(known)})")
    return DocumentError(f"document.{where}.{key}: {why}" if where else f"document.{key}: {why}")


def check_document_keys(data: Mapping[str, Any]) -> None:
    for key in data:
        if key not in DOCUMENT_KEYS_12:
            raise _refuse("", key, DOCUMENT_KEYS_12)
    if "runtimeConfig" not in data:
        raise DocumentError("document: missing 'runtimeConfig' (a schema 1.2 document's plugins)")


def steps_12(runtime_config: Any) -> list[Step12]:
    """The steps of a 1.2 document's ``runtimeConfig``, checked for shape (the inputs are checked by
    the caller, and by the plugin's schema when rendered). DocumentError names the place."""
    if not isinstance(runtime_config, dict) or not runtime_config:
        raise DocumentError(f"document.runtimeConfig: expected a mapping of plugin names to their properties, "
                            f"got {kind_of(runtime_config) if runtime_config != {} else 'none'}")
    steps: list[Step12] = []
    for action, plugin in runtime_config.items():
        at = f"runtimeConfig.{action}"
        if not action:
            raise DocumentError("document.runtimeConfig: a plugin's name is empty")
        if not isinstance(plugin, dict):
            raise DocumentError(f"document.{at}: expected a mapping with 'properties', got {kind_of(plugin)}")
        for key in plugin:
            if key not in PLUGIN_KEYS_12:
                raise _refuse(at, key, PLUGIN_KEYS_12)
        if not isinstance(plugin.get("description", ""), str):
            raise DocumentError(f"document.{at}.description: expected a string, got {kind_of(plugin['description'])}")
        properties = plugin.get("properties")
        entries = [properties] if isinstance(properties, dict) else properties
        if not isinstance(entries, list) or not entries:
            raise DocumentError(f"document.{at}.properties: expected a mapping or a list of at least one, "
                                f"got {kind_of(properties) if properties != [] else 'an empty list'}")
        for j, entry in enumerate(entries):
            where = f"{at}.properties" if isinstance(properties, dict) else f"{at}.properties[{j}]"
            steps.append(_step(entry, action, j, where, steps))
    return steps


def _step(entry: Any, action: str, index: int, where: str, before: list[Step12]) -> Step12:
    if not isinstance(entry, dict):
        raise DocumentError(f"document.{where}: expected a mapping of the plugin's inputs, got {kind_of(entry)}")
    for key in entry:
        if key in NOT_IN_12:
            raise _refuse(where, key, ())
    name = entry.get("id", f"{index}.{action}")
    if not isinstance(name, str) or not STEP_ID.match(name):
        raise DocumentError(f"document.{where}.id: expected 1 to 128 letters, digits, '.', '_', ':' or '-', "
                            f"got {name!r}")
    if any(s.name == name for s in before):
        raise DocumentError(f"document.{where}.id: duplicate step name {name!r}")
    inputs = {k: v for k, v in entry.items() if k != "id"}
    return Step12(name, action, inputs, where)
