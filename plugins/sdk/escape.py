"""Control characters shown, not acted on: what a node, an operator or a document carries reaches a
terminal or a log line as visible text (``\\x1b``, ``\\u202e``), never as a cursor move, a title, a
rewritten or forged line, or text reordered by a bidirectional override."""
from __future__ import annotations

import re

# C0 and DEL, C1 (U+009B is a CSI), line and paragraph separators, and the bidirectional
# embeddings, overrides and isolates
_CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_PATTERNS: dict[str, re.Pattern[str]] = {
    keep: re.compile(f"[{_CONTROLS}]" if not keep else f"(?![{re.escape(keep)}])[{_CONTROLS}]")
    for keep in ("", "\t", "\t\n")
}


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, keep: str = "\t\n") -> str:
    """``text`` with every control character but those in ``keep`` ("", "\\t" or "\\t\\n") escaped."""
    return _PATTERNS[keep].sub(_escaped, text)
