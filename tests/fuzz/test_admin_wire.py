"""Fuzz: the admin side's conversions (controller/wire.py, controller/server/, controller/cli/render.py).
A request of any content is refused with the project's errors (CommandRejected, DocumentError,
InputError; a reason for groups and tags) or becomes a command request; an answer of any content
becomes the CLI's row or a WireError; typed targets, tags, parameters and facts go to protobuf and
back unchanged."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.cli import render
from controller.dispatch.request import CheckedDocuments, CommandRejected, CommandRequest, check_request
from controller.model import Tag, TagFilter, Targets, parse_limit
from controller.server.convert import parameters_from_pb, parameters_to_pb
from controller.server.group_api import GROUP_NAME_PATTERN, group_targets_from_pb, group_targets_problem, tags_problem
from controller.wire import tags_from_pb, tags_to_pb, targets_from_pb, targets_to_pb
from outpost.v1 import outpost_pb2 as pb
from plugins.powershell.plugin import PowerShellPlugin
from plugins.sdk.errors import DocumentError, InputError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.wire import convert as wire
from plugins.shell.plugin import ShellPlugin
from tests.fuzz.budget import cases
from tests.fuzz.pbgen import messages
from tests.fuzz.strategies import unicode_text
from tests.fuzz.test_agent_wire import facts
from tests.fuzz.test_wire_document import documents

REGISTRY = PluginRegistry([ShellPlugin(), PowerShellPlugin()])
words = unicode_text(10)
_FILTERS = st.lists(st.builds(TagFilter, words, st.lists(words, max_size=3).map(tuple)), max_size=3).map(tuple)
TARGETS = st.builds(Targets, st.lists(words, max_size=3).map(tuple), _FILTERS, words, st.booleans())
SHELL_DOCUMENT = documents().map(lambda d: d.canonical_bytes())


@cases(5_000)
@given(TARGETS, st.lists(st.builds(Tag, words, words), max_size=3).map(tuple),
       st.dictionaries(words, st.lists(words, max_size=3).map(tuple), max_size=3), facts)
def test_typed_records_round_trip(targets: Targets, tags: tuple[Tag, ...], params: dict[str, tuple[str, ...]],
                                  facts_: object) -> None:
    assert targets_from_pb(pb.Targets.FromString(targets_to_pb(targets).SerializeToString())) == targets
    assert tags_from_pb(list(pb.CreateActivationRequest(tags=tags_to_pb(tags)).tags)) == tags
    assert parameters_from_pb(parameters_to_pb(params)) == params
    assert wire.facts_from_pb(pb.Facts.FromString(wire.facts_to_pb(facts_).SerializeToString())) == facts_


@cases(5_000)
@given(messages(pb.SendCommandRequest.DESCRIPTOR), st.one_of(st.none(), SHELL_DOCUMENT))
def test_any_send_command_request(request: pb.SendCommandRequest, document: bytes | None) -> None:
    """What SendCommand checks before anything is stored or sent, as admin_service and the dispatcher
    check it (an inline document: a random one, or a well-formed one)."""
    if document is not None:
        request.document = document
    documents_ = CheckedDocuments(REGISTRY)
    try:
        req = CommandRequest(document=request.document, targets=targets_from_pb(request.targets),
                             comment=request.comment, requested_by="op", document_name=request.document_name,
                             timeout_seconds=request.timeout_seconds,
                             max_concurrency=request.max_concurrency or "50", max_errors=request.max_errors or "0")
        check_request(req, documents_)
        parse_limit(req.max_concurrency, 10, where="max_concurrency", minimum=1)
        parse_limit(req.max_errors, 10, where="max_errors", minimum=0)
    except (CommandRejected, DocumentError, InputError):
        pass


@cases(8_000)
@given(messages(pb.PutGroupRequest.DESCRIPTOR), messages(pb.TagNodeRequest.DESCRIPTOR))
def test_any_group_or_tag_request(put: pb.PutGroupRequest, tag: pb.TagNodeRequest) -> None:
    GROUP_NAME_PATTERN.match(put.group.name)
    if group_targets_problem(put.group.targets) is None:
        targets = group_targets_from_pb(put.group.targets)
        assert not targets.empty and len(set(targets.node_ids)) == len(targets.node_ids)
    tags_problem(list(tag.tags), list(tag.remove))


ROWS = {
    pb.Node: render.node_row, pb.CommandInfo: render.command_row, pb.Invocation: render.invocation_row,
    pb.StepView: render.step_row, pb.Activation: render.activation_row, pb.StepOutput: render.output_row,
    pb.StatusEvent: render.status_event_row, pb.Group: render.group_row, pb.DocumentInfo: render.document_row,
}


@cases(10_000)
@given(st.one_of(*(messages(cls.DESCRIPTOR) for cls in ROWS)))
def test_any_answer_renders_or_says_why(answer: object) -> None:
    """What the CLI prints of the controller's answers: a row, or WireError for an enum it does not know."""
    try:
        row = ROWS[type(answer)](answer)
    except wire.WireError:
        return
    render.print_json(row)
