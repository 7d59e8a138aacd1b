"""Fuzz: stored SSM documents (controller/documents/): parsing (JSON or YAML), parameter declarations
and values, ``{{ }}`` substitution and rendering into the document to sign. Whatever the content and
the values given, the result is a document (whose canonical bytes parse back to it) or a
DocumentError or InputError naming where."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.documents.expand import RUN_DOCUMENT, expand, run_document_step
from controller.documents.parameters import ParamType, parse_parameter_specs, resolve_values
from controller.documents.placeholders import interpolate
from controller.documents.ssmdoc import parse_command_document, render
from plugins.powershell.plugin import PowerShellPlugin
from plugins.sdk.errors import DocumentError, InputError, OutpostError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire.document import Document, Step, document_from_bytes
from plugins.shell.plugin import ShellPlugin
from tests.fuzz.budget import cases
from tests.fuzz.strategies import (
    dump_yaml,
    dumps,
    finite_json,
    json_values,
    mutated,
    odd_text,
    text,
    unicode_text,
    utf8,
)

REGISTRY = PluginRegistry([ShellPlugin(), PowerShellPlugin()])
PARAM = st.from_regex(r"[A-Za-z0-9_]{1,8}", fullmatch=True)
PATTERNS = ("^[a-z]+$", r"\d{1,3}", "(", "[", "a{2,1}", "(?P<x>a)(?P=x)", r"\p{L}", "", ".*", "(?i)ab|c")
ACTIONS = ("aws:runShellScript", "shell", "aws:runPowerShellScript", "powershell", RUN_DOCUMENT, "nope")


_COUNT = st.one_of(st.integers(min_value=0, max_value=5), json_values(2))
DECLARATION = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from([t.value for t in ParamType]), text)},
    optional={"description": text, "default": st.one_of(json_values(4), st.lists(text, max_size=3)),
              "allowedValues": st.lists(text, max_size=3), "allowedPattern": st.sampled_from(PATTERNS),
              "minItems": _COUNT, "maxItems": _COUNT, "minChars": _COUNT, "maxChars": _COUNT,
              "interpolationType": st.sampled_from(["ENV_VAR", "TEXT", "env_var", ""]),
              "secret": st.booleans(), "displayType": text})
_REF = st.sampled_from(["{{ p0 }}", "{{p1}}", "{{ P_2 }}", "{{ undeclared }}", "{{ ssm:/x }}", "{{ .State }}"])
_LINE = st.lists(st.one_of(_REF, text), max_size=3).map("".join)
_FLOW = st.dictionaries(st.sampled_from(["onFailure", "onSuccess", "finallyStep", "timeoutSeconds"]),
                        st.one_of(st.sampled_from(["exit", "successAndExit", "continue"]), st.booleans(),
                                  st.integers(-1, 10 ** 6)), max_size=2)
_INPUTS = {
    "aws:runShellScript": st.fixed_dictionaries({"runCommand": st.lists(_LINE, max_size=3)}),
    "shell": st.fixed_dictionaries({"cmd": _LINE, "env": st.dictionaries(PARAM, _LINE, max_size=2)}),
    "aws:runPowerShellScript": st.fixed_dictionaries({"runCommand": st.lists(_LINE, max_size=3)}),
    "powershell": st.fixed_dictionaries({"script": _LINE}),
    RUN_DOCUMENT: st.fixed_dictionaries({"documentType": st.just("SSMDocument"), "documentPath": text,
                                         "documentParameters": st.dictionaries(PARAM, st.one_of(_LINE, st.lists(_LINE)),
                                                                               max_size=2)}),
    "nope": st.dictionaries(text, _LINE, max_size=2),
}
_STEP = st.sampled_from(ACTIONS).flatmap(lambda action: st.fixed_dictionaries(
    {"action": st.just(action), "inputs": _INPUTS[action]},
    optional={"precondition": st.fixed_dictionaries({"StringEquals": st.lists(st.one_of(
        st.sampled_from(["platformType", "Linux", "Windows"]), _REF, text), min_size=2, max_size=2)})}))


@st.composite
def command_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A schema 2.2 document as `document create` takes it: parameters p0, p1 and P_2 declared (or
    not) and referred to (or not) from steps of the installed actions, with SSM's shared inputs at
    step level or in the inputs."""
    params = {name: draw(DECLARATION) for name in ("p0", "p1", "P_2") if draw(st.booleans())}
    steps = []
    for i, step in enumerate(draw(st.lists(_STEP, min_size=1, max_size=3))):
        for key, value in draw(_FLOW).items():
            (step["inputs"] if draw(st.booleans()) else step)[key] = value
        steps.append({"name": f"s{i}", **step})
    return {"schemaVersion": draw(st.sampled_from(["2.2", 2.2])), "description": draw(text),
            "parameters": params, "mainSteps": steps}


@st.composite
def contents(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """A document's content as stored: JSON or YAML of a (mutated) document, or of anything."""
    value = draw(st.one_of(mutated(command_documents()), json_values()))
    fmt = draw(st.sampled_from([None, "JSON", "YAML", "json", "XML"]))
    if draw(st.booleans()):
        return utf8(dumps(value, draw(st.booleans()))), fmt
    return utf8(dump_yaml(value, draw(st.booleans()))), fmt


def given_values(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Values as SendCommand carries them (a list of strings a name), and some that are not."""
    value = st.one_of(st.lists(odd_text, max_size=3), st.sampled_from([["1"], ["true"], ['{"a": "b"}'],
                                                                        ['[{"a": 1}]'], ["-" + "9" * 30]]))
    return st.dictionaries(st.sampled_from([*names, "x"]) if names else PARAM, st.one_of(value, json_values(2)),
                           max_size=4)


def _round_trip(doc: Document) -> None:
    canonical = doc.canonical_bytes()
    again = document_from_bytes(canonical)
    assert again.canonical_bytes() == canonical


@cases(3_000)
@given(contents(), st.data())
def test_any_content_parses_and_renders_or_says_why(content: tuple[bytes, str | None], data: st.DataObject) -> None:
    try:
        doc = parse_command_document(*content)
    except DocumentError:
        return
    given_ = data.draw(given_values([p.name for p in doc.parameters]))
    try:
        rendered = render(doc, given_, REGISTRY)
    except (InputError, DocumentError):
        return
    _round_trip(rendered)


@cases(200_000)
@given(st.binary(max_size=256), st.sampled_from([None, "JSON", "YAML"]))
def test_any_bytes(data: bytes, fmt: str | None) -> None:
    try:
        parse_command_document(data, fmt)
    except DocumentError:
        pass


@cases(10_000)
@given(st.one_of(st.dictionaries(PARAM, DECLARATION, max_size=4), json_values()), st.data())
def test_parameter_declarations_and_values(raw: Any, data: st.DataObject) -> None:
    try:
        specs = parse_parameter_specs(raw, "document.parameters")
    except DocumentError:
        return
    try:
        values = resolve_values(specs, data.draw(given_values([s.name for s in specs])))
    except InputError:
        return
    refs = st.sampled_from([s.name for s in specs] or ["x"]).map(lambda n: f"{{{{{n}}}}}")
    template = data.draw(st.lists(st.one_of(refs, odd_text), max_size=4).map("".join))
    try:
        interpolate(template, values, specs, lambda name: f"${{{name}}}", where="inputs")
        interpolate(template, values, specs, None, where="precondition")
    except InputError:
        pass


_VALUES = st.dictionaries(PARAM, st.lists(unicode_text()).map(tuple))


def _renders(stored: Mapping[str, Document]):  # noqa: ANN202 - the catalogue's render, from a dict
    async def render_(name: str, version: str, params: Mapping[str, tuple[str, ...]]) -> Document:
        if name not in stored:
            raise DocumentError(f"no document named {name!r}")
        return stored[name]
    return render_


@cases(2_000)
@given(st.lists(st.one_of(st.builds(run_document_step, st.sampled_from(["a", "b"]), st.sampled_from(["doc", "x"]),
                                    st.sampled_from(["", "1"]), _VALUES,
                                    st.booleans()),
                          st.builds(Step, st.sampled_from(["c", "d"]), st.sampled_from([RUN_DOCUMENT, "shell"]),
                                    st.dictionaries(unicode_text(), finite_json(3), max_size=3))), max_size=3))
def test_run_document_steps_expand_or_say_why(steps: list[Step]) -> None:
    inner = Document((Step("x", "shell", {"cmd": "true"}),), environment={"OUTPOST_A": "1"})
    try:
        out = asyncio.run(expand(Document(tuple(steps)), _renders({"doc": inner})))
    except InputError:
        return
    assert RUN_DOCUMENT not in {s.action for s in out.steps}
    assert isinstance(out, Document) and not isinstance(out, OutpostError)
