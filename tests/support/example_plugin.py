"""The example third-party plugin (tests/example_plugin: the ``ensure_line`` action), installed as
a third party's would be: a wheel built from its own project, into a directory of its own that the
processes that should know it get on their PYTHONPATH."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "example_plugin"


def install_example_plugin(tmp_path: Path) -> Path:
    source, target = tmp_path / "example_plugin", tmp_path / "site"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__"))  # a build writes beside it
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-build-isolation", "--no-deps", "--no-index", "--target", str(target),
                           str(source)], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert list(target.glob("outpost_ensure_line-1.0.0.dist-info/entry_points.txt"))
    return target
