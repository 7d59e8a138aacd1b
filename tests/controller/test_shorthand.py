"""controller/shorthand.py: --parameters as the AWS CLI takes them, pasted from SSM scripts.
Command lines in, parameters out."""
from __future__ import annotations

import pytest

from controller.cli.commands import parse_parameters
from plugins.sdk.errors import InputError


@pytest.mark.parametrize(("items", "expected"), [
    (("commands=echo a",), {"commands": ("echo a",)}),
    # a token without = is one more value of the name before it, as the AWS CLI reads a list
    (("commands=echo a,echo b",), {"commands": ("echo a", "echo b")}),
    (("commands=echo a,b,executionTimeout=60",), {"commands": ("echo a", "b"), "executionTimeout": ("60",)}),
    # the list shorthand, quoted or not
    (('commands=["echo a","echo b"]',), {"commands": ("echo a", "echo b")}),
    (("commands=[echo a,echo b]",), {"commands": ("echo a", "echo b")}),
    # commas inside a value: quotes, or a backslash
    (("commands=\"awk -F, '{print $1}' f\"",), {"commands": ("awk -F, '{print $1}' f",)}),
    (("commands=sed 's/a\\,b/c/' f",), {"commands": ("sed 's/a,b/c/' f",)}),
    (('commands=["sed \'s/a,b/c/\' f","echo done"]',), {"commands": ("sed 's/a,b/c/' f", "echo done")}),
    # the AWS CLI's JSON
    (('{"commands": ["echo a", "echo b"], "executionTimeout": "60"}',),
     {"commands": ("echo a", "echo b"), "executionTimeout": ("60",)}),
    (('{"commands": "uptime", "flag": true}',), {"commands": ("uptime",), "flag": ("true",)}),
    # repeated options add values, as before
    (("a=1", "a=2"), {"a": ("1", "2")}),
    (("a=x=y",), {"a": ("x=y",)}),
    # quotes and brackets inside a value are the script's: only a value's first character opens one
    (('commands=if [ "$n" -ne 2 ] && [ "$n" -ne 4 ]; then exit 0; fi',),
     {"commands": ('if [ "$n" -ne 2 ] && [ "$n" -ne 4 ]; then exit 0; fi',)}),
    (("commands=[ -f /etc/x ] && echo yes",), {"commands": ("[ -f /etc/x ] && echo yes",)}),
    (('commands=[ "$n" -ne 2 ] && [ "$n" -ne 4 ]',), {"commands": ('[ "$n" -ne 2 ] && [ "$n" -ne 4 ]',)}),
    (("commands=echo \"it's\"",), {"commands": ("echo \"it's\"",)}),
    (("commands=n=$(cat f || echo 0)",), {"commands": ("n=$(cat f || echo 0)",)}),
    # a value in braces (a StringMap written as JSON) keeps its commas
    (('env={"A":"1","B":"2"}',), {"env": ('{"A":"1","B":"2"}',)}),
])
def test_parameters_as_the_aws_cli_takes_them(items: tuple[str, ...], expected: dict) -> None:
    assert parse_parameters(items) == expected


@pytest.mark.parametrize(("items", "message"), [
    (("nope",), "expected NAME=VALUE, got 'nope'"),
    (('commands="echo a',), "a quote is not closed"),
    (("commands=[a,b",), "a bracket is not closed"),
    (("{not json",), "not valid JSON"),
    (('["a"]',), "expected NAME=VALUE"),
    (('{"commands": {"a": 1}}',), "expected a string or a list of strings"),
])
def test_bad_parameters_are_one_line_naming_the_option(items: tuple[str, ...], message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_parameters(items)
    assert info.value.where.startswith("--parameters") and "\n" not in str(info.value)
