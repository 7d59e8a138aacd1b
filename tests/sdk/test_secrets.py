"""plugins.sdk.secrets: a Secret never prints its value; scrub() and ScrubFilter mask known ones."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from plugins.sdk.secrets import MASK, MIN_SECRET_CHARS, ScrubFilter, Secret, maskable, scrub, too_short

VALUE = "hunter2-s3cr3t"


def test_mask_is_not_empty() -> None:
    assert MASK and VALUE not in MASK


@pytest.mark.parametrize("render", [
    repr, str, lambda s: f"{s}", lambda s: f"{s!r}", lambda s: f"{s!s}",
    lambda s: "%s" % s,  # noqa: UP031 - the old formatting is what is tested
    lambda s: "%r" % (s,),  # noqa: UP031
    format, lambda s: repr([s]), lambda s: str({"k": s}), lambda s: repr((s,)),
], ids=["repr", "str", "fstring", "fstring-r", "fstring-s", "percent-s", "percent-r", "format", "in-list",
        "in-dict", "in-tuple"])
def test_a_secret_never_renders_its_value(render) -> None:  # noqa: ANN001
    text = render(Secret(VALUE))
    assert VALUE not in text
    assert MASK in text


def test_a_secret_in_a_dataclass_repr_is_masked() -> None:
    @dataclass(frozen=True)
    class Holder:
        user: str
        password: Secret

    text = repr(Holder("alice", Secret(VALUE)))
    assert "alice" in text and VALUE not in text and MASK in text


def test_a_logged_secret_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="test.secrets"):
        logging.getLogger("test.secrets").info("password is %s", Secret(VALUE))
    assert VALUE not in caplog.text
    assert f"password is Secret({MASK})" in caplog.text


def test_reveal_equality_and_hashing() -> None:
    s = Secret(VALUE)
    assert s.reveal() == VALUE
    assert s == Secret(VALUE) and s != Secret("other")
    assert s != VALUE  # never equal to the bare string
    assert len({s, Secret(VALUE), Secret("other")}) == 2


def test_a_secret_has_no_instance_dict() -> None:
    assert not hasattr(Secret(VALUE), "__dict__")


@pytest.mark.parametrize(("text", "secrets", "expected"), [
    ("token=abc12345 here", ["abc12345"], f"token={MASK} here"),
    ("abc12345 abc12345 abc12345", ["abc12345"], f"{MASK} {MASK} {MASK}"),
    ("a=one-1234 b=two-1234", ["one-1234", "two-1234"], f"a={MASK} b={MASK}"),
    ("nothing secret", ["abc12345"], "nothing secret"),
    ("nothing secret", [], "nothing secret"),
    ("empty secrets are ignored", ["", "secrets "], f"empty {MASK}are ignored"),
    # the longest secret first, so a secret containing another is masked whole
    ("x=abc12345def", ["abc12345", "abc12345def"], f"x={MASK}"),
    ("x=abc12345def", ["abc12345def", "abc12345"], f"x={MASK}"),
    ("multi\nline abc12345\n", ["abc12345"], f"multi\nline {MASK}\n"),
    # too short to mask safely (refused where given): masking "a" would garble the text and show it
    ("a banana and a cat", ["a", "an", "1234567"], "a banana and a cat"),
])
def test_scrub(text: str, secrets: list[str], expected: str) -> None:
    assert scrub(text, secrets) == expected


def test_scrub_accepts_any_iterable() -> None:
    assert scrub("a abc12345", (s for s in ["abc12345"])) == f"a {MASK}"


@pytest.mark.parametrize(("value", "refused"), [("", False), ("a", True), ("1234567", True), ("12345678", False)])
def test_a_secret_too_short_to_mask_is_named_without_being_shown(value: str, refused: bool) -> None:
    reason = too_short(value)
    assert (reason is not None) is refused
    if reason:
        assert reason == (f"a secret must be at least {MIN_SECRET_CHARS} characters long to be masked safely in "
                          "output and logs")  # never the value, nor its length
    assert maskable([value]) == ([] if refused or not value else [value])


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, ListHandler, ScrubFilter]]:
    logger = logging.getLogger("test.scrubfilter")
    handler = ListHandler()
    scrubber = ScrubFilter([VALUE])
    handler.addFilter(scrubber)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, handler, scrubber
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_scrub_filter_masks_message_and_arguments(logged) -> None:  # noqa: ANN001
    logger, handler, _ = logged
    logger.info("connecting with %s", VALUE)
    logger.warning(f"inline {VALUE} too")
    logger.info("dict arg %(pw)s", {"pw": VALUE})
    assert handler.lines == [f"connecting with {MASK}", f"inline {MASK} too", f"dict arg {MASK}"]
    assert all(VALUE not in r.getMessage() for r in handler.records)


def test_scrub_filter_passes_every_record(logged) -> None:  # noqa: ANN001
    logger, handler, scrubber = logged
    logger.debug("plain %d", 5)
    assert handler.lines == ["plain 5"]
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", (VALUE,), None)
    assert scrubber.filter(record) is True
    assert record.getMessage() == f"a {MASK}"


def test_scrub_filter_learns_secrets_later(logged) -> None:  # noqa: ANN001
    logger, handler, scrubber = logged
    logger.info("late-secret")
    scrubber.add("late-secret")
    scrubber.add("")  # an empty value must not mask everything
    logger.info("now late-secret is known")
    assert handler.lines == ["late-secret", f"now {MASK} is known"]


def test_scrub_filter_without_secrets_leaves_records_alone() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", ("b",), None)
    assert ScrubFilter().filter(record) is True
    assert record.msg == "a %s" and record.args == ("b",)


def test_scrub_filter_masks_exception_text(logged) -> None:  # noqa: ANN001
    logger, handler, _ = logged
    try:
        raise RuntimeError(f"login failed for {VALUE}")
    except RuntimeError:
        logger.exception("plugin crashed")
    assert handler.lines[0].startswith("plugin crashed")
    assert VALUE not in handler.lines[0]


def test_scrub_filter_holds_a_value_while_any_holder_needs_it(logged) -> None:  # noqa: ANN001
    logger, handler, scrubber = logged
    scrubber.hold(["tok-1111", "tok-2222"])
    scrubber.hold(["tok-1111"])  # a second command with the same secret
    scrubber.release(["tok-1111", "tok-2222"])
    logger.info("tok-1111 tok-2222")
    scrubber.release(["tok-1111"])
    scrubber.release(["never-held"])
    logger.info("tok-1111")
    assert handler.lines == [f"{MASK} tok-2222", "tok-1111"]
    assert scrubber.held == frozenset({VALUE})


def test_install_scrubber_filters_every_handler_of_the_logger() -> None:
    from plugins.sdk.host.logs import install_scrubber

    logger = logging.getLogger("test.install_scrubber")
    first, second = ListHandler(), ListHandler()
    logger.addHandler(first)
    logger.addHandler(second)
    logger.propagate = False
    try:
        scrubber = install_scrubber(logger)
        scrubber.hold(["hunter2-x"])
        logging.getLogger("test.install_scrubber.child").warning("password hunter2-x")
        assert first.lines == second.lines == [f"password {MASK}"]
    finally:
        logger.removeHandler(first)
        logger.removeHandler(second)
        logger.propagate = True
