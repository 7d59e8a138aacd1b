"""controller.documents.expand: a document's aws:runDocument steps become the steps of the stored
documents they name, rendered with their parameters; errors name the step."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from controller.documents.expand import RUN_DOCUMENT, expand, run_document_step, runs_documents
from plugins.sdk.errors import DocumentError, InputError
from plugins.sdk.wire.document import MAX_DOCUMENT_BYTES, Document, OnFailure, Step

SHELL = Step("runShellScript", "shell", {"cmd": "echo hi"}, on_failure=OnFailure.EXIT)


class Stored:
    """The catalogue as expand sees it: documents by name, rendered with the given parameters."""

    def __init__(self, docs: Mapping[str, Document]) -> None:
        self.docs = docs
        self.asked: list[tuple[str, str, dict[str, tuple[str, ...]]]] = []

    async def __call__(self, name: str, version: str, given: Mapping[str, tuple[str, ...]]) -> Document:
        self.asked.append((name, version, dict(given)))
        if name not in self.docs:
            raise DocumentError(f"document {name!r} does not exist")
        return self.docs[name]


def _expand(doc: Document, stored: Stored) -> Document:
    return asyncio.run(expand(doc, stored))


def test_a_document_without_such_steps_is_itself() -> None:
    doc = Document((SHELL,), "play")
    assert _expand(doc, Stored({})) is doc
    assert not runs_documents(doc.canonical_bytes())


def test_each_step_becomes_the_named_document_s_steps_with_the_parameters_given() -> None:
    inner = Document((SHELL, Step("check", "shell", {"cmd": "true"})), "inner",
                     environment={"OUTPOST_TOKEN": "s3"}, secret_names=("OUTPOST_TOKEN",))
    stored = Stored({"Restart": inner})
    before = Step("drain", "shell", {"cmd": "echo drain"})
    ref = run_document_step("restart", "Restart", "2", {"service": ("nginx",)}, ignore_errors=True)
    doc = Document((before, ref), "rolling")
    assert runs_documents(doc.canonical_bytes())
    out = _expand(doc, stored)
    assert stored.asked == [("Restart", "2", {"service": ("nginx",)})]
    assert [(s.name, s.action, s.ignore_errors) for s in out.steps] == [
        ("drain", "shell", False), ("restart.runShellScript", "shell", True), ("restart.check", "shell", True)]
    assert out.steps[1].on_failure is OnFailure.EXIT  # the stored step keeps its own semantics
    assert (out.description, dict(out.environment), out.secret_names) == (
        "rolling", {"OUTPOST_TOKEN": "s3"}, ("OUTPOST_TOKEN",))


@pytest.mark.parametrize(("inputs", "where", "message"), [
    ({"documentType": "LocalPath", "documentPath": "x"}, "mainSteps[0].inputs.documentType", "only SSMDocument"),
    ({"documentPath": ""}, "mainSteps[0].inputs.documentPath", "expected the name of a stored document"),
    ({"documentPath": "x", "sourceInfo": "{}"}, "mainSteps[0].inputs.sourceInfo", "unsupported input"),
    ({"documentPath": "x", "documentParameters": ["a"]}, "mainSteps[0].inputs.documentParameters",
     "expected a mapping"),
    ({"documentPath": "x", "documentParameters": {"n": [1]}}, "mainSteps[0].inputs.documentParameters.n",
     "expected a string or a list of strings"),
    ({"documentPath": "Missing"}, "mainSteps[0].inputs.documentPath", "Missing: document 'Missing' does not exist"),
])
def test_a_bad_reference_is_refused_naming_the_step(inputs: dict, where: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        _expand(Document((Step("ref", RUN_DOCUMENT, inputs),), "p"), Stored({"x": Document((SHELL,))}))
    assert info.value.where == where and message in info.value.message


def test_two_documents_setting_one_variable_differently_are_refused() -> None:
    a = Document((SHELL,), environment={"OUTPOST_X": "1"})
    b = Document((SHELL,), environment={"OUTPOST_X": "2"})
    doc = Document((run_document_step("a", "A", "", {}, False), run_document_step("b", "B", "", {}, False)))
    with pytest.raises(InputError, match="OUTPOST_X is set differently"):
        _expand(doc, Stored({"A": a, "B": b}))


def test_the_expanded_document_keeps_the_size_limit() -> None:
    big = Document(tuple(Step(f"s{i}", "shell", {"cmd": "x" * 1000}) for i in range(40)))
    doc = Document(tuple(run_document_step(f"r{i}", "Big", "", {}, False) for i in range(2)))
    with pytest.raises(InputError, match=f"the limit is {MAX_DOCUMENT_BYTES}"):
        _expand(doc, Stored({"Big": big}))
