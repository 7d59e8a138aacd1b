"""Outpost's plugin SDK. A plugin author needs only what this module exports, and docs/plugins.md::

    from plugins.sdk import Plugin, PluginSpec, RunContext, StepOutcome, param, Alias, Platform, Secret, run_process

(and ``run_query`` and the file helpers of ``plugins.sdk.filesystem``, exported here as well)

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
    "run_query": "plugins.sdk.process",
    "AgentInfo": "plugins.sdk.contract",
    "ContentSource": "plugins.sdk.contract",
    "newer": "plugins.sdk.versions",
    "Attributes": "plugins.sdk.filesystem",
    "Change": "plugins.sdk.filesystem",
    "NEW_DIR_MODE": "plugins.sdk.filesystem",
    "NEW_FILE_MODE": "plugins.sdk.filesystem",
    "absolute_path": "plugins.sdk.filesystem",
    "atomic_write": "plugins.sdk.filesystem",
    "backup_file": "plugins.sdk.filesystem",
    "follow_link": "plugins.sdk.filesystem",
    "group_id": "plugins.sdk.filesystem",
    "os_problem": "plugins.sdk.filesystem",
    "parent_must_exist": "plugins.sdk.filesystem",
    "parse_mode": "plugins.sdk.filesystem",
    "report_changes": "plugins.sdk.filesystem",
    "run_blocking": "plugins.sdk.filesystem",
    "shown_path": "plugins.sdk.filesystem",
    "stat_or_none": "plugins.sdk.filesystem",
    "write_file": "plugins.sdk.filesystem",
    "user_id": "plugins.sdk.filesystem",
    "Detail": "plugins.sdk.status",
    "PluginError": "plugins.sdk.errors",
    "InputError": "plugins.sdk.errors",
    "MAX_TIMEOUT_SECONDS": "plugins.sdk.limits",
    # patching (docs/patching.md): what a plugin that patches a node reads and reports
    "Baseline": "plugins.sdk.patching",
    "ApprovalRule": "plugins.sdk.patching",
    "PatchSpec": "plugins.sdk.patching",
    "OsFamily": "plugins.sdk.patching",
    "ComplianceLevel": "plugins.sdk.patching",
    "RejectedAction": "plugins.sdk.patching",
    "PatchOperation": "plugins.sdk.patching",
    "RebootOption": "plugins.sdk.patching",
    "PatchState": "plugins.sdk.patching",
    "PatchRecord": "plugins.sdk.patching",
    "PatchCounts": "plugins.sdk.patching",
    "PatchCompliance": "plugins.sdk.patching",
    "parse_baseline": "plugins.sdk.patching",
    "is_baseline_name": "plugins.sdk.patching",
    "reboot_exit_code": "plugins.sdk.patching",
}
__all__ = ["API_VERSION", "AgentInfo", "Alias", "ContentSource", "newer",
           "ApprovalRule", "Attributes", "Baseline", "Change", "ComplianceLevel", "Detail",
           "InputError", "MAX_TIMEOUT_SECONDS", "NEW_DIR_MODE", "NEW_FILE_MODE", "OsFamily", "OutputStreamKind",
           "PatchCompliance", "PatchCounts", "PatchOperation", "PatchRecord", "PatchSpec", "PatchState", "Platform",
           "Plugin", "PluginError", "PluginSpec", "RebootOption", "RejectedAction", "RunContext", "Secret",
           "StepOutcome", "absolute_path", "atomic_write", "backup_file", "follow_link", "group_id",
           "is_baseline_name", "os_problem", "param", "parent_must_exist", "parse_baseline", "parse_mode",
           "reboot_exit_code", "report_changes", "run_blocking", "run_process", "run_query", "shown_path",
           "stat_or_none", "user_id", "write_file"]

if TYPE_CHECKING:
    from plugins.sdk.contract import (
        API_VERSION,
        AgentInfo,
        ContentSource,
        OutputStreamKind,
        Plugin,
        PluginSpec,
        RunContext,
        StepOutcome,
    )
    from plugins.sdk.errors import InputError, PluginError
    from plugins.sdk.facts import Platform
    from plugins.sdk.filesystem import (
        NEW_DIR_MODE,
        NEW_FILE_MODE,
        Attributes,
        Change,
        absolute_path,
        atomic_write,
        backup_file,
        follow_link,
        group_id,
        os_problem,
        parent_must_exist,
        parse_mode,
        report_changes,
        run_blocking,
        shown_path,
        stat_or_none,
        user_id,
        write_file,
    )
    from plugins.sdk.limits import MAX_TIMEOUT_SECONDS
    from plugins.sdk.patching import (
        ApprovalRule,
        Baseline,
        ComplianceLevel,
        OsFamily,
        PatchCompliance,
        PatchCounts,
        PatchOperation,
        PatchRecord,
        PatchSpec,
        PatchState,
        RebootOption,
        RejectedAction,
        is_baseline_name,
        parse_baseline,
        reboot_exit_code,
    )
    from plugins.sdk.process import run_process, run_query
    from plugins.sdk.schema import Alias, param
    from plugins.sdk.secrets import Secret
    from plugins.sdk.status import Detail
    from plugins.sdk.versions import newer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'plugins.sdk' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)  # a plugin imports its names once


def __dir__() -> list[str]:
    return __all__
