"""What the built-in plugins' tests share: a recording sink, a RunContext, one step run."""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugins.sdk.contract import OutputStreamKind, RunContext, StepOutcome
from plugins.sdk.host.registry import PluginRegistry


@dataclass
class Sink:
    chunks: list[tuple[OutputStreamKind, bytes]] = field(default_factory=list)

    async def write(self, stream: OutputStreamKind, data: bytes) -> None:
        self.chunks.append((stream, data))

    @property
    def stdout(self) -> str:
        return b"".join(d for s, d in self.chunks if s is OutputStreamKind.STDOUT).decode()

    @property
    def stderr(self) -> str:
        return b"".join(d for s, d in self.chunks if s is OutputStreamKind.STDERR).decode()


def make_ctx(sink: Sink, workdir: Path, *, check_mode: bool = False, env: dict[str, str] | None = None) -> RunContext:
    return RunContext(command_id="cmd-1", node_id="node-1", step_name="step", step_index=0, check_mode=check_mode,
                      workdir=str(workdir / "no-workdir"), output=sink,
                      logger=logging.LoggerAdapter(logging.getLogger("test"), {}), cancel_grace_seconds=1.0,
                      environment=env if env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


def run_step(registry: PluginRegistry, action: str, raw: Any, tmp_path: Path, *, check_mode: bool = False,
             env: dict[str, str] | None = None) -> tuple[StepOutcome, Sink]:
    """Bind ``raw`` to ``action`` as the agent does and run the step; (outcome, what it wrote)."""
    bound = registry.bind(action, raw, "case")
    sink = Sink()
    outcome = asyncio.run(bound.plugin.run(make_ctx(sink, tmp_path, check_mode=check_mode, env=env), bound.inputs))
    return outcome, sink


def lay_out(root: Path, spec: dict[str, dict[str, str]]) -> None:
    """Make what ``spec`` names under ``root``: ``{"a": {"file": "text", "mode": "0600"}, "d": {"dir": "0700"},
    "l": {"link": "a"}}`` (in order, so a link may point to what came before it)."""
    for rel, what in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if "link" in what:
            path.symlink_to(what["link"])
        elif "dir" in what:
            path.mkdir()
            path.chmod(int(what["dir"], 8))
        else:
            path.write_text(what["file"])
            path.chmod(int(what.get("mode", "0644"), 8))


def layout(root: Path) -> dict[str, dict[str, str]]:
    """What is under ``root``, in :func:`lay_out`'s terms (every file with its mode)."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = {"link": os.readlink(path)}
        elif path.is_dir():
            out[rel] = {"dir": f"{path.stat().st_mode & 0o7777:04o}"}
        else:
            out[rel] = {"file": path.read_text(), "mode": f"{path.stat().st_mode & 0o7777:04o}"}
    return out


def tree(root: Path) -> dict[str, Any]:
    """Every path under ``root`` (relative) with what it is: a file's text and mode, a directory's
    mode, a link's target. What a check-mode run must leave exactly as it found."""
    out: dict[str, Any] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir", oct(st.st_mode & 0o7777), st.st_uid, st.st_gid)
        else:
            out[rel] = ("file", path.read_bytes(), oct(st.st_mode & 0o7777), st.st_uid, st.st_gid, st.st_mtime_ns)
    return out
