"""plugins.sdk.host.registry: plugins and their actions, resolved and bound, with small fake plugins."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from plugins.sdk.contract import API_VERSION, PluginSpec, RunContext, StepOutcome
from plugins.sdk.errors import InputError, PluginError
from plugins.sdk.facts import Platform, PluginInfo
from plugins.sdk.host.registry import BoundStep, PluginRegistry
from plugins.sdk.schema import Alias, param
from plugins.sdk.status import Status


@dataclass(frozen=True)
class EchoInputs:
    msg: str = param("What to say.", free_form=True)
    times: int = param("How often.", default=1, minimum=1)


@dataclass(frozen=True)
class LinesInputs:
    lines: tuple[str, ...] = param("The lines.")


@dataclass(frozen=True)
class NoInputs:
    pass


def lines_to_echo(inputs: LinesInputs) -> EchoInputs:
    return EchoInputs(msg="\n".join(inputs.lines), times=1)


class FakePlugin:
    spec: PluginSpec

    async def run(self, ctx: RunContext, inputs: Any) -> StepOutcome:
        return StepOutcome(Status.SUCCESS)


def make_plugin(name: str, *, version: str = "1.0.0", api: int = API_VERSION, inputs: type = NoInputs,
                aliases: tuple[Alias, ...] = ()) -> FakePlugin:
    cls = type(f"Plugin_{name}", (FakePlugin,), {"spec": PluginSpec(
        name=name, version=version, api=api, summary=f"The {name} plugin.", inputs=inputs,
        platforms=frozenset({Platform.LINUX}), aliases=aliases)})
    return cls()


def echo() -> FakePlugin:
    return make_plugin("echo", version="1.2.3", inputs=EchoInputs,
                       aliases=(Alias("legacy:echo", LinesInputs, lines_to_echo),))


@pytest.fixture
def plugins() -> tuple[FakePlugin, FakePlugin]:
    return echo(), make_plugin("noop", version="0.1")


@pytest.fixture
def registry(plugins: tuple[FakePlugin, FakePlugin]) -> PluginRegistry:
    return PluginRegistry(plugins)


def test_actions_include_aliases(registry: PluginRegistry) -> None:
    assert registry.actions() == ("echo", "legacy:echo", "noop")
    assert registry.has_action("legacy:echo") and registry.has_action("noop")
    assert not registry.has_action("missing") and not registry.has_action("Echo")


def test_specs_and_infos(registry: PluginRegistry, plugins: tuple[FakePlugin, FakePlugin]) -> None:
    assert registry.specs() == (plugins[0].spec, plugins[1].spec)
    assert registry.spec("noop") is plugins[1].spec
    assert registry.infos() == (PluginInfo("echo", "1.2.3", ("legacy:echo",)), PluginInfo("noop", "0.1", ()))


def test_an_unknown_plugin_name(registry: PluginRegistry) -> None:
    with pytest.raises(PluginError, match=r"^no plugin named 'nope' \(installed: echo, noop\)$"):
        registry.spec("nope")
    with pytest.raises(PluginError, match="no plugin named 'legacy:echo'"):  # an alias is not a plugin
        registry.spec("legacy:echo")


def test_bind(registry: PluginRegistry, plugins: tuple[FakePlugin, FakePlugin]) -> None:
    bound = registry.bind("echo", {"msg": "hi", "times": 3}, "tasks[0].echo")
    assert bound == BoundStep(plugins[0], "echo", EchoInputs("hi", 3))
    assert bound.plugin is plugins[0]


def test_bind_free_form(registry: PluginRegistry) -> None:
    assert registry.bind("echo", "hello", "w").inputs == EchoInputs("hello", 1)


def test_bind_an_alias_converts(registry: PluginRegistry, plugins: tuple[FakePlugin, FakePlugin]) -> None:
    bound = registry.bind("legacy:echo", {"lines": ["a", "b"]}, "w")
    assert bound.plugin is plugins[0]
    assert bound.action == "legacy:echo"
    assert bound.inputs == EchoInputs("a\nb", 1)
    assert registry.bind("legacy:echo", {"lines": "one"}, "w").inputs == EchoInputs("one", 1)


def test_input_schema(registry: PluginRegistry) -> None:
    assert registry.input_schema("echo", "w") is EchoInputs
    assert registry.input_schema("legacy:echo", "w") is LinesInputs


@pytest.mark.parametrize(("action", "raw", "where", "message"), [
    ("echo", {"msg": "x", "times": 0}, "tasks[2].echo.times", "must be at least 1, got 0"),
    ("echo", {}, "tasks[2].echo.msg", "missing required parameter"),
    ("echo", {"msg": "x", "extra": 1}, "tasks[2].echo.extra", "unsupported parameter (supported: msg, times)"),
    # an alias is validated against its own schema, not the plugin's
    ("legacy:echo", {"msg": "x"}, "tasks[2].echo.msg", "unsupported parameter (supported: lines)"),
    ("legacy:echo", {"lines": [1]}, "tasks[2].echo.lines[0]", "expected a string, got an integer"),
    ("noop", "free text", "tasks[2].echo", "expected a mapping, got a string"),
    ("noop", {"x": 1}, "tasks[2].echo.x", "unsupported parameter (supported: )"),
])
def test_bind_errors_name_the_place(registry: PluginRegistry, action: str, raw: Any, where: str,
                                    message: str) -> None:
    with pytest.raises(InputError) as info:
        registry.bind(action, raw, "tasks[2].echo")
    assert (info.value.where, info.value.message) == (where, message)


def test_an_unknown_action_lists_the_known_ones(registry: PluginRegistry) -> None:
    for call in (lambda: registry.bind("nope", {}, "tasks[4]"), lambda: registry.input_schema("nope", "tasks[4]")):
        with pytest.raises(InputError) as info:
            call()
        assert info.value.where == "tasks[4]"
        assert info.value.message == "unknown action 'nope' (known: echo, legacy:echo, noop)"


@pytest.mark.parametrize("plugins", [
    [make_plugin("a"), make_plugin("a")],
    [make_plugin("a", aliases=(Alias("a", NoInputs, lambda i: i),))],  # an alias shadowing its own plugin
    [make_plugin("a", aliases=(Alias("b", NoInputs, lambda i: i),)), make_plugin("b")],  # alias, then a plugin
    [make_plugin("b"), make_plugin("a", aliases=(Alias("b", NoInputs, lambda i: i),))],  # plugin, then an alias
    [make_plugin("a", aliases=(Alias("x", NoInputs, lambda i: i),)),
     make_plugin("b", aliases=(Alias("x", NoInputs, lambda i: i),))],  # the same alias twice
    [make_plugin("a", aliases=(Alias("x", NoInputs, lambda i: i), Alias("x", NoInputs, lambda i: i)))],
], ids=["same-name", "alias-is-own-name", "alias-then-plugin", "plugin-then-alias", "alias-twice",
        "alias-twice-in-one"])
def test_an_action_provided_twice_is_refused(plugins: list[FakePlugin]) -> None:
    with pytest.raises(PluginError, match=r"^action '[abx]' is provided twice$"):
        PluginRegistry(plugins)


@pytest.mark.parametrize("api", [0, 2, 99])
def test_an_unsupported_api_is_refused(api: int) -> None:
    with pytest.raises(PluginError, match=rf"^plugin 'old' speaks contract api {api}; supported: \[1\]$"):
        PluginRegistry([make_plugin("ok"), make_plugin("old", api=api)])


def test_an_empty_registry() -> None:
    registry = PluginRegistry([])
    assert registry.actions() == () and registry.infos() == ()
    with pytest.raises(InputError, match="unknown action 'shell'"):
        registry.bind("shell", "x", "w")


def test_discover_finds_the_installed_shell_plugin() -> None:
    registry = PluginRegistry.discover()
    assert registry.has_action("shell") and registry.has_action("aws:runShellScript")
    assert "shell" in [i.name for i in registry.infos()]
