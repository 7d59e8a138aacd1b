"""Stored SSM command documents (schema 2.2, 2.0 and 1.2, YAML or JSON: what ``outpost document create``
takes) and their rendering, with parameter values, into the Document the controller signs.

Schema 2.0 is 2.2 without preconditions and shared inputs (SSM's agent reads both with one parser and
honours preconditions from 2.2 on); schema 1.2's ``runtimeConfig`` becomes steps (schema12.py). Every
document renders to a schema 2.2 Document: the agent runs one form.

Field names are SSM's. ``onFailure``, ``onSuccess`` and ``finallyStep`` are SSM "shared inputs",
written inside ``inputs``; they are taken out of the inputs (they may also be written at step
level). ``timeoutSeconds`` inside ``inputs`` stays there: it is the plugin's input (as for
aws:runShellScript); at step level it is Outpost's step timeout.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from controller.documents.envref import env_reference_for
from controller.documents.parameters import ParameterSpec, parse_parameter_specs, resolve_values
from controller.documents.placeholders import apply_to_inputs, check_references, environment_for, interpolate
from controller.documents.schema12 import check_document_keys, steps_12
from controller.documents.ssmref import NO_STORE, References
from controller.documents.yamlload import NestingError, NestingLimitedLoader
from plugins.sdk.errors import DocumentError, InputError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.limits import (
    MAX_NESTING,
    NumberTooLong,
    bounded_int,
    check_json_tree,
    check_tree,
    nesting_problem,
    timeout_problem,
)
from plugins.sdk.schema import JsonValue, inputs_to_json, kind_of
from plugins.sdk.wire.document import (
    LONE_SURROGATE,
    MAX_DOCUMENT_BYTES,
    PLATFORM_TYPE,
    SCHEMA_VERSION,
    Document,
    OnFailure,
    Precondition,
    Step,
    check_precondition,
    lone_surrogate,
    parse_flow,
    parse_precondition,
)

STEP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
DOCUMENT_KEYS = ("schemaVersion", "description", "parameters", "mainSteps")
STEP_KEYS = ("action", "name", "inputs", "precondition", "onFailure", "onSuccess", "finallyStep", "timeoutSeconds")
SHARED_INPUTS = ("onFailure", "onSuccess", "finallyStep")
SCHEMA_VERSIONS = ("1.2", "2.0", SCHEMA_VERSION)
NOT_IN_20 = "schema 2.0 has no {} (they are schema 2.2's: write schemaVersion: '2.2')"
MAX_YAML_NODES = 200_000  # a 64 KB document has far fewer; only alias expansion gets here
# What PyYAML's constructors raise, unwrapped, for a scalar that its tag (written, or resolved from
# how the scalar looks) cannot read: int("x"), a timestamp that is no date, a boolean that is none.
CONSTRUCTOR_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


@dataclass(frozen=True)
class StepTemplate:
    """A step as stored: inputs and precondition operands keep their ``{{ }}`` references."""
    name: str
    action: str
    inputs: Mapping[str, JsonValue] = field(default_factory=dict)
    precondition: tuple[str, str] | None = None
    on_failure: OnFailure = OnFailure.CONTINUE
    on_success_exit: bool = False
    finally_step: bool = False
    timeout_seconds: int | None = None
    where: str = ""  # a schema 1.2 step's place (runtimeConfig.PLUGIN.properties[N]), which holds its inputs


@dataclass(frozen=True)
class CommandDocument:
    schema_version: str
    description: str
    parameters: tuple[ParameterSpec, ...]
    steps: tuple[StepTemplate, ...]
    lines: Mapping[str, int] = field(default_factory=lambda: types.MappingProxyType({}), compare=False,
                                     repr=False)  # YAML: path -> line (not part of what the document is)

    def with_line(self, exc: DocumentError | InputError) -> DocumentError | InputError:
        """``exc`` (naming ``document.mainSteps[1]...`` or, an InputError, ``mainSteps[1]...``) with
        the line of the nearest place it names that the YAML had, as parsing errors have it."""
        if isinstance(exc, InputError):
            lined = _with_line(DocumentError(f"document.{exc.where}: {exc.message}"), self.lines)
            tail = str(lined)[len(f"document.{exc.where}: {exc.message}"):]
            return InputError(exc.where, exc.message + tail) if tail else exc
        return _with_line(exc, self.lines)


# -- reading -----------------------------------------------------------------------------------

def _load_json(text: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise DocumentError(f"document: duplicate key {k!r}")
            out[k] = v
        return out

    def constant(name: str) -> Any:
        raise DocumentError(f"document is not valid JSON: {name} is not a number")

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_int=bounded_int)
    except NumberTooLong as exc:
        raise DocumentError(f"document: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DocumentError(f"document is not valid JSON: {exc}") from None
    except RecursionError:  # deeper than the parser goes, so past the limit too
        raise DocumentError(f"document: {nesting_problem()}") from None
    try:
        check_json_tree(data, text, "document")
    except InputError as exc:
        raise DocumentError(str(exc)) from None
    return data


def _index(node: yaml.Node, path: str, lines: dict[str, int], budget: list[int], level: int = 1) -> None:
    """Record the line of every key and item under ``path``; refuse duplicate keys, alias bombs, and
    aliases that nest the document past the limit (the text itself was composed within it)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise DocumentError("document is too large once its YAML aliases are expanded")
    if level > MAX_NESTING and isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        raise DocumentError(f"{path}: {nesting_problem()} (line {node.start_mark.line + 1})")
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            at = f"{path}.{name}"
            if name in seen and name != "<<":
                raise DocumentError(f"{at}: duplicate key (line {key.start_mark.line + 1})")
            seen.add(name)
            lines.setdefault(at, key.start_mark.line + 1)
            _index(value, at, lines, budget, level + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault(f"{path}[{i}]", item.start_mark.line + 1)
            _index(item, f"{path}[{i}]", lines, budget, level + 1)


def _reader_error(exc: yaml.reader.ReaderError, text: str) -> DocumentError:
    character = chr(exc.character) if isinstance(exc.character, int) else exc.character
    line = text.count("\n", 0, max(exc.position, 0)) + 1
    return DocumentError(f"document is not valid YAML: character {character!r} is not allowed ({exc.reason}) "
                         f"(line {line})")


def _load_yaml(text: str, lines: dict[str, int]) -> Any:
    try:  # the reader refuses control characters (but tab and newlines) as it is made
        loader = NestingLimitedLoader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _index(node, "document", lines, [MAX_YAML_NODES])
        data = loader.construct_document(node)
    except NestingError as exc:
        raise DocumentError(f"document: {exc.problem} (line {exc.problem_mark.line + 1})") from None
    except CONSTRUCTOR_ERRORS as exc:  # PyYAML's own: `!!int x`, `!!timestamp`, a 13th month (`2001-13-01`)
        why = f" ({exc})" if isinstance(exc, ValueError) else ""
        raise DocumentError(f"document is not valid YAML: a value does not read as its type (!!int, !!timestamp...)"
                            f"{why}") from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise DocumentError(f"document is not valid YAML: {getattr(exc, 'problem', None) or exc}{where}") from None
    finally:
        loader.dispose()
    try:
        check_tree(data, "document")  # a NUL (YAML's "\\0" or "\\x00"), anywhere
    except InputError as exc:
        raise _with_line(DocumentError(str(exc)), lines) from None
    return data


def _check_json(value: Any, where: str) -> None:
    """YAML can hold what JSON cannot (dates, non-string keys, .nan): refuse it."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise DocumentError(f"{where}: keys must be strings, got {kind_of(k)} {k!r}")
            _check_json(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(v, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise DocumentError(f"{where}: {value} is not a JSON number")
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        raise DocumentError(f"{where}: expected a string, number, boolean, list or mapping, got "
                            f"{type(value).__name__} (quote it)")


def _with_line(exc: DocumentError, lines: Mapping[str, int]) -> DocumentError:
    message = str(exc)
    path = message.split(": ", 1)[0]
    while path.startswith("document.") and path not in lines:
        shorter = re.sub(r"(\.[^.\[\]]*|\[\d+\])$", "", path)
        if shorter == path:
            break
        path = shorter
    if path in lines and "(line " not in message:
        return DocumentError(f"{message} (line {lines[path]})")
    return exc


def parse_command_document(content: bytes, fmt: str | None = None) -> CommandDocument:
    """Parse and validate a stored command document (``fmt``: "YAML", "JSON" or None to detect).

    Raises DocumentError naming the path (``document.mainSteps[1].onFailure: ...``), with the
    line for YAML.
    """
    if len(content) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"document content is {len(content)} bytes; the limit is {MAX_DOCUMENT_BYTES}")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentError("document is not valid UTF-8") from None
    kind = (fmt or ("JSON" if text.lstrip().startswith("{") else "YAML")).upper()
    if kind not in ("JSON", "YAML"):
        raise DocumentError(f"document format {fmt!r} is not supported (supported: JSON, YAML)")
    lines: dict[str, int] = {}
    data = _load_json(text) if kind == "JSON" else _load_yaml(text, lines)
    try:
        if (at := lone_surrogate(data, "document")) is not None:  # a "\ud800" escape, in JSON or YAML
            raise DocumentError(f"{at}: {LONE_SURROGATE}")
        _check_json(data, "document")
        return dataclasses.replace(_document(data), lines=types.MappingProxyType(lines))
    except DocumentError as exc:
        raise _with_line(exc, lines) from None


def _document(data: Any) -> CommandDocument:
    if not isinstance(data, dict):
        raise DocumentError(f"document: expected a mapping, got {kind_of(data)}")
    if "schemaVersion" not in data:
        raise DocumentError("document: missing 'schemaVersion'")
    version = data["schemaVersion"]
    if isinstance(version, float) and str(version) in SCHEMA_VERSIONS:  # YAML's unquoted ``schemaVersion: 2.2``
        version = str(version)
    if version not in SCHEMA_VERSIONS:
        raise DocumentError(f"document.schemaVersion: unsupported {version!r} "
                            f"(supported: {', '.join(SCHEMA_VERSIONS)})")
    if version == "1.2":
        check_document_keys(data)
    unknown = sorted(set(data) - set(DOCUMENT_KEYS))
    if unknown and version != "1.2":
        why = "runtimeConfig is schema 1.2's" if unknown[0] == "runtimeConfig" else "unknown key"
        raise DocumentError(f"document.{unknown[0]}: {why} (known: {', '.join(DOCUMENT_KEYS)})")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise DocumentError(f"document.description: expected a string, got {kind_of(description)}")
    specs = parse_parameter_specs(data.get("parameters") or {}, "document.parameters")
    if version == "1.2":
        return CommandDocument(version, description, specs, tuple(_steps_12(data["runtimeConfig"], specs)))
    raw_steps = data.get("mainSteps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise DocumentError("document.mainSteps: expected a list of at least one step")
    steps: list[StepTemplate] = []
    for i, raw in enumerate(raw_steps):
        step = _step(raw, f"document.mainSteps[{i}]", specs, last=i == len(raw_steps) - 1, version=version)
        if any(s.name == step.name for s in steps):
            raise DocumentError(f"document.mainSteps[{i}].name: duplicate step name {step.name!r}")
        steps.append(step)
    return CommandDocument(version, description, specs, tuple(steps))


def _steps_12(runtime_config: Any, specs: Sequence[ParameterSpec]) -> list[StepTemplate]:
    steps = []
    for s in steps_12(runtime_config):
        check_references(s.inputs, specs, f"document.{s.where}")
        steps.append(StepTemplate(s.name, s.action, s.inputs, where=s.where))
    return steps


def _step(raw: Any, where: str, specs: Sequence[ParameterSpec], *, last: bool, version: str) -> StepTemplate:
    if not isinstance(raw, dict):
        raise DocumentError(f"{where}: expected a mapping, got {kind_of(raw)}")
    unknown = sorted(set(raw) - set(STEP_KEYS))
    if unknown:
        raise DocumentError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(STEP_KEYS)})")
    for key in ("name", "action"):
        if key not in raw:
            raise DocumentError(f"{where}: missing {key!r}")
    name, action = raw["name"], raw["action"]
    if not isinstance(name, str) or not STEP_NAME.match(name):
        raise DocumentError(f"{where}.name: expected 1 to 128 letters, digits, '.', '_' or '-', got {name!r}")
    if not isinstance(action, str) or not action:
        raise DocumentError(f"{where}.action: expected a non-empty string, got {action!r}")
    if not isinstance(raw.get("inputs", {}), dict):
        raise DocumentError(f"{where}.inputs: expected a mapping, got {kind_of(raw['inputs'])}")
    inputs = dict(raw.get("inputs", {}))  # a copy: shared inputs are taken out of it
    if version == "2.0":  # SSM's agent honours neither before 2.2
        for key in ("precondition", *SHARED_INPUTS):
            if key in raw or key in inputs:
                at = f"{where}.{key}" if key in raw else f"{where}.inputs.{key}"
                raise DocumentError(f"{at}: " + NOT_IN_20.format("preconditions" if key == "precondition"
                                                                  else "shared inputs"))
    flow: dict[str, Any] = {}
    for key in SHARED_INPUTS:  # SSM's shared inputs, inside inputs or at step level
        if key in inputs and key in raw:
            raise DocumentError(f"{where}.{key}: given both at step level and in inputs")
        loc, source = (f"{where}.inputs", inputs) if key in inputs else (where, raw)
        if key in source:
            flow[key] = source.pop(key) if source is inputs else source[key]
            parse_flow({key: flow[key]}, loc)
            if key == "finallyStep" and flow[key] and not last:
                raise DocumentError(f"{loc}.finallyStep: only the last step can be a finally step")
    on_failure, on_success_exit, finally_step = parse_flow(flow, where)
    timeout = raw.get("timeoutSeconds")
    if timeout is not None and (problem := timeout_problem(timeout)):
        raise DocumentError(f"{where}.timeoutSeconds: {problem}")
    precondition = None
    if "precondition" in raw:
        precondition = parse_precondition(raw["precondition"], f"{where}.precondition")
        for operand in precondition:
            check_references(operand, specs, f"{where}.precondition", in_precondition=True)
        if "{{" not in "".join(precondition):
            check_precondition(*precondition, f"{where}.precondition")
    check_references(inputs, specs, f"{where}.inputs")
    return StepTemplate(name, action, inputs, precondition, on_failure, on_success_exit, finally_step, timeout)


def check_actions(doc: CommandDocument, registry: PluginRegistry) -> None:
    """Refuse a document whose steps name an action no installed plugin provides."""
    for i, step in enumerate(doc.steps):
        if not registry.has_action(step.action):
            at = f"runtimeConfig.{step.action}" if step.where else f"mainSteps[{i}].action"
            raise DocumentError(f"document.{at}: unknown action {step.action!r} "
                                f"(known: {', '.join(registry.actions())})")


# -- rendering ---------------------------------------------------------------------------------

def _precondition(raw: tuple[str, str], values: Mapping[str, Any], specs: Sequence[ParameterSpec],
                  where: str, references: References) -> Precondition:
    left, right = (interpolate(op, values, specs, None, where=where, references=references) for op in raw)
    for template, operand in zip(raw, (left, right), strict=True):
        if operand == PLATFORM_TYPE and template != PLATFORM_TYPE:
            raise InputError(where, f"a parameter's value cannot be {PLATFORM_TYPE!r}")
    check_precondition(left, right, where)
    return Precondition(left, right)


def render(doc: CommandDocument, given: Mapping[str, Sequence[str]], registry: PluginRegistry, *,
           max_bytes: int = MAX_DOCUMENT_BYTES, references: References = NO_STORE) -> Document:
    """The Document to sign: parameters resolved and applied, ``{{ssm:NAME}}`` references filled
    from ``references`` (ssmref.py), each step's inputs validated and normalised by its plugin's
    schema. InputError for parameters and inputs, DocumentError when the result exceeds
    ``max_bytes`` (SSM's 64 KB, runtime parameters included)."""
    values = resolve_values(doc.parameters, given, references=references)
    return render_values(doc, values, registry, max_bytes=max_bytes, references=references)


def render_values(doc: CommandDocument, values: Mapping[str, Any], registry: PluginRegistry, *,
                  max_bytes: int = MAX_DOCUMENT_BYTES, references: References = NO_STORE) -> Document:
    """:func:`render` with every parameter's typed value already resolved (parameters.py)."""
    specs = doc.parameters
    environment, secret_names = environment_for(values, specs)
    steps = []
    for i, t in enumerate(doc.steps):
        where = t.where or f"mainSteps[{i}]"
        if not registry.has_action(t.action):
            at = f"runtimeConfig.{t.action}" if t.where else f"{where}.action"
            raise InputError(at, f"unknown action {t.action!r} (known: {', '.join(registry.actions())})")
        at = t.where or f"{where}.inputs"  # a 1.2 step's inputs are its properties entry
        raw = apply_to_inputs(dict(t.inputs), values, specs, env_reference_for(t.action), where=at,
                              references=references)
        inputs = inputs_to_json(registry.bind(t.action, raw, at).given)
        precondition = None
        if t.precondition is not None:
            precondition = _precondition(t.precondition, values, specs, f"{where}.precondition", references)
        steps.append(Step(t.name, t.action, inputs, t.timeout_seconds, False, precondition, t.on_failure,
                          t.on_success_exit, t.finally_step))
    document = Document(tuple(steps), doc.description, SCHEMA_VERSION, types.MappingProxyType(environment),
                        secret_names)
    size = len(document.canonical_bytes())
    if size > max_bytes:
        raise DocumentError(f"document is {size} bytes once parameters are applied; the limit is {max_bytes}")
    return document
