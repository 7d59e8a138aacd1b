"""Fuzz: what operators type: ``--parameters k=v,k=v``, ``--targets Key=..,Values=..``, limits
(``10%``) and page tokens. Any text ends in a value or an InputError (a ValueError for a page token,
which the servicer answers INVALID_ARGUMENT); what parses goes into its protobuf and back unchanged."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.cli.commands import parse_parameters
from controller.fleet.targets import parse_targets
from controller.model import parse_limit
from controller.server import page_token
from controller.server.convert import parameters_from_pb, parameters_to_pb
from controller.wire import targets_from_pb, targets_to_pb
from plugins.sdk.errors import InputError
from tests.fuzz.budget import cases
from tests.fuzz.strategies import odd_text

_PARAM_TOKEN = st.sampled_from(["=", ",", "a", "commands", " ", "=,", "==", "x=1", ",,", "\\,"])
PARAMETER_ITEM = st.lists(st.one_of(_PARAM_TOKEN, odd_text), max_size=6).map("".join)
_TARGET_TOKEN = st.sampled_from(["Key=", "Values=", "tag:", "Role", "InstanceIds", "resource-groups:Name",
                                 "tag-key", "*", ",", "=", " ", "mi-0123456789abcdef0", "web", "Key=tag:Role,Values="])
TARGET_ITEM = st.lists(st.one_of(_TARGET_TOKEN, _TARGET_TOKEN, odd_text), max_size=8).map("".join)


@cases(25_000)
@given(st.lists(PARAMETER_ITEM, max_size=3).map(tuple))
def test_parameters(items: tuple[str, ...]) -> None:
    try:
        params = parse_parameters(items)
    except InputError:
        return
    assert parameters_from_pb(parameters_to_pb(params)) == params  # as SendCommand carries them


@cases(25_000)
@given(st.lists(TARGET_ITEM, max_size=4))
def test_targets(items: list[str]) -> None:
    try:
        targets = parse_targets(items)
    except InputError:
        return
    assert targets_from_pb(targets_to_pb(targets)) == targets


@cases(30_000)
@given(odd_text, st.integers(min_value=0, max_value=10 ** 6), st.integers(min_value=0, max_value=1))
def test_limits(text_: str, targets: int, minimum: int) -> None:
    try:
        assert parse_limit(text_, targets, where="--max-errors", minimum=minimum) >= minimum
    except InputError:
        pass


@cases(40_000)
@given(st.one_of(odd_text, st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=",
                                   max_size=40)), st.text(max_size=30))
def test_page_tokens(token: str, key: str) -> None:
    try:
        page_token.decode(token)
    except ValueError:
        pass
    if key:
        assert page_token.decode(page_token.encode(key)) == key
