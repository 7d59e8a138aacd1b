"""agent.ledger: the durable set of accepted command ids."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.ledger import Ledger


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    led = Ledger(path)
    try:
        yield led
    finally:
        led.close()


def test_a_new_ledger_is_empty_and_creates_its_file(ledger: Ledger, path: Path) -> None:
    assert len(ledger) == 0
    assert "cmd-1" not in ledger
    assert path.exists()


def test_record_then_contains(ledger: Ledger) -> None:
    ledger.record("cmd-1")
    ledger.record("cmd-2")
    assert "cmd-1" in ledger and "cmd-2" in ledger
    assert "cmd-3" not in ledger and "cmd" not in ledger
    assert len(ledger) == 2


def test_recording_twice_counts_once(ledger: Ledger) -> None:
    ledger.record("cmd-1")
    ledger.record("cmd-1")
    assert len(ledger) == 1


def test_the_line_is_on_disk_before_close(ledger: Ledger, path: Path) -> None:
    ledger.record("3f2a-uuid:x.y")
    lines = path.read_text().splitlines()  # another handle, the ledger still open
    assert len(lines) == 1
    stamp, cid = lines[0].split(" ")
    assert cid == "3f2a-uuid:x.y" and stamp.isdigit()


def test_a_reopened_ledger_remembers(path: Path) -> None:
    first = Ledger(path)
    for cid in ("a", "b", "c"):
        first.record(cid)
    first.close()
    second = Ledger(path)
    try:
        assert all(cid in second for cid in ("a", "b", "c"))
        assert len(second) == 3
        second.record("d")
    finally:
        second.close()
    third = Ledger(path)
    try:
        assert len(third) == 4 and "d" in third
    finally:
        third.close()


def test_reopening_without_close_still_remembers(path: Path) -> None:
    """An agent killed without closing the ledger: the record was fsynced, so it is there."""
    crashed = Ledger(path)
    crashed.record("before-crash")
    again = Ledger(path)
    try:
        assert "before-crash" in again
    finally:
        again.close()
        crashed.close()


@pytest.mark.parametrize("cid", ["a b", "a\tb", "a\nb", " lead", "trail ", "a\rb", "\n"])
def test_ids_with_white_space_are_refused(ledger: Ledger, path: Path, cid: str) -> None:
    with pytest.raises(ValueError, match="white space"):
        ledger.record(cid)
    assert cid not in ledger and len(ledger) == 0
    assert path.read_text() == ""


def test_garbage_lines_are_skipped_on_load(path: Path) -> None:
    path.write_text("1700000000 good\nnot-a-record\n1 2 3\n\n1700000001 also-good\n")
    led = Ledger(path)
    try:
        assert "good" in led and "also-good" in led
        assert len(led) == 2
    finally:
        led.close()


def test_a_torn_last_line_does_not_swallow_the_next_record(path: Path) -> None:
    path.write_text("1700000000 done\n1700000001 torn")  # crash before the newline made it to disk
    led = Ledger(path)
    led.record("next")
    led.close()
    again = Ledger(path)
    try:
        assert "next" in again
    finally:
        again.close()
