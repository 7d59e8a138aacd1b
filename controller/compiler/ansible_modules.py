"""Ansible's modules as Outpost runs them: a task's rendered arguments to one step of a document.

- ``shell``, ``command``, ``raw``, ``script``: the ``shell`` action. ``command`` runs its argv
  without a shell (``exec`` of each word quoted), as Ansible's does; ``script`` carries the
  playbook's local script in the step and runs it on the node with its arguments; ``creates`` /
  ``removes`` are checked on the node before anything runs.
- ``copy`` and ``template``: the ``copy`` action. A ``src`` found beside the playbook (``files/``
  or ``templates/`` first, as Ansible searches) is read on the controller (a template rendered
  for the host) and sent as the step's content, or put into the content store when it is large
  or not text; any other ``src`` names a file of the content store.
- ``file``, ``lineinfile``, ``service``/``systemd``, ``package``/``apt``/``yum``/``dnf``: the
  actions of the same names, their arguments checked by the action's own schema.
- ``debug``, ``set_fact``, ``fail``, ``assert``, ``meta``: evaluated on the controller, as Ansible
  evaluates them on its control node; nothing is sent.
- Any other installed Outpost action by its name. Every other module is refused by name.

``become_user``/``remote_user`` run shell-like tasks as that user (``runuser -u USER``): the agent
itself runs privileged, which is what ``become: true`` asks for.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from plugins.sdk.errors import InputError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.schema import inputs_to_json
from plugins.sdk.wire.document import OnFailure, Step

PREFIXES = ("ansible.builtin.", "ansible.legacy.")
SHELL_MODULES = frozenset({"shell", "command", "raw", "script"})
CONTROLLER_MODULES = frozenset({"debug", "set_fact", "fail", "assert", "meta"})
FILE_MODULES = frozenset({"copy", "template"})
PASS_THROUGH = frozenset({"file", "lineinfile", "service", "systemd", "package", "apt", "yum", "dnf"})
SHELL_ARGS = {"shell": {"_raw_params", "cmd", "chdir", "executable", "creates", "removes"},
              "command": {"_raw_params", "cmd", "argv", "chdir", "creates", "removes"},
              "raw": {"_raw_params", "executable"},
              "script": {"_raw_params", "cmd", "chdir", "creates", "removes", "executable"}}
META_ACTIONS = frozenset({"flush_handlers", "end_play", "end_host", "noop", "clear_facts"})
INLINE_LIMIT = 32 * 1024  # a file above this goes to the content store (a document holds 64 KiB)
KNOWN_ELSEWHERE = {
    "win_shell": "use the powershell action (Outpost's name for it) or aws:runPowerShellScript",
    "win_command": "use the powershell action (Outpost's name for it) or aws:runPowerShellScript",
    "fetch": "fetch copies from nodes to the controller; read a node's output with outpost command get",
    "synchronize": "synchronize needs rsync over SSH; put the files in the content store and use copy",
    "get_url": "get_url downloads from the network on the node; run curl with shell, or use the content store",
    "uri": "uri is not supported; run curl with shell",
    "user": "user is not supported yet; run useradd with shell",
    "group": "group is not supported yet; run groupadd with shell",
    "cron": "cron is not supported yet; write the file with copy",
    "git": "git is not supported yet; run git with shell",
    "unarchive": "unarchive is not supported yet",
    "pip": "pip is not supported yet; run pip with shell",
    "setup": "facts are gathered from the agent's report: use gather_facts",
    "wait_for": "wait_for is not supported yet", "reboot": "use the aws:runShellScript exit code 194/3010 "
                                                           "(Outpost's reboot protocol) or the reboot action",
}


def normalize_module(name: str) -> str:
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def module_problem(module: str, registry: PluginRegistry) -> str | None:
    """None when Outpost runs ``module``; else why not, naming it."""
    if module in SHELL_MODULES or module in CONTROLLER_MODULES or module in FILE_MODULES:
        return None
    if module in PASS_THROUGH or registry.has_action(module):
        return None if registry.has_action(module) else f"module {module!r}: its action is not installed"
    if module in KNOWN_ELSEWHERE:
        return f"module {module!r} is not supported: {KNOWN_ELSEWHERE[module]}"
    known = ", ".join(sorted(SHELL_MODULES | CONTROLLER_MODULES | FILE_MODULES | PASS_THROUGH))
    return f"unknown module or keyword {module!r} (modules: {known}, and any installed Outpost action)"


def accepted_args(module: str, registry: PluginRegistry) -> frozenset[str] | None:
    """The argument names ``module`` takes; None when the runner checks them itself."""
    if module in SHELL_ARGS:
        return frozenset(SHELL_ARGS[module])
    if module == "copy":
        return frozenset(f.name for f in dataclasses.fields(registry.input_schema("copy", "copy"))) - {"src_sha256"}
    if module == "template":
        return frozenset({"src", "dest", "mode", "owner", "group", "backup", "force"})
    if module in CONTROLLER_MODULES:
        return None
    return frozenset(f.name for f in dataclasses.fields(registry.input_schema(module, module)))


class ModuleError(Exception):
    """A task's rendered arguments cannot make a step; the message says which and why."""


@dataclass(frozen=True)
class StepContext:
    """What besides its arguments decides a task's step on one host."""
    name: str  # the step's name (unique within its document)
    playbook_dir: str
    run_as: str | None = None  # None: as the agent runs
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)
    timeout: int | None = None
    check: bool = False
    render_template: Callable[[str], str] | None = None  # a template file's text rendered for the host
    store_content: Callable[[str, bytes], str] | None = None  # puts bytes into the content store -> its name


def local_file(playbook_dir: str, subdir: str, path: str) -> str | None:
    """Where Ansible would find ``path`` beside the playbook (``files/`` or ``templates/`` first)."""
    if os.path.isabs(path):
        return path if os.path.isfile(path) else None
    for candidate in (os.path.join(playbook_dir, subdir, path), os.path.join(playbook_dir, path)):
        if os.path.isfile(candidate):
            return candidate
    return None


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ModuleError(f"cannot read {path!r}: {exc.strerror or exc}") from None


def _args(module: str, args: Any) -> dict[str, Any]:
    if args is None:
        return {}
    if isinstance(args, str):
        if module in SHELL_MODULES:
            return {"_raw_params": args}
        return _key_values(args)
    if not isinstance(args, dict):
        raise ModuleError(f"expected a string or a mapping of arguments, got {type(args).__name__}")
    return dict(args)


def _key_values(text: str) -> dict[str, Any]:
    """Ansible's old ``copy: src=a dest=b`` form."""
    out: dict[str, Any] = {}
    for word in shlex.split(text):
        key, sep, value = word.partition("=")
        if not sep or not key.isidentifier():
            raise ModuleError(f"expected key=value arguments, got {word!r}")
        out[key] = value
    return out


def _free_form_options(text: str) -> None:
    """Ansible takes ``chdir=`` and friends inside a free-form command; here they must go under args:
    a command that silently ran elsewhere would be worse than one refused."""
    for word in text.split():
        key = word.partition("=")[0]
        if "=" in word and key in ("chdir", "creates", "removes", "executable", "warn", "stdin"):
            raise ModuleError(f"{key}= inside the command is not supported; give it under `args:` ({key}: ...)")


def _guards(args: Mapping[str, Any]) -> str:
    out = ""
    if args.get("creates"):
        path = shlex.quote(str(args["creates"]))
        out += f"if [ -e {path} ]; then echo skipped, since {path} exists; exit 0; fi\n"
    if args.get("removes"):
        path = shlex.quote(str(args["removes"]))
        out += f"if [ ! -e {path} ]; then echo skipped, since {path} does not exist; exit 0; fi\n"
    return out


def _script_body(module: str, args: Mapping[str, Any], ctx: StepContext) -> tuple[str, str]:
    """(script, executable) for a shell-like module."""
    raw = args.get("_raw_params") or args.get("cmd")
    if module == "command":
        if args.get("argv") is not None:
            argv = args["argv"]
            if not isinstance(argv, list) or not argv or not all(isinstance(a, (str, int, float)) for a in argv):
                raise ModuleError("argv: expected a non-empty list of strings")
            return "exec " + shlex.join(str(a) for a in argv), "/bin/sh"
        if not isinstance(raw, str) or not raw.strip():
            raise ModuleError("expected the command to run (a string, cmd or argv)")
        _free_form_options(raw)
        try:
            words = shlex.split(raw)
        except ValueError as exc:
            raise ModuleError(f"cannot split the command into words: {exc}") from None
        return "exec " + shlex.join(words), "/bin/sh"
    if not isinstance(raw, str) or not raw.strip():
        raise ModuleError("expected the script to run (a string or cmd)")
    if module == "script":
        words = shlex.split(raw)
        found = local_file(ctx.playbook_dir, "files", words[0])
        if found is None:
            raise ModuleError(f"script {words[0]!r} not found beside the playbook (nor in files/)")
        try:
            text = _read(found).decode("utf-8")
        except UnicodeDecodeError:
            raise ModuleError(f"script {words[0]!r} is not UTF-8 text") from None
        delimiter = "OUTPOST_SCRIPT_" + hashlib.sha256(text.encode()).hexdigest()[:16]
        run = shlex.quote(args["executable"]) + ' "$t"' if args.get("executable") else '"$t"'
        body = (f"t=$(mktemp) || exit 1\ncat > \"$t\" <<'{delimiter}'\n{text}\n{delimiter}\n"
                f"chmod 700 \"$t\"; {run} {shlex.join(words[1:])}; rc=$?; rm -f \"$t\"; exit $rc")
        return body, "/bin/sh"
    _free_form_options(raw)
    return raw, str(args.get("executable") or "/bin/sh")


def _shell_step(module: str, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    unknown = set(args) - SHELL_ARGS[module]
    if unknown:
        raise ModuleError(f"{module} takes no argument {sorted(unknown)[0]!r}")
    script, executable = _script_body(module, args, ctx)
    script = _guards(args) + script
    if ctx.run_as is not None and ctx.run_as != "root":
        script = f"exec runuser -u {shlex.quote(ctx.run_as)} -- {shlex.quote(executable)} -c {shlex.quote(script)}"
        executable = "/bin/sh"
    inputs: dict[str, Any] = {"cmd": script, "executable": executable}
    if args.get("chdir"):
        inputs["chdir"] = str(args["chdir"])
    if ctx.environment:
        inputs["env"] = dict(ctx.environment)
    return inputs


def _file_step(module: str, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    src = args.get("src")
    if module == "template":
        if not isinstance(src, str) or not src:
            raise ModuleError("template needs src: the template file beside the playbook")
        found = local_file(ctx.playbook_dir, "templates", src)
        if found is None:
            raise ModuleError(f"template {src!r} not found beside the playbook (nor in templates/)")
        assert ctx.render_template is not None
        data = ctx.render_template(found).encode("utf-8")
    elif isinstance(src, str) and src and (found := local_file(ctx.playbook_dir, "files", src)) is not None:
        data = _read(found)
    else:
        return dict(args)  # content, or src naming a file of the content store
    rest = {k: v for k, v in args.items() if k != "src"}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and len(data) <= INLINE_LIMIT:
        return {**rest, "content": text}
    if ctx.store_content is None:
        raise ModuleError(f"{src!r} is too large to send inline; put it into the content store")
    name = f"ansible/{hashlib.sha256(data).hexdigest()[:16]}-{os.path.basename(str(src))}"
    return {**rest, "src": ctx.store_content(name, data)}


def step_for(module: str, args: Any, ctx: StepContext, registry: PluginRegistry, where: str) -> Step | None:
    """The step that runs ``module`` with rendered ``args`` on one host; None when it cannot run in
    check mode (Ansible skips such a task under --check). Raises ModuleError."""
    values = _args(module, args)
    if module in SHELL_MODULES:
        action, inputs = "shell", _shell_step(module, values, ctx)
    elif module in FILE_MODULES:
        action, inputs = "copy", _file_step(module, values, ctx)
    else:
        action, inputs = module, values
    if ctx.check and not registry.checkable(action):
        return None
    try:
        typed = registry.bind(action, inputs, where).given
    except InputError as exc:
        raise ModuleError(exc.message if exc.where in ("", where) else f"{exc.where.removeprefix(where + '.')}: "
                                                                         f"{exc.message}") from None
    return Step(name=ctx.name, action=action, inputs=inputs_to_json(typed), timeout_seconds=ctx.timeout,
                on_failure=OnFailure.CONTINUE, check_mode=ctx.check)
