"""controller/cli/preflight.py: what `--check` tells before anything is sent (the nodes that cannot
run a document whole) and which steps a check run sends."""
from __future__ import annotations

from controller.cli.preflight import NodeSeen, check_run, node_gaps
from plugins.sdk.facts import Facts, Platform, PluginInfo
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import Document, Precondition, Step

REGISTRY = PluginRegistry.discover()


def _doc(*steps: Step) -> Document:
    return Document(tuple(steps))


def _node(node_id: str, platform: Platform, *plugins: str) -> NodeSeen:
    facts = Facts("h-" + node_id, "Linux", "1", platform, "x86_64", (), "0.1.0",
                  tuple(PluginInfo(p, "1.0.0") for p in plugins))
    return NodeSeen(node_id, "Online", facts)


def test_node_gaps_names_the_nodes_that_cannot_run_it_whole() -> None:
    doc = _doc(Step("a", "shell", {"cmd": "true"}), Step("p", "powershell", {"script": "x"},
                                                        precondition=Precondition("platformType", "Windows")))
    rows = node_gaps(doc, [_node("mi-1", Platform.LINUX, "shell"), _node("mi-2", Platform.WINDOWS, "shell"),
                           _node("mi-3", Platform.LINUX), _node("mi-4", Platform.LINUX, "file")], REGISTRY)
    assert [(r.node_id, r.refused, r.problems) for r in rows] == [
        ("mi-2", True, ("step 'a': shell does not run on Windows (skipped there)",
                        "step 'p': this node has no plugin for action 'powershell'")),
        ("mi-4", True, ("step 'a': this node has no plugin for action 'shell'",))]  # mi-3 reported none: not judged


def test_a_check_run_sends_only_the_checkable_steps_marked_check_mode() -> None:
    doc = _doc(Step("f", "file", {"path": "/x"}), Step("s", "shell", {"cmd": "true"}), Step("c", "copy", {}))
    run = check_run(doc, REGISTRY)
    assert run.document is not None
    assert [(s.name, s.check_mode) for s in run.document.steps] == [("f", True), ("c", True)]
    assert run.not_checked == ("step 's': shell cannot run in check mode (not run)",)
    assert run.document.to_json()["mainSteps"][0]["checkMode"] is True
    assert check_run(_doc(Step("s", "shell", {})), REGISTRY).document is None
