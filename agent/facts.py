"""Facts about this node, sent in Hello."""
from __future__ import annotations

import importlib.metadata
import platform
import socket

import psutil

from plugins.sdk.facts import Facts, Platform, PluginInfo


def _installed_version() -> str:
    """The version of the Outpost distribution this code came from (pyproject.toml's, as installed;
    a release the agent installed for itself reports its own: agent/cli.py runs it first on the path)."""
    try:
        return importlib.metadata.version("outpost")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0+unknown"


AGENT_VERSION = _installed_version()

_PLATFORMS = {"Linux": Platform.LINUX, "Windows": Platform.WINDOWS, "Darwin": Platform.MACOS}


def _os_release() -> tuple[str, str]:
    try:
        info = platform.freedesktop_os_release()
        return info.get("NAME", platform.system()), info.get("VERSION_ID", platform.release())
    except OSError:
        return platform.system(), platform.release()


def _ip_addresses() -> tuple[str, ...]:
    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                out.append(a.address.split("%")[0])
    return tuple(sorted(set(out)))


def gather_facts(plugins: tuple[PluginInfo, ...]) -> Facts:
    os_name, os_version = _os_release()
    return Facts(
        hostname=socket.gethostname(), os_name=os_name, os_version=os_version,
        platform=_PLATFORMS.get(platform.system(), Platform.LINUX), architecture=platform.machine(),
        ip_addresses=_ip_addresses(), agent_version=AGENT_VERSION, plugins=plugins,
    )
