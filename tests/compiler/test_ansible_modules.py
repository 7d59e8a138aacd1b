"""Ansible modules in, Outpost steps out: each module's arguments as a task writes them, and the
step (action and inputs) a host is sent; and the playbook reader's refusals, with file:line."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller.compiler.ansible_modules import ModuleError, StepContext, step_for
from controller.compiler.ansible_playbook import read_ansible_playbook
from controller.compiler.errors import PlaybookError
from plugins.sdk.host.registry import PluginRegistry

REGISTRY = PluginRegistry.discover()


def _step(module: str, args: object, tmp_path: Path, **ctx: object):
    return step_for(module, args, StepContext(name="t", playbook_dir=str(tmp_path), **ctx), REGISTRY, "t")


def _run(cmd: str, executable: str = "/bin/sh") -> str:
    return subprocess.run([executable, "-c", cmd], capture_output=True, text=True, check=False).stdout


@pytest.mark.parametrize(("module", "args", "stdout"), [
    ("command", "echo 'a  b' $HOME;", "a  b $HOME;\n"),  # no shell: nothing expands, quoting kept
    ("command", {"argv": ["printf", "%s|", "x y", "*"]}, "x y|*|"),
    ("shell", "echo $((1 + 2)) | tr 3 4", "4\n"),
    ("shell", {"cmd": "echo hi", "executable": "/bin/bash"}, "hi\n"),
    ("raw", "echo raw", "raw\n"),
])
def test_shell_like_modules_run_as_ansible_runs_them(module: str, args: object, stdout: str, tmp_path: Path) -> None:
    step = _step(module, args, tmp_path)
    assert step.action == "shell"
    assert _run(str(step.inputs["cmd"]), str(step.inputs["executable"])) == stdout


def test_creates_and_removes_are_checked_on_the_node(tmp_path: Path) -> None:
    marker = tmp_path / "done"
    step = _step("command", {"cmd": "echo ran", "creates": str(marker)}, tmp_path)
    assert _run(str(step.inputs["cmd"])) == "ran\n"
    marker.touch()
    assert _run(str(step.inputs["cmd"])).startswith("skipped, since")
    step = _step("shell", {"cmd": "echo ran", "removes": str(tmp_path / "nothing")}, tmp_path)
    assert _run(str(step.inputs["cmd"])).startswith("skipped, since")


def test_script_carries_the_local_file_and_its_arguments(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "hello.py").write_text("#!/usr/bin/env python3\nimport sys\nprint('py', sys.argv[1:])\n")
    step = _step("script", "hello.py 'one two' three", tmp_path)
    assert _run(str(step.inputs["cmd"])) == "py ['one two', 'three']\n"


def test_become_user_runs_as_that_user(tmp_path: Path) -> None:
    step = _step("command", "id -un", tmp_path, run_as="nobody")
    assert step.inputs["cmd"].startswith("exec runuser -u nobody -- /bin/sh -c ")
    assert _step("command", "id -un", tmp_path, run_as="root").inputs["cmd"] == "exec id -un"


def test_copy_reads_a_local_src_and_template_renders_it(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "motd").write_text("hello\n")
    step = _step("copy", {"src": "motd", "dest": "/etc/motd", "mode": "0644"}, tmp_path)
    assert step.action == "copy" and step.inputs["content"] == "hello\n" and step.inputs.get("src") is None
    step = _step("copy", "src=stored-name dest=/etc/x", tmp_path)  # Ansible's key=value form; a store name
    assert step.inputs["src"] == "stored-name" and step.inputs["dest"] == "/etc/x"
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.j2").write_text("x")
    step = _step("template", {"src": "t.j2", "dest": "/etc/t"}, tmp_path, render_template=lambda p: "rendered")
    assert step.inputs["content"] == "rendered"


@pytest.mark.parametrize(("module", "args", "message"), [
    ("shell", "echo hi chdir=/tmp", "chdir= inside the command is not supported; give it under `args:`"),
    ("command", {"cmd": "ls", "stdin": "x"}, "command takes no argument 'stdin'"),
    ("script", "missing.sh", "script 'missing.sh' not found beside the playbook"),
    ("service", {"name": "nginx", "state": "bouncing"}, "state"),
    ("copy", "dest", "expected key=value arguments, got 'dest'"),
])
def test_bad_arguments_are_one_line_errors(module: str, args: object, message: str, tmp_path: Path) -> None:
    with pytest.raises(ModuleError) as err:
        _step(module, args, tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_check_mode_skips_what_cannot_be_checked(tmp_path: Path) -> None:
    assert _step("shell", "echo", tmp_path, check=True) is None
    step = _step("copy", {"content": "x", "dest": "/tmp/x"}, tmp_path, check=True)
    assert step is not None and step.check_mode


@pytest.mark.parametrize(("text", "message"), [
    ("- hosts: all\n  connection: ssh\n", "x.yml:2: connection: Outpost reaches nodes through their agents only"),
    ("- hosts: all\n  tasks:\n    - name: two\n      shell: a\n      command: b\n",
     "x.yml:5: tasks[0].command: more than one module or unknown keyword (shell, command)"),
    ("- hosts: all\n  tasks:\n    - shell: a\n      with_dict: {a: 1}\n",
     "x.yml:4: tasks[0].with_dict: with_dict is not"),
    ("- hosts: all\n  serial: fast\n", "x.yml:2: serial: expected a count, a percentage"),
    ("- hosts: all\n  tasks:\n    - debug: {msg: a}\n      register: 1bad\n",
     "x.yml:4: tasks[0].register: not a valid"),
    ("- hosts: all\n  become_method: doas\n", "x.yml:2: become_method: 'doas' is not supported"),
    ("- hosts: all\n  tasks:\n    - name: x\n", "x.yml:3: tasks[0]: no module"),
    ("- hosts: all\n  vars_files: [nope.yml]\n", "x.yml:2: vars_files: cannot read 'nope.yml'"),
])
def test_playbook_refusals_name_file_line_and_feature(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "x.yml"
    with pytest.raises(PlaybookError) as err:
        read_ansible_playbook(str(path), text, REGISTRY)
    assert str(err.value).startswith(f"{path.parent}/{message}"), str(err.value)


def test_playbook_reads_plays_as_written(tmp_path: Path) -> None:
    (tmp_path / "vars.yml").write_text("a: 1\nb: from-file\n")
    book = read_ansible_playbook(str(tmp_path / "x.yml"), (
        "- name: web\n  hosts: [web, db]\n  vars_files: [vars.yml]\n  vars: {b: from-play}\n  serial: [1, '50%']\n"
        "  any_errors_fatal: true\n  tags: deploy\n"
        "  tasks:\n    - ansible.builtin.apt: {name: nginx}\n      with_items: [[a, b], c]\n      notify: restart\n"
        "  handlers:\n    - name: restart\n      service: {name: nginx, state: restarted}\n      listen: web\n"),
        REGISTRY)
    (play,) = book.plays
    assert play.hosts == "web,db" and play.vars == {"a": 1, "b": "from-play"} and play.serial == (1, "50%")
    assert play.max_fail_percentage == 0 and play.tags == {"deploy"}
    (task,) = play.tasks
    assert task.module == "apt" and task.loop == ["a", "b", "c"] and task.notify == ("restart",)
    assert play.handlers[0].listen == ("web",)
