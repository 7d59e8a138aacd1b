"""What a node says of itself, as the controller keeps it: taken when it arrives (enrolment, each
Hello), every string stripped of control and format characters (a line feed that would forge a log
line, an escape sequence that would drive an operator's terminal, a right-to-left override) and cut
to a bound, every list cut to a count. A node is not trusted to describe itself politely.
"""
from __future__ import annotations

import unicodedata
from dataclasses import replace

from plugins.sdk.facts import Facts, PluginInfo

HOSTNAME_CHARS = 253  # DNS
TEXT_CHARS = 128  # an OS name or version, a plugin's name or version
ARCHITECTURE_CHARS = 32
AGENT_VERSION_CHARS = 64
ADDRESS_CHARS = 45  # the longest IPv6 text form
MAX_ADDRESSES = 64
MAX_PLUGINS = 256
MAX_ALIASES = 32
# control, format (bidi overrides, zero-width), surrogate, private, unassigned; line and paragraph separators
DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clean(text: str, limit: int) -> str:
    """``text`` without control or format characters, at most ``limit`` characters."""
    if text.isprintable() and len(text) <= limit:
        return text  # the usual case: nothing to do
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in DROPPED)
    return kept[:limit]


def kept_facts(facts: Facts) -> Facts:
    plugins = tuple(PluginInfo(clean(p.name, TEXT_CHARS), clean(p.version, TEXT_CHARS),
                               tuple(clean(a, TEXT_CHARS) for a in p.aliases[:MAX_ALIASES]))
                    for p in facts.plugins[:MAX_PLUGINS])
    return replace(facts, hostname=clean(facts.hostname, HOSTNAME_CHARS), os_name=clean(facts.os_name, TEXT_CHARS),
                   os_version=clean(facts.os_version, TEXT_CHARS),
                   architecture=clean(facts.architecture, ARCHITECTURE_CHARS),
                   ip_addresses=tuple(clean(a, ADDRESS_CHARS) for a in facts.ip_addresses[:MAX_ADDRESSES]),
                   agent_version=clean(facts.agent_version, AGENT_VERSION_CHARS), plugins=plugins)
