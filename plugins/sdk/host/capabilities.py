"""What a document needs of a node, and what a node lacks to run it: one answer for the agent (which
refuses a document it lacks an action for, before any step runs) and for the operator's
``--check`` (which asks the same of every targeted node's reported plugins before anything is sent).

A step applies to a node when its precondition holds there, or, without one, when its action's
plugin runs on the node's platform (SSM 2.2's rule: the others are skipped). A step that applies
needs its action on the node. A step whose plugin the asker does not know at all is taken to apply:
nothing says it would be skipped.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Collection
from dataclasses import dataclass

from plugins.sdk.facts import Platform, PluginInfo
from plugins.sdk.wire.document import Document, Step


class GapKind(enum.Enum):
    MISSING_ACTION = "missing-action"  # the step applies here and the node has no plugin for it: not sent, not run
    NOT_ON_PLATFORM = "not-on-platform"  # the step's plugin does not run on the node's platform: skipped there
    NOT_CHECKABLE = "not-checkable"  # check mode: the plugin cannot say what it would do; never run


@dataclass(frozen=True)
class Gap:
    step: str
    action: str
    kind: GapKind

    def describe(self, platform: Platform) -> str:
        if self.kind is GapKind.MISSING_ACTION:
            return f"step {self.step!r}: this node has no plugin for action {self.action!r}"
        if self.kind is GapKind.NOT_ON_PLATFORM:
            return f"step {self.step!r}: {self.action} does not run on {platform.value} (skipped there)"
        return f"step {self.step!r}: {self.action} cannot run in check mode (not run)"


# The platforms an action's plugin runs on, as the asker knows them; None: the asker knows no such action.
PlatformsOf = Callable[[str], "frozenset[Platform] | None"]


def applies(step: Step, platform: Platform, platforms_of: PlatformsOf) -> bool:
    if step.precondition is not None:
        return step.precondition.holds(platform)
    runs_on = platforms_of(step.action)
    return runs_on is None or platform in runs_on


def gaps(document: Document, platform: Platform, node_actions: Collection[str],
         platforms_of: PlatformsOf) -> tuple[Gap, ...]:
    """What keeps ``document`` from running whole on a node of ``platform`` that provides
    ``node_actions``: a step that applies there but whose action the node lacks, or a step the node's
    platform skips."""
    out = []
    for step in document.steps:
        if applies(step, platform, platforms_of):
            if step.action not in node_actions:
                out.append(Gap(step.name, step.action, GapKind.MISSING_ACTION))
        elif step.precondition is None:
            out.append(Gap(step.name, step.action, GapKind.NOT_ON_PLATFORM))
    return tuple(out)


def missing(document: Document, platform: Platform, node_actions: Collection[str],
            platforms_of: PlatformsOf) -> tuple[Gap, ...]:
    """The gaps that keep a node from taking ``document`` at all: actions it lacks for steps that apply."""
    return tuple(g for g in gaps(document, platform, node_actions, platforms_of) if g.kind is GapKind.MISSING_ACTION)


def actions_of(plugins: Collection[PluginInfo]) -> frozenset[str]:
    """The action names a node's reported plugins provide: each plugin's name and its aliases."""
    return frozenset(name for p in plugins for name in (p.name, *p.aliases))


def lacking_message(gaps_found: Collection[Gap], installed: Collection[str]) -> str:
    """The one line an invocation refused for missing actions ends with."""
    names = ", ".join(sorted({g.action for g in gaps_found}))
    return (f"this node has no plugin for {names}; nothing was run (installed: "
            f"{', '.join(sorted(installed)) or 'none'})")
