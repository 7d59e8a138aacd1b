"""``outpost playbook apply site.yml [-i INVENTORY]`` for a playbook in Ansible's form.

Reads the playbook (every keyword and module checked before anything runs), the inventory
(``-i``: Ansible's INI or YAML; without it the fleet itself: its groups, ``tag_KEY_VALUE`` groups,
each node named by its Name tag or node id), matches each inventory host to a node (node id,
Name tag, hostname or ``ansible_host``), then runs the plays (controller/cli/ansible_run.py).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import yaml
from rich.console import Console

from controller.cli.ansible_results import Printer
from controller.cli.ansible_run import PlaybookRun, TagFilter
from controller.cli.ansible_state import PlayHost
from controller.cli.ansible_tasks import TaskRunner
from controller.cli.render import node_seen
from controller.cli.terminal import in_markup
from controller.compiler.ansible_facts import ansible_facts
from controller.compiler.ansible_playbook import read_ansible_playbook
from controller.compiler.errors import PlaybookError
from controller.compiler.hosts import FleetNode, fleet_inventory, match_nodes, select
from controller.compiler.inventory import Inventory, host_vars, load_inventory
from controller.sdk.transport import AdminClient
from plugins.sdk.facts import Facts
from plugins.sdk.host.registry import PluginRegistry


@dataclass(frozen=True)
class AnsibleOptions:
    path: str
    text: str
    inventory: str | None
    limit: str | None
    extra_vars: tuple[str, ...]
    tags: tuple[str, ...]
    skip_tags: tuple[str, ...]
    check: bool
    output: str
    timeout_seconds: int
    comment: str
    verbose: bool = False


def parse_ansible_extra_vars(items: Iterable[str]) -> dict[str, Any]:
    """Ansible's ``-e``: ``key=value key2=value2``, a JSON or YAML mapping, or ``@file`` of one."""
    out: dict[str, Any] = {}
    for item in items:
        text, source = item, "-e"
        if item.startswith("@"):
            source = item[1:]
            try:
                with open(source, encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise PlaybookError(f"-e {item}: cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
        if item.startswith("@") or text.lstrip().startswith("{"):
            try:
                value = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
            except (ValueError, yaml.YAMLError) as exc:
                raise PlaybookError(f"-e {item[:60]}: not a JSON/YAML mapping: {str(exc).splitlines()[0]}") from None
            if not isinstance(value, dict):
                raise PlaybookError(f"-e {item[:60]}: expected a mapping of variables ({source})")
            out.update(value)
            continue
        for word in text.split():
            key, sep, value_ = word.partition("=")
            if not sep or not key.isidentifier():
                raise PlaybookError(f"-e {word[:60]!r}: expected key=value, a JSON mapping or @file")
            out[key] = value_
    for key in out:
        if not isinstance(key, str) or not key.isidentifier():
            raise PlaybookError(f"-e: not a valid variable name: {key!r}")
    return out


def fleet_nodes(client: AdminClient) -> tuple[dict[str, Facts], list[FleetNode]]:
    """Every registered node as the host patterns see it, and its facts, by node id."""
    nodes = client.list_nodes()
    groups: dict[str, list[str]] = {}
    for group in client.list_groups():
        for member in client.get_group(group.name).nodes:
            groups.setdefault(member.node_id, []).append(group.name)
    out, facts_of = [], {}
    for n in nodes:
        facts = facts_of[n.node_id] = node_seen(n).facts
        out.append(FleetNode(node_id=n.node_id, hostname=facts.hostname, tags={t.key: t.value for t in n.tags},
                             groups=tuple(groups.get(n.node_id, ())), platform=facts.platform,
                             ip=facts.ip_addresses[0] if facts.ip_addresses else None))
    return facts_of, out


UNMATCHED = "no registered node is this host (by node id, Name tag, hostname, address or ansible_host)"


def hosts_resolver(client: AdminClient, inventory: Inventory | None, limit: str | None
                   ) -> Callable[[str], list[PlayHost]]:
    """``pattern -> [PlayHost]`` over ``inventory`` (None: the fleet's own), ``limit`` applied."""
    facts_of, fleet = fleet_nodes(client)
    facts = {node_id: ansible_facts(node_id, f) for node_id, f in facts_of.items()}
    from_fleet = inventory is None
    hosts = fleet_inventory(fleet) if inventory is None else inventory

    def hosts_of(pattern: str) -> list[PlayHost]:
        names = select(hosts, pattern, limit)
        if from_fleet:
            matched = {h: str(host_vars(hosts, h)["outpost_node_id"]) for h in names}
        else:
            matched = {m.host: m.node_id for m in match_nodes(names, hosts, fleet).matched}
        return [PlayHost(name, matched.get(name), host_vars(hosts, name), facts.get(matched.get(name, ""), {}),
                         UNMATCHED) for name in names]
    return hosts_of


def apply_ansible(client: AdminClient, opts: AnsibleOptions, registry: PluginRegistry, console: Console) -> int:
    book = read_ansible_playbook(opts.path, opts.text, registry)  # every play checked before anything runs
    extra = parse_ansible_extra_vars(opts.extra_vars)
    tags = TagFilter(frozenset(t.strip() for x in opts.tags for t in x.split(",") if t.strip()),
                     frozenset(t.strip() for x in opts.skip_tags for t in x.split(",") if t.strip()))
    inventory = load_inventory(opts.inventory) if opts.inventory else None
    for warning in inventory.warnings if inventory else ():
        console.print(f"[yellow]warning:[/yellow] {in_markup(warning)}")
    hosts_of = hosts_resolver(client, inventory, opts.limit)
    runner = TaskRunner(client, registry, os.path.dirname(os.path.abspath(opts.path)), opts.check,
                        opts.timeout_seconds, opts.comment)
    printer = Printer(console, opts.output == "json", opts.verbose)
    return PlaybookRun(book, runner, printer, extra, tags).run(hosts_of)
