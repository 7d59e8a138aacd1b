"""agent.args: the agent's and the swarm's option values, refused by argparse with the option named."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from agent.args import amount, count, directory, seconds


@pytest.mark.parametrize(("parse", "text", "message"), [
    (seconds(), "nan", "must be more than 0 and at most 86400, got 'nan'"),
    (seconds(), "0", "must be more than 0 and at most 86400, got '0'"),
    (seconds(), "1e20", "must be more than 0 and at most 86400, got '1e20'"),
    (seconds(60, zero=True), "-0.5", "must be 0 and at most 60, got '-0.5'"),
    (count(1, 1000), "99999999999999999999", "must be 1 to 1000, got '99999999999999999999'"),
    (count(1, 1000), "1.5", "expected a whole number, got '1.5'"),
    (amount(1024), "inf", "must be more than 0 and at most 1024, got 'inf'"),
    (directory, "a\x00", "contains a NUL character, which no command line, environment variable or database text "
                         "can carry"),
])
def test_bad_values(parse: object, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse(text)  # type: ignore[operator]
    assert str(info.value) == message


def test_good_values(tmp_path: Path) -> None:
    assert seconds(60, zero=True)("0") == 0.0 and seconds()("30") == 30.0
    assert count(1, 1000)("5") == 5 and amount(1024)("16") == 16.0
    assert directory(str(tmp_path / "new")) == tmp_path / "new"
    (tmp_path / "file").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match="is a file, not a directory"):
        directory(str(tmp_path / "file" / "state"))


def test_the_option_is_named_in_the_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main

    with pytest.raises(SystemExit) as info:
        main(["run", "--state-dir", "/tmp", "--heartbeat-seconds", "nan"])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == ("outpost agent run: error: argument --heartbeat-seconds: "
                                                        "must be more than 0 and at most 86400, got 'nan'")
