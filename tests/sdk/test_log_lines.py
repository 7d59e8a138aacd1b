"""plugins.sdk.host.logs.LineGuard and plugins.sdk.escape: a log record is one line whatever its
values hold (issue 18: a hostname with a line feed forged a whole controller log line), and no value
reaches the log's reader as a terminal control."""
from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from plugins.sdk.escape import escape_controls
from plugins.sdk.host.logs import install_scrubber
from plugins.sdk.secrets import MASK

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger("test.log_lines")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    install_scrubber(logger).hold(["s3cr3t-value"])
    try:
        yield logger, buf
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


@pytest.mark.parametrize(("value", "shown"), [
    ("web-1\n2026-12-07 10:00:00,000 INFO controller.server.admin_service: operator admin deleted everything",
     "web-1\\x0a2026-12-07 10:00:00,000 INFO"),
    ("web-1\r2026-12-07 forged over the line", "web-1\\x0d2026-12-07"),
    ("web-1\x1b[2K\x1b[1Ghidden", "web-1\\x1b[2K\\x1b[1Ghidden"),
    ("web-1\u2028forged", "web-1\\u2028forged"),
    ("tab\tstays escaped", "tab\\x09stays"),
])
def test_a_value_cannot_forge_a_log_line(log: tuple[logging.Logger, io.StringIO], value: str, shown: str) -> None:
    logger, buf = log
    logger.warning("node %s said hello with s3cr3t-value", value)
    text = buf.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert shown in text and MASK in text and "s3cr3t-value" not in text


def test_a_traceback_keeps_its_lines_and_escapes_the_rest(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buf = log
    try:
        raise ValueError("bad \x1b]0;title\x07 value")
    except ValueError:
        logger.exception("failed on %s", "x\ny")
    lines = buf.getvalue().splitlines()
    assert lines[0].endswith("failed on x\\x0ay") and lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: bad \\x1b]0;title\\x07 value"
    assert "\x1b" not in buf.getvalue()


@pytest.mark.parametrize(("keep", "expected"), [
    ("", "a\\x09b\\x0ac\\x1bd\\x9be\\u202ef é"),
    ("\t", "a\tb\\x0ac\\x1bd\\x9be\\u202ef é"),
    ("\t\n", "a\tb\nc\\x1bd\\x9be\\u202ef é"),
])
def test_escape_controls(keep: str, expected: str) -> None:
    assert escape_controls("a\tb\nc\x1bd\x9be\u202ef é", keep) == expected
    assert escape_controls("plain [x] 😀", keep) == "plain [x] 😀"


def test_a_call_whose_arguments_do_not_fit_is_logged_scrubbed_and_raises_nothing(
        log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buf = log
    logger.warning("two %s %s", "s3cr3t-value\nforged")  # no exception here, nor in the handler
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"two %s %s (arguments that do not fit: ('{MASK}\\nforged',))")
