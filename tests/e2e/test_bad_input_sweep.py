"""Every ``outpost`` option, fed values out of range or of the wrong form, against one real controller.

The commands and their options are found by walking the CLI itself: click's tree under
controller/cli/ (the operator CLI) and the argparse parsers of ``outpost agent`` and ``outpost
swarm``, so a command or option added later is swept too. Each option gets the bad values of its
kind (negative, zero, huge, not a number, nan and inf, a choice that is not one, a path that cannot
be, a text far too long, a NUL), in an invocation that is valid but for that value; and for each:

- the exit status is not 0 (2 for a usage error);
- stderr has exactly one error line (a usage block around it is allowed) and it names the option;
- "Traceback" appears nowhere, in stdout or stderr.

A case the command line's parser refuses (click's, down to the command; argparse's), which is what
each one is meant to be, runs the real entry point (controller.cli.entry.main) in this process: its
exit status, stdout and stderr are those of the process, without an interpreter start-up (~1 s of
CPU) per case. One case of each command also runs as a real ``outpost`` process, and so does every
case the parser takes (a few at a time, with a timeout: a value taken by ``agent run`` would run an
agent). A NUL cannot be passed to a process (execve takes C strings), so those always run in this
process.

Left out: ``outpost command output`` (another change is rewriting it and GetOutput), and the
agent's and the swarm's free-text options (addresses, activation ids and codes): they go to the
controller as they are, which refuses them. A required parameter needs a valid value for the
others' cases (BASELINE); a command whose required parameter has none fails the sweep.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import click
import pytest

from agent.cli import _parser as agent_parser
from agent.swarm.main import _parser as swarm_parser
from controller.cli import entry, params
from controller.cli.app import cli
from controller.dev.cluster import OUTPOST, ROOT
from tests.support.clierrors import error_lines
from tests.support.cluster import Cluster
from tests.support.docrun import create_document, shell_document, write_file

LEFT_OUT = {("command", "output"): "its options and GetOutput are being changed elsewhere"}
LONG = "x" * 100_000
GARBAGE = "!? x"
NUL = "1\x00"
CASE_TIMEOUT = 30.0
WORKERS = 4


@dataclass(frozen=True)
class Sweep:
    """What the module's controller gives the cases: valid values for required parameters."""
    cluster: Cluster
    root: Path
    command_id: str
    node_id: str
    state_dir: Path
    swarm_dir: Path
    file: Path  # a regular file
    playbook: Path
    document: Path


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    root = tmp_path_factory.mktemp("sweep")
    c = Cluster(root)
    c.init()
    try:
        c.start_controller()
        c.enroll("a", c.create_activation("Role=sweep"))  # a node id and an agent state; the agent never runs
        swarm_dir = root / "swarm"
        shutil.copytree(c.state_dir("a"), swarm_dir / "agent-000001")
        doc = shell_document("say: echo hi")
        create_document(c, root, "Sweep-Doc", doc)
        sent = c.outpost_json("command", "send", "--document", "Outpost-RunShellScript", "--parameters",
                              "commands=true", "--targets", "Key=tag:Role,Values=nobody")
        playbook = write_file(root, "play.yml", "- name: p\n  targets: {tags: {Role: nobody}}\n"
                                                "  tasks:\n    - {name: t, shell: 'true'}\n")
        yield Sweep(c, root, str(sent["command_id"]), c.node_ids["a"], c.state_dir("a"), swarm_dir,
                    write_file(root, "plain.txt", "x"), playbook, write_file(root, "doc.yaml", doc))
    finally:
        c.close()


def baseline(s: Sweep, path: tuple[str, ...], case: int) -> dict[str, str]:
    """Valid values for every required parameter of the command at ``path``, by parameter name
    (click's, or argparse's dest); what must stay valid is never made or deleted by a case."""
    fresh = str(s.root / "fresh" / f"{case}")
    by_command: dict[tuple[str, ...], dict[str, str]] = {
        (): {},
        ("controller", "init"): {"directory": fresh, "hostnames": "127.0.0.1", "config_path": f"{fresh}.yaml"},
        ("controller", "serve"): {"directory": str(s.cluster.controller_dir)},
        # refused while the sweep's controller runs: a case issues nothing
        ("controller", "recover-operator"): {"directory": str(s.cluster.controller_dir), "name": "sweep-rescue",
                                             "out": fresh},
        ("node", "tag"): {"node_id": s.node_id, "tags": "Sweep=1"},
        ("node", "deregister"): {"node_id": "mi-00000000000000000"},  # never the sweep's node
        ("activation", "delete"): {"activation_id": "00000000-0000-4000-8000-000000000000"},
        ("node", "untag"): {"node_id": s.node_id, "keys": "Sweep"},
        ("playbook", "apply"): {"path": str(s.playbook), "check": ""},
        ("plugin", "show"): {"name": "shell"},
        ("command", "send"): {"document": "Outpost-RunShellScript", "parameters": "commands=true",
                              "targets": "Key=tag:Role,Values=nobody"},
        ("events",): {"follow": ""},
        ("document", "create"): {"name": "Sweep-New", "path": str(s.document)},
        ("document", "update"): {"name": "Sweep-Doc", "path": str(s.document)},
        ("document", "set-default"): {"name": "Sweep-Doc", "version": "1"},
        ("group", "create"): {"name": "sweep-group", "targets": "Key=tag:Role,Values=nobody"},
        ("operator", "create"): {"name": "sweep-operator", "out": fresh},
        ("policy", "create"): {"name": "sweep-policy", "path": str(s.document)},
        ("policy", "update"): {"name": "sweep-policy", "path": str(s.document)},
        ("policy", "attach"): {"name": "sweep-policy", "op": "admin"},
        ("policy", "detach"): {"name": "sweep-policy", "op": "admin"},
        ("policy", "simulate"): {"op": "admin", "action": "command:Send"},
        ("agent", "enroll"): {"controller": s.cluster.address, "activation_id": "sweep", "activation_code": "sweep",
                              "ca_fingerprint": "sha256:00", "state_dir": fresh},
        ("agent", "run"): {"state_dir": str(s.state_dir)},
        ("swarm",): {"controller": s.cluster.address, "agents": "1", "state_dir": str(s.swarm_dir)},
    }
    for ids in (("baseline", "create"), ("baseline", "update")):  # a valid name; the file is no baseline
        by_command[ids] = {"name": "sweep-baseline", "path": str(s.document)}
    for ids in (("baseline", "show"), ("baseline", "delete")):
        by_command[ids] = {"name": "sweep-nobody"}
    by_command[("compliance", "show")] = {"node_id": s.node_id}
    by_command[("agent-release", "publish")] = {"wheel": str(s.document)}  # a file, not a wheel
    for ids in (("agent-release", "delete"), ("content", "delete")):
        by_command[ids] = {"version" if ids[0] == "agent-release" else "name": "sweep-nobody"}
    by_command[("content", "put")] = {"name": "sweep-content", "path": str(s.document)}
    by_command[("parameter", "put")] = {"name": "/sweep/parameter", "value": "sweep-value", "overwrite": ""}
    for ids in (("parameter", "get"), ("parameter", "delete")):
        by_command[ids] = {"name": "/sweep/nobody"}
    for ids in (("command", "show"), ("command", "wait"), ("command", "cancel"), ("command", "logs"),
                ("command", "invocations")):
        by_command[ids] = {"command_id": s.command_id}
    by_command[("command", "get")] = {"command_id": s.command_id, "node_id": s.node_id}
    by_command[("ssm", "send-command")] = {"document_name": "AWS-RunShellScript", "parameters": "commands=true",
                                           "targets": "Key=tag:Role,Values=nobody"}
    for ids in (("ssm", "cancel-command"), ("ssm", "list-command-invocations")):
        by_command[ids] = {"command_id": s.command_id}
    for ids in (("ssm", "get-command-invocation"), ("ssm", "wait", "command-executed")):
        by_command[ids] = {"command_id": s.command_id, "instance_id": s.node_id}
    by_command[("ssm", "describe-document")] = {"name": "Sweep-Doc"}
    by_command[("ssm", "list-document-versions")] = {"name": "Sweep-Doc"}
    by_command[("ssm", "delete-document")] = {"name": "Sweep-Nobody"}  # never made: nothing is deleted
    by_command[("ssm", "update-document-default-version")] = {"name": "Sweep-Doc", "document_version": "1"}
    for ids in (("document", "show"), ("document", "delete"), ("document", "list-versions"), ("group", "show"),
                ("group", "delete")):
        by_command[ids] = {"name": "Sweep-Doc" if ids[0] == "document" else "sweep-group"}
    for ids in (("operator", "show"), ("operator", "revoke"), ("policy", "show"), ("policy", "delete")):
        by_command[ids] = {"name": "sweep-nobody"}  # never made: only the cases' bad values are refused
    return by_command.get(path, {})


# -- the commands and their options, as the CLI declares them -------------------------------------

@dataclass(frozen=True)
class Param:
    name: str  # click's name or argparse's dest: the key of BASELINE
    flag: str | None  # the option's first spelling; None for an argument
    names: tuple[str, ...]  # what the error line may call it
    bad: tuple[str, ...]  # values that must be refused


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    params: tuple[Param, ...]  # the ones swept
    required: tuple[str, ...]
    spelling: dict[str, tuple[str | None, bool]]  # every parameter: (its option, or None for an argument; a flag?)
    root: tuple[Param, ...] = ()  # the operator CLI's own options (--config), swept on `node list`


ROOT_SPELLING = {"config_path": ("--config", False), "log_level": ("--log-level", False)}


def _click_bad(p: click.Parameter, s: Sweep) -> tuple[str, ...] | None:
    t = p.type
    if isinstance(t, (click.IntRange, click.types.IntParamType)):
        return ("-1", "0", "99999999999999999999", "abc", "1.5", "", NUL)
    if isinstance(t, params.Seconds):
        return ("-1", "0", "nan", "inf", "99999999999999999999", "abc", "", NUL)
    if isinstance(t, click.Choice):
        return ("bogus", "", LONG, NUL)
    if isinstance(t, click.Path):
        bad = ["a" * 5000, f"{s.file}/x", NUL]
        if t.exists:
            bad.append(str(s.root / "no-such-thing"))
        if not t.file_okay:
            bad.append(str(s.file))
        if not t.dir_okay:
            bad.append(str(s.root))
        return tuple(bad)
    if isinstance(t, params.Checked):
        return ("-1", "abc", "99999999999999999999", "", LONG, NUL)
    if isinstance(t, params.Text):
        return (LONG, NUL) + ((GARBAGE,) if t.check is not None else ())
    return None


def _click_param(p: click.Parameter, s: Sweep) -> Param | None:
    if isinstance(p, click.Option) and (p.is_flag or p.name == "help"):
        return None
    bad = _click_bad(p, s)
    assert bad is not None, f"no bad values for {p.name} of type {p.type!r}: give its kind some"
    if isinstance(p, click.Option):
        return Param(str(p.name), p.opts[0], tuple(p.opts), bad)
    return Param(str(p.name), None, (p.human_readable_name,), bad)


def click_commands(s: Sweep) -> list[Command]:
    out = []

    def walk(group: click.Group, path: tuple[str, ...]) -> None:
        for name, cmd in sorted(group.commands.items()):
            at = (*path, name)
            if isinstance(cmd, click.Group) and cmd.commands:
                walk(cmd, at)
            elif at not in LEFT_OUT:
                found = [_click_param(p, s) for p in cmd.params]
                spelling = {str(p.name): (p.opts[0] if isinstance(p, click.Option) else None,
                                          isinstance(p, click.Option) and p.is_flag) for p in cmd.params}
                out.append(Command(at, tuple(p for p in found if p is not None),
                                   tuple(str(p.name) for p in cmd.params if p.required), spelling))
    walk(cli, ())
    root = tuple(p for p in (_click_param(p, s) for p in cli.params) if p is not None)
    return [replace(c, root=root) if c.path == ("node", "list") else c for c in out]


def _argparse_bad(a: argparse.Action, s: Sweep) -> tuple[str, ...] | None:
    if a.choices:
        return ("bogus", "", LONG, NUL)
    kind = getattr(a.type, "__qualname__", "")
    if kind.startswith("seconds."):
        return ("-1", "nan", "inf", "99999999999999999999", "abc", "", NUL)  # 0 is a valid delay
    if kind.startswith("amount."):
        return ("-1", "0", "nan", "inf", "99999999999999999999", "abc", "", NUL)
    if kind.startswith("count."):
        return ("-1", "0", "99999999999999999999", "abc", "1.5", "", NUL)
    if kind == "directory":
        return ("a" * 5000, f"{s.file}/x", str(s.file), NUL)
    return None  # free text: the controller's to refuse


def argparse_commands(s: Sweep) -> list[Command]:
    parsers: list[tuple[tuple[str, ...], argparse.ArgumentParser]] = [(("swarm",), swarm_parser())]
    for action in agent_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers += [(("agent", name), sub) for name, sub in action.choices.items()]
    out = []
    for path, parser in parsers:
        found, spelling = [], {}
        for a in parser._actions:
            if not a.option_strings:
                continue
            spelling[a.dest] = (a.option_strings[0], a.nargs == 0)
            bad = _argparse_bad(a, s) if a.nargs != 0 else None
            if bad is not None:
                found.append(Param(a.dest, a.option_strings[0], tuple(a.option_strings), bad))
        out.append(Command(path, tuple(found), tuple(a.dest for a in parser._actions if a.required), spelling))
    return out


# -- one invocation --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    param: Param
    value: str


def _argv(command: Command, values: dict[str, str], root: dict[str, str]) -> tuple[str, ...]:
    """The command line: the operator CLI's own options, the command's words, then each of its
    parameters with a value ("" for a flag)."""
    words = [w for name, value in root.items() for w in (ROOT_SPELLING[name][0], value)]
    words += command.path
    for name, value in values.items():
        flag, is_flag = command.spelling[name]
        words += [value] if flag is None else [flag] if is_flag else [flag, value]
    return tuple(words)


def cases(command: Command, s: Sweep) -> list[Case]:
    missing = [r for r in command.required if r not in baseline(s, command.path, 0)]
    assert not missing, f"outpost {' '.join(command.path)}: no baseline value for required {missing}"
    out = []
    for is_root, swept in ((False, command.params), (True, command.root)):
        for p in swept:
            for value in p.bad:
                values = baseline(s, command.path, len(out))
                root = {"config_path": values.pop("config_path")} if "config_path" in values else {}
                (root if is_root else values)[p.name] = value
                out.append(Case(_argv(command, values, root), p, value))
    return out


def refused_by_the_parser(argv: tuple[str, ...]) -> bool:
    """Whether ``outpost ARGV`` is refused as its command line is parsed, before any command's code
    runs: click's contexts made down to the command (what ``cli.main`` does, less the callbacks), or
    argparse's ``parse_args`` for ``outpost agent`` and ``outpost swarm``."""
    words = list(argv)
    if words[:1] in (["agent"], ["swarm"]):
        parser = agent_parser() if words[0] == "agent" else swarm_parser()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                parser.parse_args(words[1:])
            except SystemExit:
                return True
        return False
    try:
        command: click.Command = cli
        ctx = cli.make_context("outpost", words)
        while isinstance(command, click.Group):
            name, found, rest = command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
            assert name is not None and found is not None
            command, ctx = found, found.make_context(name, rest, parent=ctx)
    except click.UsageError:
        return True
    return False


def run(case: Case, s: Sweep, *, as_process: bool = False) -> tuple[int, str, str]:
    """A case in this process when its parser refuses it (or it holds a NUL), else (or when
    ``as_process``) as a real ``outpost`` process."""
    if "\x00" in "".join(case.argv) or (not as_process and refused_by_the_parser(case.argv)):
        return _in_process(case.argv)
    try:
        proc = subprocess.run([*OUTPOST, *case.argv], env=s.cluster.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=CASE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        return -1, str(exc.stdout or ""), f"still running after {CASE_TIMEOUT} s: the value was taken"
    return proc.returncode, proc.stdout, proc.stderr


def _in_process(argv: tuple[str, ...]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    sigterm = signal.getsignal(signal.SIGTERM)  # entry.main sets its own for `agent run` and `swarm`
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = entry.main(list(argv))
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        except Exception as exc:  # noqa: BLE001 - an exception out of the CLI is what a traceback is
            return 1, out.getvalue(), f"{err.getvalue()}Traceback (in process): {exc!r}"
        finally:
            signal.signal(signal.SIGTERM, sigterm)
    return code, out.getvalue(), err.getvalue()


def problems(case: Case, code: int, out: str, err: str) -> list[str]:
    found = []
    if code == 0:
        found.append("exit status 0: the value was taken")
    if "Traceback" in out or "Traceback" in err:
        found.append("a traceback")
    lines = error_lines(err)
    if len(lines) != 1:
        found.append(f"{len(lines)} error lines, not one")
    elif not any(name in lines[0] for name in case.param.names):
        found.append(f"the error does not name {'/'.join(case.param.names)}")
    return found


def _shown(text: str) -> str:
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= 300 else text[:150] + f" ...({len(text)} chars)... " + text[-100:]


@pytest.fixture(autouse=True)
def _quiet_grpc_in_process(monkeypatch: pytest.MonkeyPatch, sweep: Sweep) -> None:
    """The in-process cases see the environment the processes see (entry.main sets a default)."""
    monkeypatch.setenv("GRPC_VERBOSITY", "ERROR")
    monkeypatch.setenv("OUTPOST_CONFIG", str(sweep.cluster.config))


def _commands(s: Sweep) -> list[Command]:
    return click_commands(s) + argparse_commands(s)


def test_the_sweep_covers_every_command_and_option(sweep: Sweep) -> None:
    commands = {c.path: c for c in _commands(sweep)}
    assert ("command", "send") in commands and ("agent", "run") in commands and ("swarm",) in commands
    assert ("events",) in commands and ("controller", "serve") in commands and ("command", "output") not in commands
    send = {p.flag for p in commands[("command", "send")].params}
    assert {"--timeout-seconds", "--max-concurrency", "--max-errors", "--document", "--comment", "--output"} <= send
    assert {p.flag for p in commands[("node", "list")].root} == {"--config", "--log-level"}
    assert sum(len(cases(c, sweep)) for c in commands.values()) > 300


COMMAND_IDS = [" ".join(p) for p in [
    ("activation", "create"), ("activation", "delete"), ("activation", "list"), ("agent-release", "delete"),
    ("agent-release", "list"), ("agent-release", "publish"), ("audit", "export"),
    ("audit", "list"), ("audit", "verify"), ("baseline", "create"), ("baseline", "delete"), ("baseline", "list"),
    ("baseline", "show"), ("baseline", "update"), ("command", "cancel"), ("command", "get"),
    ("command", "invocations"), ("command", "list"),
    ("compliance", "list"), ("compliance", "show"), ("content", "delete"), ("content", "list"), ("content", "put"),
    ("command", "logs"), ("command", "send"), ("command", "show"), ("command", "wait"), ("controller", "init"),
    ("controller", "serve"), ("controller", "recover-operator"), ("controller", "rotate-master-key"),
    ("controller", "rotate-signing-key"), ("document", "create"), ("document", "delete"), ("document", "list"),
    ("document", "list-versions"),
    ("document", "set-default"), ("document", "show"), ("document", "update"), ("events",), ("group", "create"),
    ("group", "delete"), ("group", "list"), ("group", "show"), ("node", "deregister"), ("node", "list"),
    ("node", "tag"), ("node", "untag"), ("operator", "create"), ("operator", "list"), ("operator", "renew"),
    ("operator", "revoke"), ("operator", "show"), ("playbook", "apply"), ("plugin", "list"), ("plugin", "show"),
    ("policy", "attach"), ("policy", "create"), ("policy", "delete"), ("policy", "detach"), ("policy", "list"),
    ("policy", "show"), ("policy", "simulate"), ("policy", "update"), ("agent", "enroll"), ("agent", "run"),
    ("swarm",), ("parameter", "delete"), ("parameter", "get"), ("parameter", "list"), ("parameter", "put"),
    ("ssm", "cancel-command"), ("ssm", "describe-document"), ("ssm", "describe-instance-information"),
    ("ssm", "get-command-invocation"), ("ssm", "list-command-invocations"), ("ssm", "list-commands"),
    ("ssm", "list-documents"), ("ssm", "send-command"), ("ssm", "wait", "command-executed"),
    ("ssm", "list-document-versions"), ("ssm", "delete-document"), ("ssm", "update-document-default-version")]]


def test_every_command_is_in_the_list_below(sweep: Sweep) -> None:
    """The per-command tests are parametrized by name; the walk decides which commands exist."""
    assert sorted(" ".join(c.path) for c in _commands(sweep)) == sorted(COMMAND_IDS)


@pytest.mark.parametrize("name", COMMAND_IDS)
def test_bad_values_get_one_line_naming_the_option(sweep: Sweep, name: str) -> None:
    (command,) = [c for c in _commands(sweep) if " ".join(c.path) == name]
    todo = cases(command, sweep)
    # a real process for what the parser takes and for the first case that can be one; the rest (the
    # parser's refusals, the NULs) in this process, one at a time, while those processes run
    in_process = [c for c in todo if "\x00" in "".join(c.argv) or refused_by_the_parser(c.argv)]
    processes = [c for c in todo if c not in in_process]
    processes += [c for c in in_process if "\x00" not in "".join(c.argv)][:1]
    assert processes, f"outpost {name}: no case runs as a process"
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        running = pool.map(lambda case: (case, "process", run(case, sweep, as_process=True)), processes)
        results = [(case, "in process", _in_process(case.argv)) for case in in_process]
        results += list(running)
    failures = []
    for case, how, (code, out, err) in results:
        found = problems(case, code, out, err)
        if found:
            failures.append(f"outpost {_shown(' '.join(case.argv))} ({how})\n  {'; '.join(found)}\n  exit {code}\n"
                            f"  stderr: {_shown(err)}\n  stdout: {_shown(out)}")
    assert not failures, f"{len(failures)} of {len(results)} bad values:\n" + "\n".join(failures)
