"""Outpost's plugin SDK. A plugin author needs only what this module exports, and docs/plugins.md::

    from plugins.sdk import Plugin, PluginSpec, RunContext, StepOutcome, param, Alias, Platform, Secret, run_process

The subpackages are not author API: ``plugins.sdk.wire`` is what crosses the wire between the
controller and the agent (documents, envelopes, results, identities), ``plugins.sdk.host`` what the
two processes that host plugins share (discovery, private files, GC tuning). Both depend on the
standard library, ``cryptography`` and ``outpost.v1`` only, and never import ``controller``,
``agent`` or a plugin.

The names are loaded on first use (PEP 562), so importing one submodule (the CLI imports
``plugins.sdk.errors``) does not load the process runner and asyncio with it.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "API_VERSION": "plugins.sdk.contract",
    "Plugin": "plugins.sdk.contract",
    "PluginSpec": "plugins.sdk.contract",
    "RunContext": "plugins.sdk.contract",
    "StepOutcome": "plugins.sdk.contract",
    "OutputStreamKind": "plugins.sdk.contract",
    "param": "plugins.sdk.schema",
    "Alias": "plugins.sdk.schema",
    "Platform": "plugins.sdk.facts",
    "Secret": "plugins.sdk.secrets",
    "run_process": "plugins.sdk.process",
    "Detail": "plugins.sdk.status",
    "PluginError": "plugins.sdk.errors",
    "InputError": "plugins.sdk.errors",
    "MAX_TIMEOUT_SECONDS": "plugins.sdk.limits",
}
__all__ = ["API_VERSION", "MAX_TIMEOUT_SECONDS", "Alias", "Detail", "InputError", "OutputStreamKind", "Platform",
           "Plugin", "PluginError", "PluginSpec", "RunContext", "Secret", "StepOutcome", "param", "run_process"]

if TYPE_CHECKING:
    from plugins.sdk.contract import API_VERSION, OutputStreamKind, Plugin, PluginSpec, RunContext, StepOutcome
    from plugins.sdk.errors import InputError, PluginError
    from plugins.sdk.facts import Platform
    from plugins.sdk.limits import MAX_TIMEOUT_SECONDS
    from plugins.sdk.process import run_process
    from plugins.sdk.schema import Alias, param
    from plugins.sdk.secrets import Secret
    from plugins.sdk.status import Detail


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'plugins.sdk' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)  # a plugin imports its names once


def __dir__() -> list[str]:
    return __all__
