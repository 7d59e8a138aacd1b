"""An inventory's host names as Ansible writes them: ranges (``web[01:03].example.com``,
``db-[a:c]``, ``www[01:50:2]``) and an optional ``:port``.

As Ansible's ``expand_hostname_range``: ``[begin:end]`` or ``[begin:end:step]``, inclusive; a
begin with a leading zero pads every number to its width (``[01:10]``, and then the end must be
written as wide); one letter to one letter (``[a:f]``, ASCII letters in the order
``a..zA..Z``); several ranges in one name multiply out, the first varying slowest. Where
Ansible fails with a Python traceback or expands to nothing (``[3:1]``, ``[a:3]``, ``[1:5:0]``,
an unclosed ``[``) this module says what is wrong. A name ending in ``:NUMBER`` has a port,
as Ansible's ``parse_address`` reads it (``[::1]:22`` for IPv6; a bare IPv6 address has none).
"""
from __future__ import annotations

import re
import string

MAX_RANGE_HOSTS = 100_000  # one host line; a typo like [1:99999999] is refused, not expanded

_IPV6_BRACKETED = re.compile(r"^\[(?P<host>[0-9A-Fa-f:.]+)\](?::(?P<port>\d+))?$")
_IPV6_BARE = re.compile(r"^[0-9A-Fa-f:.]+$")
_NAME_AND_PORT = re.compile(r"^(?P<host>(?:[^:\[\]]|\[[^\]\[]*\])+)(?::(?P<port>[^:]*))?$")


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() takes '²' and '٣' too."""
    return text.isascii() and text.isdigit()


class RangeProblem(ValueError):
    """What is wrong with a host name; the readers add the file and line."""


def split_port(token: str) -> tuple[str, int | None]:
    """``('web[1:3]', 2222)`` from ``web[1:3]:2222``; ``(token, None)`` without a port."""
    bracketed = _IPV6_BRACKETED.match(token)
    if bracketed and _is_ipv6(bracketed["host"]):
        return bracketed["host"], int(bracketed["port"]) if bracketed["port"] else None
    if token.count(":") >= 2 and _IPV6_BARE.match(token) and _is_ipv6(token):
        return token, None
    m = _NAME_AND_PORT.match(token)
    if m is None and token.count("[") != token.count("]"):
        raise RangeProblem(f"host range {token!r}: '[' and ']' do not pair up")
    if m is None:
        raise RangeProblem(f"host {token!r} is not a name, a name:port or a range (web[01:03])")
    port = m["port"]
    if port is None:
        return m["host"], None
    if not _digits(port) or not 0 < int(port) < 65536:
        raise RangeProblem(f"host {token!r}: {port!r} after ':' is not a port number (1-65535)")
    return m["host"], int(port)


def _is_ipv6(text: str) -> bool:
    # [1:9:2] is a range, not an address: IPv6 has '::' or eight groups
    return "::" in text or text.count(":") == 7


def expand(name: str) -> tuple[str, ...]:
    """Every host a name with ranges stands for, in Ansible's order; ``(name,)`` without one."""
    if "[" not in name and "]" not in name:
        return (name,)
    out: list[str] = []
    _expand_into(name, name, out)
    return tuple(out)


def _expand_into(name: str, written: str, out: list[str]) -> None:
    start, end = name.find("["), name.find("]")
    if start < 0 or end < start:
        raise RangeProblem(f"host range {written!r}: '[' and ']' do not pair up")
    head, body, tail = name[:start], name[start + 1:end], name[end + 1:]
    for item in _sequence(body, written):
        expanded = f"{head}{item}{tail}"
        if "[" in expanded or "]" in expanded:
            _expand_into(expanded, written, out)
        else:
            out.append(expanded)
        if len(out) > MAX_RANGE_HOSTS:
            raise RangeProblem(f"host range {written!r} expands to more than {MAX_RANGE_HOSTS:,} hosts")


def _sequence(body: str, written: str) -> list[str]:
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise RangeProblem(f"host range {written!r}: [{body}] must be [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise RangeProblem(f"host range {written!r}: [{body}] has no end")
    if not _digits(step_text) or int(step_text) == 0:
        raise RangeProblem(f"host range {written!r}: step {step_text!r} must be a whole number above 0")
    step = int(step_text)
    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        first, last = letters.index(begin), letters.index(end)
        if first > last:
            raise RangeProblem(f"host range {written!r}: begin {begin!r} comes after end {end!r}")
        return list(letters[first:last + 1:step])
    if not (_digits(begin) and _digits(end)):
        raise RangeProblem(f"host range {written!r}: [{body}] must go from number to number "
                           "or from one letter to one letter")
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise RangeProblem(f"host range {written!r}: begin {begin!r} is zero-padded, so end "
                           f"{end!r} must have {width} digits too")
    first, last = int(begin), int(end)
    if first > last:
        raise RangeProblem(f"host range {written!r}: begin {first} is after end {last}")
    if (last - first) // step + 1 > MAX_RANGE_HOSTS:
        raise RangeProblem(f"host range {written!r} expands to more than {MAX_RANGE_HOSTS:,} hosts")
    return [str(i).zfill(width) for i in range(first, last + 1, step)]
