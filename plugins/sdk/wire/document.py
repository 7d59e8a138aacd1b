"""The command document: what a play compiles to, what the controller signs, what the agent runs.

Its wire form is canonical JSON (sorted keys, no spaces, UTF-8); the envelope carries the
sha256 of exactly those bytes. Optional fields are written only when they differ from their
default, so a document that uses none of them has the same bytes as before they existed.

Step flow control follows SSM's schema 2.2 "shared inputs":

- ``onFailure``: ``continue`` (default: the next step still runs, the invocation still ends
  Failed), ``exit`` (skip the remaining steps), ``successAndExit`` (skip the remaining steps and
  count this failure as a success).
- ``onSuccess: exit``: skip the remaining steps once this one succeeds.
- ``finallyStep: true``: the last step, which runs even after an exit (including exit codes
  168/169).
- ``precondition: {"StringEquals": [left, right]}``: the step runs only when both operands are
  equal; the operand ``platformType`` stands for the node's platform (Linux, MacOS, Windows).
- ``ignoreErrors`` (Ansible's): a failed step does not fail the invocation.
- ``checkMode: true`` (Ansible's ``--check``): the step only says what it would change, changing
  nothing; only a plugin that declares check mode runs it (the agent skips any other). An agent that
  predates the key refuses the whole document (unknown step keys are errors), so a check can never
  run for real.

``environment`` holds variables set for every step (parameters declared with
``interpolationType: ENV_VAR``); ``secretEnvironment`` names those whose values are secret:
masked in any display (:func:`masked_json`), scrubbed from output and logs by the agent.
"""
from __future__ import annotations

import enum
import hashlib
import json
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plugins.sdk.errors import DocumentError, InputError
from plugins.sdk.facts import Platform
from plugins.sdk.limits import BOUNDED_JSON, NumberTooLong, check_json_tree, nesting_problem, timeout_problem
from plugins.sdk.schema import JsonValue
from plugins.sdk.secrets import MASK

SCHEMA_VERSION = "2.2"
MAX_DOCUMENT_BYTES = 64 * 1024
PLATFORM_TYPE = "platformType"
PLATFORM_NAMES = tuple(p.value for p in Platform)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON's \u escapes can spell one; UTF-8 cannot carry it


class OnFailure(enum.Enum):
    EXIT = "exit"
    SUCCESS_AND_EXIT = "successAndExit"
    CONTINUE = "continue"


DEFAULT_EXECUTION_TIMEOUT_SECONDS = 3600  # a step's timeout when nothing sets one (SSM's executionTimeout)

@dataclass(frozen=True)
class Precondition:
    """``StringEquals: [left, right]`` after parameter substitution; only StringEquals exists."""
    left: str
    right: str
    operator: str = "StringEquals"

    def holds(self, platform: Platform) -> bool:
        """Whether the step runs on a node of ``platform``."""
        def value(operand: str) -> str:
            return platform.value if operand == PLATFORM_TYPE else operand
        return value(self.left) == value(self.right)

    def to_json(self) -> dict[str, JsonValue]:
        return {self.operator: [self.left, self.right]}


def check_precondition(left: str, right: str, where: str) -> None:
    """``platformType`` must be compared with a platform name (Linux, MacOS, Windows)."""
    if left == PLATFORM_TYPE and right == PLATFORM_TYPE:
        raise DocumentError(f"{where}: compares {PLATFORM_TYPE} with itself")
    for a, b in ((left, right), (right, left)):
        if a == PLATFORM_TYPE and b not in PLATFORM_NAMES:
            raise DocumentError(f"{where}: {PLATFORM_TYPE} can only equal one of "
                                f"{', '.join(PLATFORM_NAMES)}, got {b!r}")


@dataclass(frozen=True)
class Step:
    name: str
    action: str
    inputs: Mapping[str, JsonValue]
    timeout_seconds: int | None = None
    ignore_errors: bool = False
    precondition: Precondition | None = None
    on_failure: OnFailure = OnFailure.CONTINUE
    on_success_exit: bool = False
    finally_step: bool = False
    check_mode: bool = False

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {"name": self.name, "action": self.action, "inputs": dict(self.inputs)}
        if self.timeout_seconds is not None:
            out["timeoutSeconds"] = self.timeout_seconds
        if self.ignore_errors:
            out["ignoreErrors"] = True
        if self.precondition is not None:
            out["precondition"] = self.precondition.to_json()
        if self.on_failure is not OnFailure.CONTINUE:
            out["onFailure"] = self.on_failure.value
        if self.on_success_exit:
            out["onSuccess"] = "exit"
        if self.finally_step:
            out["finallyStep"] = True
        if self.check_mode:
            out["checkMode"] = True
        return out


def _no_environment() -> Mapping[str, str]:
    return types.MappingProxyType({})


@dataclass(frozen=True)
class Document:
    steps: tuple[Step, ...]
    description: str = ""
    schema_version: str = SCHEMA_VERSION
    environment: Mapping[str, str] = field(default_factory=_no_environment)
    secret_names: tuple[str, ...] = ()

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {"schemaVersion": self.schema_version, "description": self.description,
                                     "mainSteps": [s.to_json() for s in self.steps]}
        if self.environment:
            out["environment"] = dict(self.environment)
        if self.secret_names:
            out["secretEnvironment"] = list(self.secret_names)
        return out

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def sha256(self) -> bytes:
        return hashlib.sha256(self.canonical_bytes()).digest()

    def secret_values(self) -> tuple[str, ...]:
        """The values of the secret environment variables, for the agent's scrubber."""
        if not self.secret_names:  # most documents: on every step's path
            return ()
        return tuple(self.environment[n] for n in self.secret_names if n in self.environment)

    def __repr__(self) -> str:  # never print a secret value
        env = {k: (MASK if k in self.secret_names else v) for k, v in self.environment.items()}
        return (f"Document(steps={self.steps!r}, description={self.description!r}, "
                f"schema_version={self.schema_version!r}, environment={env!r}, "
                f"secret_names={self.secret_names!r})")


def masked_json(doc: Document) -> dict[str, JsonValue]:
    """The JSON form of ``doc`` with every secret environment value replaced by the mask."""
    out = doc.to_json()
    if doc.secret_names:
        out["environment"] = {k: (MASK if k in doc.secret_names else v) for k, v in doc.environment.items()}
    return out


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _req(obj: Mapping[str, Any], key: str, typ: type, where: str) -> Any:
    if key not in obj:
        raise DocumentError(f"{where}: missing {key!r}")
    value = obj[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise DocumentError(f"{where}.{key}: expected {typ.__name__}, got {type(value).__name__}")
    return value


STEP_KEYS = ("name", "action", "inputs", "timeoutSeconds", "ignoreErrors", "precondition", "onFailure",
             "onSuccess", "finallyStep", "checkMode")
ON_FAILURE_VALUES = ", ".join(o.value for o in OnFailure)


def parse_precondition(raw: Any, where: str) -> tuple[str, str]:
    """``{"StringEquals": [left, right]}`` -> ``(left, right)``; operands are not interpreted."""
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise DocumentError(f"{where}: expected {{\"StringEquals\": [left, right]}}")
    ((operator, operands),) = raw.items()
    if operator != "StringEquals":
        raise DocumentError(f"{where}: unsupported operator {operator!r} (supported: StringEquals)")
    if (not isinstance(operands, list) or len(operands) != 2
            or not all(isinstance(o, str) for o in operands)):
        raise DocumentError(f"{where}.StringEquals: expected a list of two strings")
    return operands[0], operands[1]


def parse_flow(raw: Mapping[str, Any], where: str) -> tuple[OnFailure, bool, bool]:
    """The shared inputs ``onFailure``, ``onSuccess`` and ``finallyStep`` found in ``raw``."""
    on_failure = raw.get("onFailure", OnFailure.CONTINUE.value)
    try:
        failure = OnFailure(on_failure)
    except (ValueError, TypeError):
        raise DocumentError(f"{where}.onFailure: expected one of {ON_FAILURE_VALUES}") from None
    on_success = raw.get("onSuccess")
    if on_success not in (None, "exit"):
        raise DocumentError(f"{where}.onSuccess: expected exit")
    finally_step = raw.get("finallyStep", False)
    if not isinstance(finally_step, bool):
        raise DocumentError(f"{where}.finallyStep: expected a boolean")
    return failure, on_success == "exit", finally_step


def _parse_step(raw: Any, where: str, last: bool, names: set[str]) -> Step:
    if not isinstance(raw, dict):
        raise DocumentError(f"{where}: expected an object")
    name = _req(raw, "name", str, where)
    if name in names:
        raise DocumentError(f"{where}.name: duplicate step name {name!r}")
    names.add(name)
    unknown = sorted(set(raw) - set(STEP_KEYS))
    if unknown:
        raise DocumentError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(STEP_KEYS)})")
    inputs = _req(raw, "inputs", dict, where)
    timeout = raw.get("timeoutSeconds")
    if timeout is not None and (problem := timeout_problem(timeout)):
        raise DocumentError(f"{where}.timeoutSeconds: {problem}")
    ignore = raw.get("ignoreErrors", False)
    if not isinstance(ignore, bool):
        raise DocumentError(f"{where}.ignoreErrors: expected a boolean")
    action = _req(raw, "action", str, where)
    precondition = None
    if "precondition" in raw:
        left, right = parse_precondition(raw["precondition"], f"{where}.precondition")
        check_precondition(left, right, f"{where}.precondition")
        precondition = Precondition(left, right)
    on_failure, on_success_exit, finally_step = parse_flow(raw, where)
    if finally_step and not last:
        raise DocumentError(f"{where}.finallyStep: only the last step can be a finally step")
    check_mode = raw.get("checkMode", False)
    if not isinstance(check_mode, bool):
        raise DocumentError(f"{where}.checkMode: expected a boolean")
    return Step(name, action, inputs, timeout, ignore, precondition, on_failure, on_success_exit, finally_step,
                check_mode)


def _parse_environment(obj: Mapping[str, Any]) -> tuple[Mapping[str, str], tuple[str, ...]]:
    env = obj.get("environment", {})
    if not isinstance(env, dict):
        raise DocumentError("document.environment: expected an object")
    for k, v in env.items():
        if not ENV_NAME.match(k):
            raise DocumentError(f"document.environment: {k!r} is not a valid environment variable name")
        if not isinstance(v, str):
            raise DocumentError(f"document.environment.{k}: expected a string")
    secret = obj.get("secretEnvironment", [])
    if not isinstance(secret, list):
        raise DocumentError("document.secretEnvironment: expected a list")
    for i, n in enumerate(secret):
        if not isinstance(n, str) or n not in env:
            raise DocumentError(f"document.secretEnvironment[{i}]: expected the name of an environment variable")
        if n in secret[:i]:
            raise DocumentError(f"document.secretEnvironment[{i}]: duplicate name {n!r}")
    return types.MappingProxyType(dict(env)), tuple(secret)


LONE_SURROGATE = "holds a lone surrogate (a \\uD800-\\uDFFF escape), which is no character"


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a code point that UTF-8 cannot carry (what a JSON or YAML escape, or
    Python's reading of command-line bytes that are not UTF-8, can make)."""
    return _LONE_SURROGATE.search(text) is not None


def lone_surrogate(value: Any, where: str) -> str | None:
    """Where in a parsed JSON value a string (or a key) holds a lone surrogate, or None. JSON spells
    one as ``"\\ud800"``; no UTF-8 text holds it, so such a document could never be hashed, signed or
    run. A walk without recursion: the value may be nested as deep as the parser allowed."""
    todo = [(where, value)]
    while todo:
        at, item = todo.pop()
        if isinstance(item, str) and _LONE_SURROGATE.search(item):
            return at
        if isinstance(item, dict):
            for key, v in reversed(item.items()):
                if isinstance(key, str) and _LONE_SURROGATE.search(key):  # YAML keys may be null or numbers
                    return f"{at} (a key)"
                todo.append((f"{at}.{key}", v))
        elif isinstance(item, list):
            todo.extend((f"{at}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


def document_from_bytes(data: bytes) -> Document:
    """Parse a document's canonical JSON. Structure only (with plugins/sdk/limits.py's bounds:
    nesting, NUL, step timeouts); inputs are checked by their plugin.

    Unknown keys inside a step are errors; unknown top-level keys are ignored.
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"document is {len(data)} bytes; the limit is {MAX_DOCUMENT_BYTES}")
    try:
        obj = BOUNDED_JSON.decode(data.decode())
        check_json_tree(obj, data, "document")  # nesting and NUL, refused by name
    except NumberTooLong as exc:
        raise DocumentError(f"document: {exc}") from None
    except RecursionError:  # deeper than the parser goes, so deeper than the limit too
        raise DocumentError(f"document: {nesting_problem()}") from None
    except InputError as exc:
        raise DocumentError(str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(f"document is not valid JSON: {exc}") from None
    if b"\\u" in data and (at := lone_surrogate(obj, "document")) is not None:
        raise DocumentError(f"{at}: {LONE_SURROGATE}")
    if not isinstance(obj, dict):
        raise DocumentError("document: expected a JSON object")
    version = _req(obj, "schemaVersion", str, "document")
    if version != SCHEMA_VERSION:
        raise DocumentError(f"document.schemaVersion: unsupported {version!r} (supported: {SCHEMA_VERSION})")
    raw_steps = _req(obj, "mainSteps", list, "document")
    steps = []
    names: set[str] = set()
    for i, raw in enumerate(raw_steps):
        steps.append(_parse_step(raw, f"document.mainSteps[{i}]", i == len(raw_steps) - 1, names))
    description = obj.get("description", "")
    if not isinstance(description, str):
        raise DocumentError("document.description: expected a string")
    environment, secret_names = _parse_environment(obj)
    return Document(tuple(steps), description, version, environment, secret_names)
