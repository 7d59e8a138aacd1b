"""plugins/sdk/host/capabilities.py: what a document needs of a node, and what a node lacks.
Documents in, gaps out."""
from __future__ import annotations

import pytest

from plugins.sdk.facts import Platform, PluginInfo
from plugins.sdk.host.capabilities import Gap, GapKind, actions_of, gaps, lacking_message, missing
from plugins.sdk.wire.document import Document, Precondition, Step

WINDOWS_ONLY = {"win": frozenset({Platform.WINDOWS})}


def _platforms(action: str) -> frozenset[Platform] | None:
    return WINDOWS_ONLY.get(action) or ({"shell": frozenset({Platform.LINUX, Platform.MACOS})}.get(action))


def _doc(*steps: Step) -> Document:
    return Document(tuple(steps))


@pytest.mark.parametrize(("steps", "platform", "node", "found"), [
    ((Step("a", "shell", {}),), Platform.LINUX, {"shell"}, []),
    ((Step("a", "shell", {}), Step("b", "extra", {})), Platform.LINUX, {"shell"},
     [Gap("b", "extra", GapKind.MISSING_ACTION)]),
    # a step the platform skips needs nothing of the node, but is said
    ((Step("a", "shell", {}), Step("w", "win", {})), Platform.LINUX, {"shell"},
     [Gap("w", "win", GapKind.NOT_ON_PLATFORM)]),
    # a precondition decides: false here, nothing needed and nothing said
    ((Step("w", "extra", {}, precondition=Precondition("platformType", "Windows")),), Platform.LINUX, set(), []),
    ((Step("w", "extra", {}, precondition=Precondition("platformType", "Linux")),), Platform.LINUX, set(),
     [Gap("w", "extra", GapKind.MISSING_ACTION)]),
    # an action the asker does not know is taken to apply
    ((Step("u", "unknown", {}),), Platform.MACOS, {"shell"}, [Gap("u", "unknown", GapKind.MISSING_ACTION)]),
])
def test_gaps(steps: tuple[Step, ...], platform: Platform, node: set[str], found: list[Gap]) -> None:
    assert list(gaps(_doc(*steps), platform, node, _platforms)) == found
    assert list(missing(_doc(*steps), platform, node, _platforms)) == [
        g for g in found if g.kind is GapKind.MISSING_ACTION]


def test_a_nodes_actions_are_its_plugins_names_and_aliases() -> None:
    plugins = (PluginInfo("shell", "1.0.0", ("aws:runShellScript",)), PluginInfo("file", "1.0.0"))
    assert actions_of(plugins) == {"shell", "aws:runShellScript", "file"}
    assert lacking_message([Gap("b", "x", GapKind.MISSING_ACTION), Gap("c", "a", GapKind.MISSING_ACTION)],
                           ["shell"]) == "this node has no plugin for a, x; nothing was run (installed: shell)"
