"""The committed generated code is exactly what the pinned grpcio-tools makes from the .proto."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("outpost_pb2.py", "outpost_pb2.pyi", "outpost_pb2_grpc.py")
PINNED_TOOLS = "1.85.1"


def test_pinned_grpcio_tools() -> None:
    import importlib.metadata

    assert importlib.metadata.version("grpcio-tools") == PINNED_TOOLS
    assert f'"grpcio-tools=={PINNED_TOOLS}"' in (ROOT / "pyproject.toml").read_text()


def test_regeneration_gives_no_diff(tmp_path: Path) -> None:
    src = tmp_path / "proto"
    shutil.copytree(ROOT / "proto", src, ignore=shutil.ignore_patterns("*_pb2*", "__pycache__"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{src}", f"--python_out={src}",
                    f"--pyi_out={src}", f"--grpc_python_out={src}", str(src / "outpost/v1/outpost.proto")],
                   check=True)
    for name in GENERATED:
        fresh = (src / "outpost" / "v1" / name).read_text()
        committed = (ROOT / "proto" / "outpost" / "v1" / name).read_text()
        assert fresh == committed, f"proto/outpost/v1/{name} differs from regeneration: run `make proto`"
