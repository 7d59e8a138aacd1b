"""PyYAML's safe loader with the nesting limit (plugins/sdk/limits.py), for everything the controller
reads as YAML from an operator: stored documents (ssmdoc.py) and playbooks (controller/compiler/).

PyYAML composes a text by recursion, three Python frames a level, so a text nested a few hundred
levels deep ends in a RecursionError, whatever catches it, rather than in an error that says what is
wrong and where. This loader refuses the first list or mapping past the limit with its line
instead, before any recursion gets deep.
"""
from __future__ import annotations

import yaml
from yaml.composer import ComposerError
from yaml.events import MappingStartEvent, SequenceStartEvent
from yaml.nodes import Node

from plugins.sdk.limits import MAX_NESTING, nesting_problem


class NestingError(ComposerError):
    """A list or mapping past the nesting limit; ``problem`` says so, ``problem_mark`` where."""


class NestingLimitedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._levels = 0  # lists and mappings open around the node being composed

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        if not self.check_event(SequenceStartEvent, MappingStartEvent):
            return super().compose_node(parent, index)  # a scalar or an alias: nothing deeper
        self._levels += 1
        try:
            if self._levels > MAX_NESTING:
                raise NestingError(None, None, nesting_problem(), self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._levels -= 1
