"""What the CLI parses of its options and shows of the controller's answers: ``--parameters`` and the
times of rows (controller/cli/commands.py, controller/cli/render.py)."""
from __future__ import annotations

import pytest

from controller.cli.commands import parse_parameters
from controller.cli.render import iso
from plugins.sdk.errors import InputError


def test_parameters() -> None:
    assert parse_parameters(("a=1,b=x=y", "a=2", " , ")) == {"a": ("1", "2"), "b": ("x=y",)}
    with pytest.raises(InputError, match=r"^--parameters: expected NAME=VALUE, got 'nope'$"):
        parse_parameters(("nope",))


def test_parameters_that_are_not_utf8() -> None:
    """Found by tests/fuzz: argv bytes that are not UTF-8 (lone surrogates in Python) went through to
    the request, whose encoding failed with a traceback."""
    with pytest.raises(InputError, match=r"^--parameters: 'name=caf\\udce9' is not UTF-8 text$"):
        parse_parameters(("name=caf\udce9",))


@pytest.mark.parametrize(("ms", "text"), [(0, ""), (1_700_000_000_000, "2023-11-14T22:13:20Z"),
                                          (-62135596800001, "-62135596800001 ms since 1970"),
                                          (2 ** 63 - 1, "9223372036854775807 ms since 1970")])
def test_times_far_off_show_as_they_came(ms: int, text: str) -> None:
    """Found by tests/fuzz: a time outside years 1..9999 (an agent's clock far off reports it) made
    `command show` fail with ValueError."""
    assert iso(ms) == text
