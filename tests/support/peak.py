"""A CLI process's peak resident memory, exactly, for the tests that bound it.

The test process cannot ask for it itself: on Linux a child's ``ru_maxrss`` starts at the high-water
mark of the process that started it (the parent's memory up to the child's exec counts as the
child's), and a test process that has just read 16 MB of output is no small parent. So a small
launcher starts the CLI and reports its children's peak, which then is the CLI's own (or the
launcher's, some 10 MB, whichever is more).
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.dev.cluster import OUTPOST, ROOT
from tests.support.cluster import Cluster

_LAUNCHER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
             "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
             "sys.exit(rc)")


@dataclass(frozen=True)
class Measured:
    returncode: int
    peak_rss_bytes: int
    stdout: bytes
    stderr: bytes


def run_measured(cluster: Cluster, args: Sequence[str], directory: Path, timeout: float = 120,
                 stdout: int | None = None) -> Measured:
    """``outpost ARGS`` with its stdout and stderr in files in ``directory`` (or stdout to the open
    descriptor ``stdout``, a terminal say: then ``Measured.stdout`` is empty), and its peak RSS."""
    out_path, err_path, rss_path = directory / "stdout", directory / "stderr", directory / "peak-rss-kb"
    rss_path.unlink(missing_ok=True)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        rc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(rss_path), *OUTPOST, *args], env=cluster.env,
                            cwd=ROOT, stdout=out if stdout is None else stdout, stderr=err,
                            timeout=timeout).returncode
    return Measured(rc, int(rss_path.read_text()) * 1024, out_path.read_bytes(), err_path.read_bytes())
