"""A node's facts under Ansible's names: what ``gather_facts`` gives a play.

Ansible's setup module runs on the host; Outpost's agent reports its facts at every connection,
so gathering costs no round trip. The names are Ansible's where the agent knows the value
(``ansible_hostname``, ``ansible_os_family``, ``ansible_distribution``...), each also under
``ansible_facts`` without its prefix, as Ansible sets both. Facts the agent does not report
(``ansible_memtotal_mb``, ``ansible_mounts``...) are undefined, so a play that uses one fails
naming it instead of running on a guess.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from plugins.sdk.facts import Facts, Platform

_SYSTEM = {Platform.LINUX: "Linux", Platform.WINDOWS: "Win32NT", Platform.MACOS: "Darwin"}
# os-release NAME (or its first word) -> (ansible_distribution, ansible_os_family)
_DISTRIBUTIONS = (
    ("debian", "Debian", "Debian"), ("ubuntu", "Ubuntu", "Debian"), ("linux mint", "Linux Mint", "Debian"),
    ("red hat", "RedHat", "RedHat"), ("rhel", "RedHat", "RedHat"), ("centos", "CentOS", "RedHat"),
    ("rocky", "Rocky", "RedHat"), ("almalinux", "AlmaLinux", "RedHat"), ("fedora", "Fedora", "RedHat"),
    ("amazon", "Amazon", "RedHat"), ("oracle", "OracleLinux", "RedHat"), ("suse", "SLES", "Suse"),
    ("opensuse", "openSUSE Leap", "Suse"), ("alpine", "Alpine", "Alpine"), ("arch", "Archlinux", "Archlinux"),
)


def _distribution(facts: Facts) -> tuple[str, str]:
    if facts.platform is Platform.WINDOWS:
        return "Microsoft Windows", "Windows"
    if facts.platform is Platform.MACOS:
        return "MacOSX", "Darwin"
    name = facts.os_name.lower()
    for key, distribution, family in _DISTRIBUTIONS:
        if name.startswith(key):
            return distribution, family
    return facts.os_name, facts.os_name


def ansible_facts(node_id: str, facts: Facts) -> dict[str, Any]:
    """``{"ansible_hostname": ..., ..., "ansible_facts": {"hostname": ...}}`` for one node."""
    distribution, family = _distribution(facts)
    v4, v6 = [], []
    for address in facts.ip_addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        (v4 if ip.version == 4 else v6).append(address)
    routable = [a for a in v4 if not ipaddress.ip_address(a).is_loopback]
    short = {
        "hostname": facts.hostname.split(".")[0], "fqdn": facts.hostname, "nodename": facts.hostname,
        "system": _SYSTEM.get(facts.platform, facts.platform.value), "os_family": family,
        "distribution": distribution, "distribution_version": facts.os_version,
        "distribution_major_version": facts.os_version.split(".")[0] if facts.os_version else "",
        "architecture": facts.architecture, "machine": facts.architecture,
        "all_ipv4_addresses": routable, "all_ipv6_addresses": [a for a in v6 if a != "::1"],
        "default_ipv4": {"address": routable[0]} if routable else {},
        "outpost_node_id": node_id, "outpost_agent_version": facts.agent_version,
    }
    out: dict[str, Any] = {f"ansible_{k}": v for k, v in short.items()}
    out["ansible_facts"] = short
    return out
