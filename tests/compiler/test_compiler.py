"""Tests for the playbook compiler.

Data-driven: every ``cases/ok/*.yml`` compiles to the plan in the ``.json`` beside it, every
``cases/bad/*.yml`` fails with exactly the message in the ``.err`` beside it. A case's first
line may be ``# extra-vars: key=value ...`` (shell-quoted) to pass ``-e`` values.
``OUTPOST_UPDATE_GOLDEN=1`` rewrites the golden files from the current output: read the diff.
"""
from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from controller.compiler import (
    Plan,
    PlaybookError,
    compile_playbook,
    compile_text,
    parse_extra_vars,
)
from controller.compiler.plan import DocumentTask
from controller.model import TagFilter, Targets
from plugins.sdk.contract import API_VERSION, PluginSpec, RunContext, StepOutcome
from plugins.sdk.errors import InputError
from plugins.sdk.facts import Platform
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.schema import Alias, param
from plugins.sdk.wire.document import document_from_bytes

HERE = Path(__file__).parent
REPO = HERE.parents[1]
OK_CASES = sorted((HERE / "cases" / "ok").glob("*.yml"))
BAD_CASES = sorted((HERE / "cases" / "bad").glob("*.yml"))
UPDATE = os.environ.get("OUTPOST_UPDATE_GOLDEN") == "1"


# -- fake plugins: the shapes of the real shell plugin, nothing that runs ----------------------

@dataclass(frozen=True)
class FakeShellInputs:
    cmd: str = param("The script.", free_form=True)
    chdir: str | None = param("Directory to run in.", default=None)
    env: Mapping[str, str] = param("Extra environment.", default_factory=dict)


@dataclass(frozen=True)
class FakeRunShellScriptInputs:
    runCommand: tuple[str, ...] = param("The script's lines.")
    workingDirectory: str | None = param("Directory to run in.", default=None)


def _convert(inputs: FakeRunShellScriptInputs) -> FakeShellInputs:
    if not inputs.runCommand:
        raise InputError("runCommand", "needs at least one line")
    return FakeShellInputs(cmd="\n".join(inputs.runCommand), chdir=inputs.workingDirectory)


class FakeShell:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="shell", version="0.0.1", api=API_VERSION, summary="fake shell", inputs=FakeShellInputs,
        platforms=frozenset({Platform.LINUX}),
        aliases=(Alias("aws:runShellScript", FakeRunShellScriptInputs, _convert),))

    async def run(self, ctx: RunContext, inputs: Any) -> StepOutcome:  # pragma: no cover
        raise AssertionError("the compiler never runs anything")


@dataclass(frozen=True)
class FakeWaitInputs:
    seconds: int = param("How long.", minimum=1)


class FakeWait:
    spec: ClassVar[PluginSpec] = PluginSpec(
        name="wait", version="0.0.1", api=API_VERSION, summary="fake wait", inputs=FakeWaitInputs,
        platforms=frozenset({Platform.LINUX}))

    async def run(self, ctx: RunContext, inputs: Any) -> StepOutcome:  # pragma: no cover
        raise AssertionError("the compiler never runs anything")


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return PluginRegistry([FakeShell(), FakeWait()])


# -- golden cases -----------------------------------------------------------------------------

def plan_to_json(plan: Plan) -> list[dict[str, Any]]:
    out = []
    for p in plan.plays:
        row: dict[str, Any] = {"name": p.name, "source": p.source,
                               "targets": {"node_ids": list(p.targets.node_ids),
                                           "tags": {f.key: list(f.values) for f in p.targets.tags}},
                               "document": p.document.to_json()}
        if p.targets.group:
            row["targets"]["group"] = p.targets.group
        if (p.max_concurrency, p.max_errors) != ("50", "0"):
            row["max_concurrency"], row["max_errors"] = p.max_concurrency, p.max_errors
        refs = [t for t in p.tasks if isinstance(t, DocumentTask)]
        if refs:
            row["document_tasks"] = [{"name": t.name, "document": t.document, "version": t.version,
                                      "parameters": {k: list(v) for k, v in t.parameters.items()},
                                      "ignore_errors": t.ignore_errors, "source": t.source} for t in refs]
        out.append(row)
    return out


def case_extra_vars(text: str) -> dict[str, str]:
    first = text.split("\n", 1)[0]
    prefix = "# extra-vars:"
    return parse_extra_vars(shlex.split(first[len(prefix):])) if first.startswith(prefix) else {}


@pytest.mark.parametrize("case", OK_CASES, ids=lambda p: p.stem)
def test_ok_case(case: Path, registry: PluginRegistry) -> None:
    text = case.read_text()
    plan = compile_text(text, case.name, registry, case_extra_vars(text))
    got = json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False) + "\n"
    golden = case.with_suffix(".json")
    if UPDATE:
        golden.write_text(got)
    assert got == golden.read_text()
    for play in plan.plays:  # what the agent will parse back
        assert document_from_bytes(play.document.canonical_bytes()) == play.document


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda p: p.stem)
def test_bad_case(case: Path, registry: PluginRegistry) -> None:
    text = case.read_text()
    with pytest.raises(PlaybookError) as info:
        compile_text(text, case.name, registry, case_extra_vars(text))
    golden = case.with_suffix(".err")
    if UPDATE:
        golden.write_text(str(info.value) + "\n")
    assert str(info.value) == golden.read_text().rstrip("\n")
    assert str(info.value).startswith(f"{case.name}:")


def test_every_case_has_its_golden_file() -> None:
    assert len(OK_CASES) >= 4 and len(BAD_CASES) >= 20
    for case in OK_CASES:
        assert case.with_suffix(".json").exists(), case
    for case in BAD_CASES:
        assert case.with_suffix(".err").exists(), case


# -- the shipped playbooks --------------------------------------------------------------------

def test_hello_playbook(registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    plan = compile_playbook("playbooks/hello.yml", registry)
    assert plan.path == "playbooks/hello.yml"
    (play,) = plan.plays
    assert play.name == "hello" and play.document.description == "hello"
    assert play.source == "playbooks/hello.yml:4"
    assert play.targets == Targets(tags=(TagFilter("Environment", ("dev",)),))
    steps = play.document.steps
    assert [s.action for s in steps] == ["shell"] * len(steps)
    assert steps[0].inputs["cmd"] == 'echo "hello from $(hostname)"'
    overridden = compile_playbook(REPO / "playbooks" / "hello.yml", registry, {"greeting": "howdy"})
    assert overridden.plays[0].document.steps[0].inputs["cmd"] == 'echo "howdy from $(hostname)"'


def test_ssm_style_playbook_stays_ssm(registry: PluginRegistry) -> None:
    plan = compile_playbook(REPO / "playbooks" / "ssm-style.yml", registry)
    steps = plan.plays[0].document.steps
    assert {s.action for s in steps} == {"aws:runShellScript"}
    assert steps[0].inputs == {"runCommand": ['echo "host: $(hostname)"', "uname -a", "df -h /"],
                               "workingDirectory": "/tmp"}
    assert steps[1].inputs["runCommand"] == ["test -d /etc/outpost"] and steps[1].ignore_errors


@pytest.mark.parametrize("name", ["hello.yml", "ssm-style.yml"])
def test_shipped_playbooks_compile_with_the_real_shell_plugin(name: str) -> None:
    try:
        from plugins.shell.plugin import ShellPlugin
    except ImportError as exc:  # pragma: no cover - the plugin is optional for these tests
        pytest.skip(f"shell plugin not importable: {exc}")
    plan = compile_playbook(REPO / "playbooks" / name, PluginRegistry([ShellPlugin()]))
    assert plan.plays and all(p.document.steps for p in plan.plays)


def test_unreadable_playbook(registry: PluginRegistry, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(PlaybookError, match=r"nope\.yml: cannot read the playbook: No such file"):
        compile_playbook(missing, registry)
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"- name: x\n  \xff\n")
    with pytest.raises(PlaybookError, match=r"bin\.yml:2: the playbook is not UTF-8 text"):
        compile_playbook(binary, registry)


def test_a_nul_in_the_path_is_an_error(registry: PluginRegistry) -> None:
    with pytest.raises(PlaybookError, match=r"cannot read the playbook: the path contains a NUL character"):
        compile_playbook("site\x00.yml", registry)


@pytest.mark.parametrize(("text", "line"), [
    ("- " + "[" * 30_000 + "]" * 30_000 + "\n", 1),  # as deep as the reviewer's, flow style
    ("".join(f"{'  ' * i}- k{i}:\n" for i in range(100)), 33),  # block style: a list and a mapping a line
    ("- &a0 [x]\n" + "".join(f"- &a{i} [*a{i - 1}]\n" for i in range(1, 80)), 1),
], ids=["30,000 deep", "block style", "through aliases"])
def test_nesting_past_64_levels_is_refused_with_its_line(registry: PluginRegistry, text: str, line: int) -> None:
    with pytest.raises(PlaybookError) as info:
        compile_text(text, "deep.yml", registry)
    assert str(info.value).startswith(f"deep.yml:{line}: ") and "nested deeper than 64 levels" in str(info.value)


# -- extra vars -------------------------------------------------------------------------------

def test_parse_extra_vars() -> None:
    assert parse_extra_vars(["env=prod", "msg=a=b", "empty=", "env=dev"]) == {
        "env": "dev", "msg": "a=b", "empty": ""}
    with pytest.raises(PlaybookError, match=r"^extra var 'prod': expected key=value$"):
        parse_extra_vars(["env=dev", "prod"])
    with pytest.raises(PlaybookError, match=r"^extra var '1x=2': '1x' is not a valid variable name"):
        parse_extra_vars(["1x=2"])


def test_compile_text_checks_extra_var_names(registry: PluginRegistry) -> None:
    text = (HERE / "cases" / "ok" / "minimal.yml").read_text()
    with pytest.raises(PlaybookError, match=r"^extra var 'a-b': not a valid variable name"):
        compile_text(text, "x.yml", registry, {"a-b": "1"})
    with pytest.raises(PlaybookError, match=r"^extra var 'a': contains a NUL character"):
        compile_text(text, "x.yml", registry, {"a": "x\x00"})


def test_compile_text_refuses_extra_vars_that_are_not_utf8(registry: PluginRegistry) -> None:
    """Found by tests/fuzz: ``-e`` bytes that are not UTF-8 reach Python as lone surrogates, which
    made the play's document fail to encode (UnicodeEncodeError) instead of a message."""
    text = (HERE / "cases" / "ok" / "minimal.yml").read_text()
    with pytest.raises(PlaybookError, match=r"^extra var 'who': not UTF-8 text \(holds a lone surrogate"):
        compile_text(text, "x.yml", registry, {"who": "caf\udce9"})
