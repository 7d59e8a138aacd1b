"""Plugin discovery through the ``outpost.plugins`` entry-point group, and action resolution.

The controller and the agent both use this: the controller to validate a task's inputs when it
compiles, the agent to validate them again and find the plugin that runs them.
"""
from __future__ import annotations

import importlib.metadata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from plugins.sdk.contract import SUPPORTED_APIS, Plugin, PluginSpec
from plugins.sdk.errors import InputError, PluginError
from plugins.sdk.facts import Platform, PluginInfo
from plugins.sdk.schema import parse_inputs

ENTRY_POINT_GROUP = "outpost.plugins"


@dataclass(frozen=True)
class BoundStep:
    """An action resolved to its plugin, with inputs validated and converted to the plugin's type.
    ``given``: the inputs typed by the action's own schema, before an alias's conversion (what a
    document carries)."""
    plugin: Plugin
    action: str
    inputs: Any
    given: Any = field(default=None, compare=False)  # derived: the same raw inputs, unconverted


class PluginRegistry:
    def __init__(self, plugins: Iterable[Plugin]) -> None:
        self._by_name: dict[str, Plugin] = {}
        self._actions: dict[str, tuple[Plugin, type, Any]] = {}
        for plugin in plugins:
            spec = plugin.spec
            if spec.api not in SUPPORTED_APIS:
                raise PluginError(f"plugin {spec.name!r} speaks contract api {spec.api}; "
                                  f"supported: {sorted(SUPPORTED_APIS)}")
            if spec.name in self._actions:
                raise PluginError(f"action {spec.name!r} is provided twice")
            self._by_name[spec.name] = plugin
            self._actions[spec.name] = (plugin, spec.inputs, None)
            for alias in spec.aliases:
                if alias.name in self._actions:
                    raise PluginError(f"action {alias.name!r} is provided twice")
                self._actions[alias.name] = (plugin, alias.inputs, alias.convert)

    @classmethod
    def discover(cls) -> PluginRegistry:
        plugins = []
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                plugin_cls = ep.load()
            except Exception as exc:  # a broken third-party plugin must not hide the others' error
                raise PluginError(f"plugin entry point {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            if plugin_cls.spec.name != ep.name:
                raise PluginError(f"entry point {ep.name!r} loads a plugin named {plugin_cls.spec.name!r}")
            plugins.append(plugin_cls())
        return cls(plugins)

    def specs(self) -> tuple[PluginSpec, ...]:
        return tuple(p.spec for p in self._by_name.values())

    def spec(self, name: str) -> PluginSpec:
        try:
            return self._by_name[name].spec
        except KeyError:
            raise PluginError(f"no plugin named {name!r} (installed: {', '.join(sorted(self._by_name))})") from None

    def infos(self) -> tuple[PluginInfo, ...]:
        return tuple(PluginInfo(s.name, s.version, tuple(a.name for a in s.aliases)) for s in self.specs())

    def actions(self) -> tuple[str, ...]:
        return tuple(sorted(self._actions))

    def has_action(self, action: str) -> bool:
        return action in self._actions

    def action_names(self) -> Collection[str]:
        """Every action this registry provides (names and aliases), for membership tests."""
        return self._actions.keys()

    def platforms_of(self, action: str) -> frozenset[Platform] | None:
        """The platforms the plugin that provides ``action`` runs on; None when none provides it."""
        found = self._actions.get(action)
        return None if found is None else found[0].spec.platforms

    def checkable(self, action: str) -> bool:
        """Whether ``action``'s plugin can run in check mode (saying what it would change, changing nothing)."""
        found = self._actions.get(action)
        return found is not None and found[0].spec.supports_check_mode

    def action_spec(self, action: str) -> PluginSpec:
        """The spec of the plugin that provides ``action`` (a name or an alias)."""
        return self._lookup(action, "action")[0].spec

    def input_schema(self, action: str, where: str) -> type:
        return self._lookup(action, where)[1]

    def _lookup(self, action: str, where: str) -> tuple[Plugin, type, Any]:
        try:
            return self._actions[action]
        except KeyError:
            raise InputError(where, f"unknown action {action!r} (known: {', '.join(self.actions())})") from None

    def bind(self, action: str, raw_inputs: Any, where: str) -> BoundStep:
        """Validate raw inputs against the action's schema; raises InputError naming ``where``."""
        plugin, inputs_cls, convert = self._lookup(action, where)
        given = parse_inputs(inputs_cls, raw_inputs, where)
        if convert is None:
            return BoundStep(plugin, action, given, given)
        try:
            converted = convert(given)
        except InputError as exc:  # an alias's refusal names its input; the step's place goes first
            raise InputError(f"{where}.{exc.where}" if exc.where else where, exc.message) from None
        return BoundStep(plugin, action, converted, given)
