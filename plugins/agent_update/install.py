"""Installing an agent release side by side: fetched over the agent's stream (checked against the
signed sha256), unpacked into ``versions/VERSION/lib`` (a wheel is a zip; the agent's interpreter
and its dependencies stay those of the running installation), made visible by a rename only once
whole, so a crash half way leaves no version that looks installed."""
from __future__ import annotations

import asyncio
import re
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from plugins.sdk import ContentSource, PluginError, RunContext

MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")


def _unpack(wheel: Path, dest: Path, version: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        total = 0
        names = zf.infolist()
        for info in names:
            path = PurePosixPath(info.filename)
            if path.is_absolute() or ".." in path.parts or "\\" in info.filename:
                raise PluginError(f"agent_update: the wheel holds a path outside its root: {info.filename!r}")
            total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise PluginError(f"agent_update: the wheel unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        metadata = [i for i in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", i.filename)]
        if len(metadata) != 1:
            raise PluginError("agent_update: not a wheel (no single .dist-info/METADATA)")
        said = re.search(rb"^Version: *(\S+)", zf.read(metadata[0]), re.M)
        if said is None or said.group(1).decode() != version:
            found = said.group(1).decode() if said else "none"
            raise PluginError(f"agent_update: the wheel is version {found}, not the release's {version}")
        zf.extractall(dest)


async def install_wheel(ctx: RunContext, content: ContentSource, install: Path, version: str, sha256: str,
                        max_bytes: int) -> Path:
    """``install/versions/VERSION`` with the release unpacked in ``lib``; made again when a previous
    attempt left it incomplete."""
    if not _VERSION.match(version):
        raise PluginError(f"agent_update: {version!r} is not a version")
    versions = install / "versions"
    target = versions / version
    if (target / "lib").is_dir() and (target / "installed").exists():
        return target
    versions.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = versions / f".{version}.partial"
    await asyncio.to_thread(shutil.rmtree, partial, True)
    (partial / "lib").mkdir(parents=True, mode=0o700)
    wheel = partial / "release.whl"
    try:
        await content.fetch("agent-release", version, sha256, str(wheel), max_bytes)
        await asyncio.to_thread(_unpack, wheel, partial / "lib", version)
        wheel.unlink()
        (partial / "installed").write_text(f"{version} {sha256}\n")
        await asyncio.to_thread(shutil.rmtree, target, True)
        partial.rename(target)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, partial, True))
        raise
    ctx.logger.info("agent release %s installed in %s", version, target)
    return target
