"""ENV_VAR references reach a shell as one word, wherever the reference stands: run by a real bash
with values that would split or glob (issue 18: `touch /dir/{{ name }}` with `ok.txt /elsewhere`)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller.documents.envref import Quote, env_reference_for, quoting_at_end

VALUES = ["ok.txt /elsewhere", "*", "a'b\"c", "$(touch /tmp/outpost-pwned)", "  spaced  ", ""]

# (the line with its {{p}}, what printf prints for the value v)
CASES = [
    ("printf '<%s>' {{p}}", "<{v}>"),
    ("printf '<%s>' \"x {{p}} y\"", "<x {v} y>"),
    ("printf '<%s>' 'x {{p}} y'", "<x {v} y>"),
    ("printf '<%s>' \"$(printf %s {{p}})\"", "<{v}>"),
    ("printf '<%s>' \"`printf %s {{p}}`\"", "<{v}>"),
    ("printf '<%s>' \\\"{{p}}", "<\"{v}>"),
    ("printf '<%s>' \"a\\\"{{p}}\"", "<a\"{v}>"),
    ("printf '<%s>' 'it''s {{p}}'", "<its {v}>"),
]


def render(line: str) -> str:
    at = line.index("{{p}}")
    return line[:at] + env_reference_for("aws:runShellScript")("OUTPOST_P", line[:at]) + line[at + 5:]


@pytest.mark.parametrize("line,expected", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("value", VALUES)
def test_a_value_is_one_word_wherever_the_reference_stands(line: str, expected: str, value: str,
                                                           tmp_path: Path) -> None:
    out = subprocess.run(["bash", "-c", render(line)], cwd=tmp_path, env={"OUTPOST_P": value, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout == expected.format(v=value)  # one argument: one <...>, the value as it is
    assert not list(tmp_path.iterdir())  # nothing globbed, nothing run from the value


@pytest.mark.parametrize("before,quoting", [
    ("echo ", Quote.NONE), ("echo '", Quote.SINGLE), ('echo "', Quote.DOUBLE), ("echo 'a' \"", Quote.DOUBLE),
    ('echo "$(cat ', Quote.NONE), ('echo "$(cat \'', Quote.SINGLE), ('echo "$(cat x) ', Quote.DOUBLE),
    ('echo "`cat ', Quote.NONE), ('echo "`cat x` ', Quote.DOUBLE), ("echo \\'", Quote.NONE),
    ('echo "\\"', Quote.DOUBLE), ("echo '\\'", Quote.NONE),
])
def test_the_quoting_before_a_reference(before: str, quoting: Quote) -> None:
    assert quoting_at_end(before) is quoting


def test_powershell_gets_its_own_reference() -> None:
    for action in ("aws:runPowerShellScript", "powershell"):
        assert env_reference_for(action)("OUTPOST_X", "Write-Output '") == "$env:OUTPOST_X"
