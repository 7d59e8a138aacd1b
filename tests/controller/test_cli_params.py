"""controller.cli.params and the CLI's error line: what each kind of option takes (the end-to-end
sweep, tests/e2e/test_bad_input_sweep.py, feeds every option its bad values through real processes)."""
from __future__ import annotations

from pathlib import Path

import click
import pytest

from controller.cli import params
from controller.cli.app import MAX_ERROR_CHARS, one_line


def _fails(kind: click.ParamType, value: str) -> str:
    with pytest.raises(click.BadParameter) as info:
        kind.convert(value, None, None)
    return info.value.message


@pytest.mark.parametrize(("kind", "value", "message"), [
    (params.DURATION, "31d", "must be 1s to 30d, got '31d'"),
    (params.DURATION, "0s", "must be 1s to 30d, got '0s'"),
    (params.DURATION, "99999999999999999999d", "expected a duration such as 90s, 30m, 24h or 7d, got "
                                              "'99999999999999999999d'"),
    (params.CONCURRENCY, "0", "must be at least 1, got 0"),
    (params.ERRORS, "101%", "a percentage must be 0%..100%, got 101%"),
    (params.INTERVAL, "nan", "must be more than 0 and at most 86400 seconds, got 'nan'"),
    (params.INTERVAL, "inf", "must be more than 0 and at most 86400 seconds, got 'inf'"),
    (params.ADDRESS, "127.0.0.1:0", "expected HOST:PORT with a port 1 to 65535, got '127.0.0.1:0'"),
    (params.DOCUMENT_REF, "Deploy:0", "expected $DEFAULT, $LATEST or a version number (1 to 2147483647), got '0'"),
    (params.DOCUMENT_VERSION, "2147483648", "expected $DEFAULT, $LATEST or a version number (1 to 2147483647), "
                                            "got '2147483648'"),
    (params.SHA256, "abc", "expected 64 hex digits, got 'abc'"),
    (params.HOSTNAME, "a b", "expected a DNS name or an IP address, got 'a b'"),
    (params.DATABASE_URL, "mysql://x", "expected sqlite:///PATH or postgresql+psycopg://..., got 'mysql://x'"),
    (params.COMMENT, "x" * 101, "at most 100 characters, got 101"),
    (params.ID, "a\x00b", "contains a NUL character, which no command line, environment variable or database text "
                          "can carry"),
    (params.existing_file(), "a\x00b", "contains a NUL character, which no command line, environment variable or "
                                       "database text can carry"),
])
def test_bad_values_say_why(kind: click.ParamType, value: str, message: str) -> None:
    assert _fails(kind, value) == message


def test_good_values_pass() -> None:
    assert params.DURATION.convert("30d", None, None) == 2_592_000
    assert params.CONCURRENCY.convert("10%", None, None) == "10%"
    assert params.DOCUMENT_REF.convert("Outpost-RunShellScript:$LATEST", None, None) == "Outpost-RunShellScript:$LATEST"
    assert params.HOSTNAME.convert("::1", None, None) == "::1"
    assert params.INTERVAL.convert("0.5", None, None) == 0.5


def test_a_directory_to_be_made_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    kind = params.FilePath(file_okay=False, path_type=Path)
    assert _fails(kind, str(tmp_path / "f" / "new")).endswith("is a file, not a directory")
    assert kind.convert(str(tmp_path / "new" / "deeper"), None, None) == tmp_path / "new" / "deeper"


def test_an_error_is_one_line_of_bounded_length() -> None:
    assert one_line("a\nb") == "a b"
    long = one_line("--comment: " + "x" * 100_000)
    assert long.startswith("--comment: xxx") and "characters cut" in long and len(long) < MAX_ERROR_CHARS + 60
