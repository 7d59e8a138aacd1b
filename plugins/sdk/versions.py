"""Version order, as Outpost compares agent versions (the controller choosing the latest release,
the agent refusing a downgrade): dotted numbers compared as numbers, other parts as text after
them, part by part; a version with more parts after an equal start is the newer."""
from __future__ import annotations

import re


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+_-]", version))


def newer(a: str, b: str) -> bool:
    """Whether version ``a`` comes after ``b``."""
    return version_key(a) > version_key(b)
