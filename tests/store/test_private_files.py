"""The SQLite database and its -wal and -shm are 0600 whatever the umask, from the first write (SQLite
gives its side files the database's mode), and a database left readable by others is tightened when
the store opens it; the controller directory is 0700 whether or not it existed before init."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.runtime.config import ControllerDir
from controller.runtime.init import init_controller
from controller.store import Store
from tests.support.keys import fixed_sealer


@pytest.fixture
def wide_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(directory: Path, prefix: str) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in directory.iterdir() if p.name.startswith(prefix)}


def test_a_new_database_and_its_wal_and_shm_are_0600(tmp_path: Path, wide_umask: None) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    try:
        store.migrate()
        assert _modes(tmp_path, "outpost.db") == {"outpost.db": 0o600, "outpost.db-wal": 0o600,
                                                  "outpost.db-shm": 0o600}
    finally:
        store.close()


def test_a_database_readable_by_others_is_tightened_when_opened(tmp_path: Path, wide_umask: None) -> None:
    Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer()).close()
    for name in ("outpost.db", "outpost.db-wal", "outpost.db-shm"):
        path = tmp_path / name
        path.touch()
        path.chmod(0o644)
    store = Store.open(f"sqlite:///{tmp_path / 'outpost.db'}", fixed_sealer())
    try:
        store.migrate()
        assert set(_modes(tmp_path, "outpost.db").values()) == {0o600}
    finally:
        store.close()


def test_init_makes_an_existing_directory_0700_and_everything_in_it_private(tmp_path: Path,
                                                                            wide_umask: None) -> None:
    directory = tmp_path / "ctl"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    init_controller(directory, ("127.0.0.1",), operator="admin", cli_config_path=tmp_path / "cli.yaml")
    assert directory.stat().st_mode & 0o777 == 0o700
    assert (directory / "operators").stat().st_mode & 0o777 == 0o700
    wide = {p.name: oct(p.stat().st_mode & 0o777) for p in directory.iterdir()
            if p.is_file() and p.stat().st_mode & 0o077 and not p.name.endswith((".crt", ".pub"))}
    assert wide == {}
    directory.chmod(0o755)  # loosened since: the controller tightens it when it starts
    assert ControllerDir(directory).make_private() and directory.stat().st_mode & 0o777 == 0o700
    assert not ControllerDir(directory).make_private()
