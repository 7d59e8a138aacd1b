"""A controller whose database fails under it (here: its disk full, a real ENOSPC on a tmpfs of its
own) answers every call in one line, logs no traceback, and works again once the disk has room.

Found by the chaos runs (docs/reliability.md): the CLI printed "Unexpected <class StoreError>" with a
second line pointing at SQLAlchemy's documentation, and the controller logged a traceback per call."""
from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.dev.chaos.fleet import mount_tmpfs
from controller.dev.cluster import Cluster


@pytest.fixture
def small_disk_cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    why = mount_tmpfs(c.controller_dir, 24)
    if why is not None:
        pytest.skip(f"needs a tmpfs of its own for the controller: {why}")
    try:
        c.init()
        yield c
    finally:
        c.close()
        subprocess.run(["umount", str(c.controller_dir)], capture_output=True)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_one_line_for_the_operator_and_passes_when_it_has_room(small_disk_cluster: Cluster) -> None:
    c = small_disk_cluster
    c.start_controller()
    filler = fill(c.controller_dir)
    failed = [c.outpost("activation", "create", "--description", "x" * 200, check=False) for _ in range(3)]
    bad = [p for p in failed if p.returncode != 0]
    assert bad, "with the disk full every write should fail"
    for p in bad:
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1, p.stderr
        assert lines[0].startswith("error: the controller is unavailable: the controller's database failed: "
                                   "database or disk is full"), p.stderr
    assert c.controller is not None and c.controller.poll() is None  # still serving
    filler.unlink()
    again = c.outpost("activation", "create", "--description", "after")
    assert again.returncode == 0, again.stderr
    log = c.logs()
    assert "Traceback" not in log
    assert "database or disk is full" in log  # one line per failed call, naming the method
