"""How a refused command line reads: its error lines, without the usage block around them."""
from __future__ import annotations


def error_lines(stderr: str) -> list[str]:
    """stderr's lines but for a usage block (click's Usage and Try lines, argparse's wrapped usage)."""
    lines, in_usage = [], False
    for line in stderr.splitlines():
        if line.lower().startswith("usage:"):
            in_usage = True
            continue
        if in_usage and line.startswith(" "):
            continue
        in_usage = False
        if line.strip() and not line.startswith("Try '"):
            lines.append(line)
    return lines
