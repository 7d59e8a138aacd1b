"""PyYAML's safe loader made strict (plugins/sdk/strict.py's load_yaml): duplicate keys and nesting
past 8 levels refused. A module of its own so that only a process that reads YAML loads PyYAML."""
from __future__ import annotations

from typing import Any

import yaml
from yaml import YAMLError
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import MappingStartEvent, SequenceStartEvent

__all__ = ["YAMLError", "load"]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys and nesting past ``depth`` (before PyYAML's own
    recursion gets deep)."""
    depth = 8

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._levels = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.check_event(SequenceStartEvent, MappingStartEvent):
            return super().compose_node(parent, index)
        self._levels += 1
        try:
            if self._levels > self.depth:
                raise ComposerError(None, None, f"nested deeper than {self.depth} levels",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._levels -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
