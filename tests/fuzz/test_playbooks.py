"""Fuzz: the playbook compiler (controller/compiler/): YAML text, ``-e`` extra vars and Jinja2
templates. Whatever the text, compiling ends in a plan or a PlaybookError naming file, line and
field; every play's document is one the agent parses back to the same bytes."""
from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.compiler import PlaybookError, TemplateError, compile_text, parse_extra_vars
from controller.compiler.template import Templar
from plugins.powershell.plugin import PowerShellPlugin
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import document_from_bytes
from plugins.shell.plugin import ShellPlugin
from tests.fuzz.budget import cases
from tests.fuzz.strategies import dump_yaml, json_values, mutated, odd_text, text

REGISTRY = PluginRegistry([ShellPlugin(), PowerShellPlugin()])
VAR = st.sampled_from(["env", "cmds", "who", "n", "flag", "loop", "undefined_one"])
TEMPLATE = st.lists(st.one_of(text, VAR.map(lambda v: f"{{{{ {v} }}}}"), VAR.map(lambda v: f"{{{{{v} | quote}}}}"),
                              st.sampled_from(["{{", "}}", "{{ 'lit' }}", "{{ x | nope }}", "{{ }}", "{{ \"a"])),
                    max_size=4).map("".join)
SCALAR = st.one_of(TEMPLATE, st.integers(), st.booleans(), st.floats(), st.none())
# A name that renders: plain text (most) or one defined variable, so that compiling gets past names.
NAME = st.one_of(st.from_regex(r"[\w .:-]{1,12}", fullmatch=True), st.from_regex(r"[\w .:-]{1,12}", fullmatch=True),
                 st.sampled_from(["{{ env }}", "run {{ who | quote }}"]), TEMPLATE)
VARS = st.fixed_dictionaries({"env": st.sampled_from(["prod", "a b", "{{ who }}"]), "who": text,
                              "cmds": st.lists(st.one_of(text, st.integers()), max_size=3), "n": st.integers(),
                              "flag": st.booleans()},
                             optional={"loop": st.just("{{ loop }}"), "bad": st.sampled_from([None, {"a": 1}])})
NODE_ID = st.one_of(st.from_regex(r"mi-[0-9a-f]{17}", fullmatch=True), st.sampled_from(["mi-0123456789abcdef0"]), text)
_TARGET_KEYS = {"node_ids": st.one_of(st.lists(NODE_ID, max_size=3), NODE_ID),
                "tags": st.dictionaries(st.one_of(st.sampled_from(["Role", "env", ""]), text),
                                        st.one_of(NAME, TEMPLATE, st.lists(TEMPLATE, max_size=3)), max_size=3),
                "group": st.one_of(NAME, SCALAR)}
TARGETS = st.sampled_from(sorted(_TARGET_KEYS)).flatmap(
    lambda key: st.fixed_dictionaries({key: _TARGET_KEYS[key]},
                                      optional={k: v for k, v in _TARGET_KEYS.items() if k != key}))
SHELL = st.one_of(TEMPLATE, st.fixed_dictionaries({"cmd": TEMPLATE}, optional={
    "chdir": TEMPLATE, "env": st.dictionaries(text, SCALAR, max_size=2), "timeout_seconds": SCALAR}))
TASK = st.one_of(
    st.fixed_dictionaries({"name": NAME, "shell": SHELL},
                          optional={"timeout": st.one_of(st.integers(-1, 10 ** 6), SCALAR),
                                    "ignore_errors": st.one_of(st.booleans(), SCALAR)}),
    st.fixed_dictionaries({"name": NAME, "aws:runShellScript": st.fixed_dictionaries(
        {"runCommand": st.one_of(TEMPLATE, st.lists(TEMPLATE, max_size=3))})}),
    st.fixed_dictionaries({"name": NAME, "powershell": TEMPLATE}),
    st.fixed_dictionaries({"name": NAME, "document": st.one_of(st.sampled_from(["AWS-RunShellScript:2", "x"]),
                                                                   TEMPLATE)},
                          optional={"parameters": st.dictionaries(text, st.one_of(TEMPLATE, st.lists(TEMPLATE)),
                                                                  max_size=2)}))
PLAY = st.fixed_dictionaries(
    {"name": NAME, "targets": TARGETS, "tasks": st.lists(TASK, min_size=1, max_size=3),
     "vars": st.one_of(VARS, VARS, st.dictionaries(VAR, st.one_of(SCALAR, st.lists(SCALAR, max_size=3)),
                                                   max_size=4))},
    optional={"max_concurrency": st.one_of(st.sampled_from(["10%", "5", "0", "101%", "1e3"]), SCALAR),
              "max_errors": st.one_of(st.sampled_from(["0", "50%", "-1"]), SCALAR)})
EXTRA = st.dictionaries(VAR, odd_text, max_size=2)


def _compile(text_: str, extra: dict[str, str]) -> None:
    try:
        plan = compile_text(text_, "site.yml", REGISTRY, extra)
    except PlaybookError:
        return
    for play in plan.plays:  # what is signed and sent is what the agent reads back
        canonical = play.document.canonical_bytes()
        assert document_from_bytes(canonical).canonical_bytes() == canonical


@cases(3_000)
@given(mutated(st.lists(PLAY, min_size=1, max_size=2), most=2), st.booleans(), EXTRA)
def test_playbooks_compile_or_say_where(value: Any, unicode: bool, extra: dict[str, str]) -> None:
    _compile(dump_yaml(value, unicode), extra)


# YAML's own syntax, in pieces: indentation, indicators, anchors and aliases, tags, flow collections.
_YAML_TOKEN = st.sampled_from(["\n", "\n  ", "\n    ", "- ", ": ", "? ", "&a ", "*a", "<<: *a", "!!str ", "!!binary ",
                               "!!set ", "!!timestamp ", "!x ", "[", "]", "{", "}", ", ", "|\n  ", ">-\n  ", "'", '"',
                               "# c\n", "---\n", "...\n", "%YAML 1.1\n", "name", "tasks", "targets", "shell",
                               "node_ids", "tags", "vars", "2001-01-01", "0x1F", ".nan", "~", "yes"])


@cases(8_000)
@given(st.lists(st.one_of(_YAML_TOKEN, text), max_size=30).map("".join), EXTRA)
def test_any_text(text_: str, extra: dict[str, str]) -> None:
    _compile(text_, extra)


@cases(25_000)
@given(st.lists(odd_text, max_size=4))
def test_extra_vars(items: list[str]) -> None:
    try:
        out = parse_extra_vars(items)
    except PlaybookError:
        return
    assert all("=" in i for i in items) and set(out) <= {i.partition("=")[0] for i in items}


@cases(15_000)
@given(TEMPLATE, st.dictionaries(VAR, st.one_of(TEMPLATE, st.integers(), st.booleans(), st.floats(),
                                                st.lists(st.one_of(TEMPLATE, st.integers()), max_size=3)
                                                .map(tuple)), max_size=5))
def test_templates_render_or_say_why(template: str, variables: dict[str, Any]) -> None:
    try:
        Templar(variables).render(template)
    except TemplateError:
        pass


@cases(3_000)
@given(st.lists(PLAY, min_size=1, max_size=2).map(lambda v: dump_yaml(v, True)), json_values(3))
def test_vars_of_any_shape(playbook: str, value: Any) -> None:
    _compile(playbook.replace("tasks:", "vars: " + dump_yaml(value, True).replace("\n", " ") + "\n  tasks:", 1), {})


@cases(500)
@given(st.integers(min_value=0, max_value=1500), st.sampled_from(["[", "- ", "{a: ", "[{a: ", "a:\n "]))
def test_deep_nesting(depth: int, opener: str) -> None:
    """Collections inside each other by the thousand: PyYAML's composer stops at Python's recursion
    limit, which the compiler reports (deeper than that is the input task's of issue 17)."""
    _compile(opener * depth if not opener.endswith(" ") or "\n" not in opener
             else "".join(f"{' ' * i}a:\n" for i in range(min(depth, 400))), {})


# Jinja2's syntax in pieces: delimiters, statements, operators, filters and tests (supported and
# refused), the sandbox's forbidden names and numbers that would build too much.
_JINJA_TOKEN = st.sampled_from(["{{", "}}", "{%", "%}", "{#", "#}", " ", "|", "x", "cmds", "n", "who", "loop",
                                ".", "[", "]", "(", ")", "'", '"', ",", "0", "10", "**", "*", "~", "+", "%", "/",
                                "for ", " in ", "if ", "endif", "endfor", "set ", "=", "macro ", "endmacro", " is ",
                                "not ", "defined", "default", "join", "quote", "to_json", "from_json", "regex_replace",
                                "map", "range", "__class__", "_x", "lookup", "random", "include ", "raw", "endraw",
                                "9999999", "true", "none", ":", "{", "}", "version", "combine", "flatten", "split"])


@cases(15_000)
@given(st.lists(_JINJA_TOKEN, max_size=25).map("".join),
       st.dictionaries(VAR, st.one_of(TEMPLATE, st.integers(), st.lists(st.integers(), max_size=3)), max_size=4))
def test_jinja_renders_or_says_why_in_one_line(template: str, variables: dict[str, Any]) -> None:
    templar = Templar(variables)
    for attempt in (templar.render, templar.condition):
        try:
            attempt(template)
        except TemplateError as exc:
            assert str(exc) and "\n" not in str(exc), repr(str(exc))
