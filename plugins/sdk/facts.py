"""What an agent tells the controller about its node."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Platform(enum.Enum):
    LINUX = "Linux"
    WINDOWS = "Windows"
    MACOS = "MacOS"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    hostname: str
    os_name: str
    os_version: str
    platform: Platform
    architecture: str
    ip_addresses: tuple[str, ...]
    agent_version: str
    plugins: tuple[PluginInfo, ...] = ()
