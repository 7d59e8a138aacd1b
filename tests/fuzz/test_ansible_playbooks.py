"""Fuzz: playbooks in Ansible's form (controller/compiler/ansible_playbook.py). Whatever the plays
hold (known and refused keywords, modules and arguments of every shape), reading ends in a
playbook or in one PlaybookError line naming the file and a line."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.compiler.ansible_keywords import PLAY_KEYS, REFUSED_PLAY_KEYS, REFUSED_TASK_KEYS, TASK_KEYS
from controller.compiler.ansible_modules import CONTROLLER_MODULES, FILE_MODULES, PASS_THROUGH, SHELL_MODULES
from controller.compiler.ansible_playbook import read_ansible_playbook
from controller.compiler.errors import PlaybookError
from plugins.sdk.host.registry import PluginRegistry
from tests.fuzz.budget import cases
from tests.fuzz.strategies import dump_yaml, json_values, text

REGISTRY = PluginRegistry.discover()
MODULES = sorted(SHELL_MODULES | CONTROLLER_MODULES | FILE_MODULES | PASS_THROUGH) + ["ansible.builtin.shell", "uri",
                                                                                    "nope", "ansible.legacy.copy"]
ARG_NAMES = st.one_of(st.sampled_from(["cmd", "chdir", "creates", "dest", "src", "content", "name", "state", "path",
                                       "line", "msg", "var", "that", "argv", "_raw_params", "mode"]), text)
VALUE = json_values(4)
TASK = st.builds(
    lambda module, args, extra: {module: args, **extra},
    st.sampled_from(MODULES),
    st.one_of(text, st.dictionaries(ARG_NAMES, VALUE, max_size=3), VALUE),
    st.dictionaries(st.one_of(st.sampled_from(sorted(TASK_KEYS | set(REFUSED_TASK_KEYS) | {"listen"})), text), VALUE,
                    max_size=3))
PLAY = st.builds(
    lambda hosts, tasks, extra: {"hosts": hosts, "tasks": tasks, **extra},
    st.one_of(text, st.sampled_from(["all", "web:&db", "web,db"]), VALUE),
    st.one_of(st.lists(TASK, max_size=3), VALUE),
    st.dictionaries(st.one_of(st.sampled_from(sorted(PLAY_KEYS | set(REFUSED_PLAY_KEYS))), text),
                    st.one_of(VALUE, st.lists(TASK, max_size=2)), max_size=3))


@cases(3_000)
@given(st.lists(PLAY, min_size=1, max_size=2), st.booleans())
def test_ansible_playbooks_read_or_say_where(plays: list[Any], unicode: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "site.yml"
        try:
            book = read_ansible_playbook(str(path), dump_yaml(plays, unicode), REGISTRY)
        except PlaybookError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(f"{path}:"), str(exc)
            return
        assert len(book.plays) == len(plays)
