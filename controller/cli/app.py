"""The operator CLI: ``outpost controller|activation|node|playbook|command|plugin ...``."""
from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import grpc

from controller.cli import params
from controller.cli.access import operator, policy
from controller.cli.apply import ApplyOptions, apply
from controller.cli.audit import audit
from controller.cli.context import Ctx
from controller.cli.documents import document
from controller.cli.events import events
from controller.cli.follow import RECONNECT_TIMEOUT
from controller.cli.groups import group, register_node_commands, tag
from controller.cli.invocations import command  # the group of commands.py, with invocations, get and wait
from controller.cli.nodes import node_list
from controller.cli.parameters import parameter
from controller.cli.params import FilePath
from controller.cli.patching import baseline, compliance
from controller.cli.releases import agent_release, content
from controller.cli.render import (
    OUTPUT,
    activation_row,
    make_console,
    print_json,
    print_table,
)
from controller.cli.ssm import ssm
from controller.cli.terminal import say
from controller.model import Tag
from controller.runtime.config import DEFAULT_PORT
from controller.sdk.transport import rpc_error_message
from controller.trust.sealing import MASTER_KEY_ENV
from plugins.sdk.errors import InputError, OutpostError
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.limits import shown
from plugins.sdk.schema import describe


def parse_tags(items: Sequence[str], where: str) -> tuple[Tag, ...]:
    tags = []
    for item in (part for text in items for part in text.split(",") if part.strip()):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(where, f"expected KEY=VALUE, got {shown(item)}")
        tags.append(tag(key.strip(), value.strip(), where))
    return tuple(tags)


# The commands other distributions' entry points bring (``outpost.cli``, controller/cli/entry.py): handed
# their arguments before click runs, so only named here, for ``outpost --help``.
HANDED_OVER = {"agent": "On a node: enrol it, run the agent (outpost agent enroll|run --help).",
               "swarm": "Load testing: many real agents in one process (outpost swarm --help)."}


class OutpostGroup(click.Group):
    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_commands(ctx, formatter)
        import importlib.metadata  # only for the help

        found = sorted(ep.name for ep in importlib.metadata.entry_points(group="outpost.cli"))
        rows = [(name, HANDED_OVER.get(name, "(from an installed distribution)")) for name in found]
        if rows:
            with formatter.section("Commands handed to their own programs"):
                formatter.write_dl(rows)


@click.group(cls=OutpostGroup)
@click.option("--config", "config_path", type=FilePath(dir_okay=False, path_type=Path), envvar="OUTPOST_CONFIG",
              help="CLI configuration (default ~/.config/outpost/config.yaml)")
@click.option("--log-level", default="WARNING", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, log_level: str) -> None:
    """Outpost: run commands on fleets of nodes, SSM-style."""
    logging.basicConfig(level=log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Ctx(config_path)


# ---------------------------------------------------------------- controller

@cli.group()
def controller() -> None:
    """Set up and run the controller."""


MASTER_KEY_OPTION = click.option(
    "--master-key", default=None, envvar=MASTER_KEY_ENV, show_envvar=True,
    type=FilePath(dir_okay=False, path_type=Path),
    help="the master keyring that seals documents and output at rest (default: DIR/master.key)")


@controller.command("init")
@click.option("--dir", "directory", required=True, type=FilePath(file_okay=False, path_type=Path))
@click.option("--hostname", "hostnames", multiple=True, required=True, type=params.HOSTNAME,
              help="name or address agents dial (repeat)")
@click.option("--operator", default="admin", show_default=True, type=params.OPERATOR)
@click.option("--database-url", default=None, type=params.DATABASE_URL,
              help="default: SQLite in DIR; postgresql+psycopg://... for production")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=params.PORT,
              help="agents and operators; enrolment listens on the next port")
@MASTER_KEY_OPTION
@click.pass_obj
def controller_init(obj: Ctx, directory: Path, hostnames: tuple[str, ...], operator: str,
                    database_url: str | None, port: int, master_key: Path | None) -> None:
    """Create the CA, server certificate, signing key, master key, operator credentials, database and
    CLI config."""
    from controller.runtime.init import init_controller

    res = init_controller(directory, hostnames, operator=operator, cli_config_path=obj.config_path,
                          database_url=database_url, port=port, master_key_file=master_key)
    say(f"controller directory: {res.directory}")
    say(f"CA fingerprint:       {res.ca_fingerprint}")
    say(f"operator:             {res.operator} (CLI config {res.cli_config})")


@controller.command("serve")
@click.option("--dir", "directory", required=True,
              type=FilePath(exists=True, file_okay=False, path_type=Path))
@click.option("--listen", default=None, type=params.ADDRESS, help="HOST:PORT for mutual TLS (agents and operators)")
@click.option("--enrolment-listen", default=None, type=params.ADDRESS,
              help="HOST:PORT for enrolment (default: listen port + 1)")
@click.option("--database-url", default=None, type=params.DATABASE_URL)
@click.option("--heartbeat-timeout", default=90.0, show_default=True, type=params.INTERVAL,
              help="seconds of silence before a stream is dropped")
@click.option("--sweep-interval", default=5.0, show_default=True, type=params.INTERVAL,
              help="seconds between checks for invocations past their deadlines")
@click.option("--lost-agent-grace", default=120.0, show_default=True, type=params.INTERVAL,
              help="seconds an agent may stay away past its invocation's execution time before it ends AgentLost")
@MASTER_KEY_OPTION
def controller_serve(directory: Path, listen: str | None, enrolment_listen: str | None, database_url: str | None,
                     heartbeat_timeout: float, sweep_interval: float, lost_agent_grace: float,
                     master_key: Path | None) -> None:
    """Run the controller until SIGTERM or SIGINT."""
    from controller.runtime.serve import ServeOptions, serve

    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    asyncio.run(serve(ServeOptions(directory, listen, enrolment_listen, database_url, heartbeat_timeout,
                                   sweep_interval, lost_agent_grace_seconds=lost_agent_grace,
                                   master_key_file=master_key)))


# ---------------------------------------------------------------- activations and nodes

@controller.command("rotate-master-key")
@click.option("--timeout", "timeout_seconds", default="10m", show_default=True, type=params.DURATION,
              help="how long to wait for every data key to be re-wrapped")
@OUTPUT
@click.pass_obj
def controller_rotate_master_key(obj: Ctx, timeout_seconds: int, output: str) -> None:
    """A new master key for what the controller seals at rest, while it runs: new values are sealed
    under it at once and every stored data key is re-wrapped under it; the old key then leaves the
    keyring file. Past --timeout the controller goes on with it."""
    with obj.client() as c:
        try:
            r = c.rotate_master_key(timeout_seconds)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
            raise OutpostError(f"the rotation did not end within {timeout_seconds} s; the controller goes on "
                             "with it (its log says when it ends)") from None
    if output == "json":
        print_json({"key_id": r.key_id, "retired": list(r.retired), "rewrapped": r.rewrapped})
        return
    say(f"master key {r.key_id} is current; {r.rewrapped} data key(s) re-wrapped; "
        f"retired and dropped: {', '.join(r.retired) or 'none'}")


@controller.command("recover-operator")
@click.option("--dir", "directory", required=True, type=FilePath(exists=True, file_okay=False, path_type=Path))
@click.argument("name", type=params.OPERATOR)
@click.option("--out", required=True, type=FilePath(file_okay=False, path_type=Path),
              help="a new directory for the operator's key, certificate and CLI config")
@click.option("--days", type=click.IntRange(1, 365), default=1, show_default=True, help="certificate lifetime")
@MASTER_KEY_OPTION
def controller_recover_operator(directory: Path, name: str, out: Path, days: int, master_key: Path | None) -> None:
    """Break glass, on the controller's host with the controller stopped: credentials for operator
    NAME (a new one holds AdministratorAccess) when no operator can call the controller any more.
    Recorded, revocable and on the audit trail as operator:RecoverAccess."""
    from controller.cli.access import new_bundle_dir, write_bundle
    from controller.runtime.break_glass import recover_operator

    new_bundle_dir(out)
    r = recover_operator(directory, name, days, master_key)
    path = write_bundle(out, r.operator, r.controller, r.key_pem, r.cert_pem, r.ca_pem)
    held = ", ".join(r.policies) or "no policy (may do nothing)"
    say(f"operator {r.operator} {'created' if r.created else 'given a new certificate'} ({r.serial}, "
        f"{days} day(s)); holds: {held}; CLI config {path}")


@controller.command("rotate-signing-key")
@OUTPUT
@click.pass_obj
def controller_rotate_signing_key(obj: Ctx, output: str) -> None:
    """A new document-signing key, signed for by the current one: every connected agent is sent the
    rotation at once (others when they connect), verifies it and pins the new key; documents are
    signed with it from now on."""
    with obj.client() as c:
        r = c.rotate_signing_key()
    if output == "json":
        print_json({"key_id": r.key_id, "previous": r.previous, "agents_told": r.agents_told})
        return
    say(f"signing key {r.key_id} replaces {r.previous}; {r.agents_told} connected agent(s) told")


@cli.group()
def activation() -> None:
    """Hybrid activations: codes that enrol nodes."""


@activation.command("create")
@click.option("--tags", multiple=True, type=params.TEXT, help="KEY=VALUE[,KEY=VALUE] copied onto enrolled nodes")
@click.option("--limit", default=1, show_default=True, type=params.REGISTRATIONS,
              help="registrations allowed (1..1000)")
@click.option("--expires", "expires_seconds", default="24h", show_default=True, type=params.DURATION,
              help="lifetime, at most 30d")
@click.option("--description", default="", type=params.DESCRIPTION)
@OUTPUT
@click.pass_obj
def activation_create(obj: Ctx, tags: tuple[str, ...], limit: int, expires_seconds: int, description: str,
                      output: str) -> None:
    """Create an activation; prints its id, its code (shown once) and the CA fingerprint."""
    chosen = parse_tags(tags, "--tags")
    with obj.client() as c:
        r = c.create_activation(chosen, limit, expires_seconds, description)
    row = {**activation_row(r.activation), "activation_code": r.activation_code, "ca_fingerprint": r.ca_fingerprint}
    if output == "json":
        print_json(row)
        return
    say(f"activation id:   {row['activation_id']}")
    say(f"activation code: {row['activation_code']}   (shown once; it cannot be recovered)")
    say(f"CA fingerprint:  {row['ca_fingerprint']}")
    say(f"registrations:   {row['registrations']}, expires {row['expires']}")


@activation.command("list")
@OUTPUT
@click.pass_obj
def activation_list(obj: Ctx, output: str) -> None:
    with obj.client() as c:
        rows = [activation_row(a) for a in c.list_activations()]
    if output == "json":
        print_json(rows)
    else:
        print_table(rows, ["activation_id", "registrations", "expires", "tags", "description"])


@activation.command("delete")
@click.argument("activation_id", type=params.ID)
@click.pass_obj
def activation_delete(obj: Ctx, activation_id: str) -> None:
    """Delete an activation: no node enrols with it from now on (nodes it enrolled stay)."""
    with obj.client() as c:
        a = c.delete_activation(activation_id)
    say(f"activation {a.activation_id} deleted ({a.registrations_count} registration(s) made with it)")


@cli.group()
def node() -> None:
    """Managed nodes."""


@node.command("deregister")
@click.argument("node_id", type=params.ID)
@click.pass_obj
def node_deregister(obj: Ctx, node_id: str) -> None:
    """Deregister NODE_ID (SSM's DeregisterManagedInstance): its certificate is revoked and its stream
    closed at once, its invocations that have not ended end, and it leaves the fleet. To come back it
    must enrol anew, with an activation."""
    with obj.client() as c:
        r = c.deregister_node(node_id)
    say(f"node {r.node_id} deregistered: certificate(s) {', '.join(r.serials) or '-'} revoked, "
        f"{r.ended_invocations} invocation(s) ended")


# ---------------------------------------------------------------- playbooks and commands

@cli.group()
def playbook() -> None:
    """Ansible-style playbooks."""


@playbook.command("apply")
@click.argument("path", type=FilePath(exists=True, dir_okay=False, path_type=str))
@click.option("-i", "--inventory", type=FilePath(exists=True, path_type=str),
              help="an Ansible inventory (INI, YAML or a directory); without it, the fleet's groups and tags")
@click.option("-l", "--limit", type=params.TEXT, help="further limit the hosts to a pattern (or @file)")
@click.option("-t", "--tags", multiple=True, type=params.TEXT, help="run only tasks with these tags (repeat, or a,b)")
@click.option("--skip-tags", multiple=True, type=params.TEXT, help="skip tasks with these tags")
@click.option("--check", is_flag=True, help="check mode: nodes say what would change; nothing changes")
@click.option("-e", "--extra-vars", "extra", multiple=True, type=params.ASSIGNMENT,
              help="KEY=VALUE (repeat); with an Ansible playbook also a JSON mapping or @FILE")
@click.option("--timeout", "timeout_seconds", default=600, show_default=True, type=params.TIMEOUT,
              help="delivery timeout, seconds")
@click.option("--comment", default="", type=params.COMMENT)
@click.option("-v", "--verbose", is_flag=True, help="show every task's result (Ansible playbooks)")
@RECONNECT_TIMEOUT
@OUTPUT
@click.pass_obj
def playbook_apply(obj: Ctx, path: str, inventory: str | None, limit: str | None, tags: tuple[str, ...],
                   skip_tags: tuple[str, ...], check: bool, extra: tuple[str, ...], timeout_seconds: int, comment: str,
                   verbose: bool, reconnect_timeout: float | None, output: str) -> None:
    """Run the playbook at PATH: an Ansible playbook (plays with hosts:) as Ansible runs it, or an
    Outpost playbook (plays with targets:) compiled into one signed document per play."""
    if check and reconnect_timeout is not None:
        raise InputError("--reconnect-timeout", "--check sends and follows nothing")
    opts = ApplyOptions(path, extra, check, output, timeout_seconds, comment, reconnect_timeout, inventory, limit,
                        tags, skip_tags, verbose)
    raise SystemExit(apply(obj.client, opts, make_console()))


# ---------------------------------------------------------------- plugins

@cli.group()
def plugin() -> None:
    """Installed actions and their input schemas."""


@plugin.command("list")
@OUTPUT
def plugin_list(output: str) -> None:
    rows = [{"name": s.name, "version": s.version, "aliases": [a.name for a in s.aliases], "summary": s.summary}
            for s in PluginRegistry.discover().specs()]
    if output == "json":
        print_json(rows)
    else:
        print_table(rows, ["name", "version", "aliases", "summary"])


@plugin.command("show")
@click.argument("name", type=params.NAME)
@OUTPUT
def plugin_show(name: str, output: str) -> None:
    """One plugin's inputs (and its aliases'), from the schema the validators use."""
    spec = PluginRegistry.discover().spec(name)
    schemas = [(spec.name, spec.inputs)] + [(a.name, a.inputs) for a in spec.aliases]
    doc = {"name": spec.name, "version": spec.version, "api": spec.api, "summary": spec.summary,
           "platforms": sorted(p.value for p in spec.platforms),
           "actions": [{"action": action, "inputs": [
               {"name": f.name, "type": f.type_name, "required": f.required, "default": f.default,
                "secret": f.meta.secret, "description": f.meta.doc} for f in describe(cls)]}
               for action, cls in schemas]}
    if output == "json":
        print_json(doc)
        return
    say(f"{spec.name} {spec.version} (api {spec.api}; {', '.join(doc['platforms'])}): {spec.summary}")
    for a in doc["actions"]:
        print_table(a["inputs"], ["name", "type", "required", "default", "description"], title=a["action"])


cli.add_command(command)
cli.add_command(events)
cli.add_command(document)
cli.add_command(group)
cli.add_command(operator)
cli.add_command(policy)
cli.add_command(audit)
cli.add_command(agent_release)
cli.add_command(content)
cli.add_command(baseline)
cli.add_command(compliance)
cli.add_command(parameter)
cli.add_command(ssm)
register_node_commands(node)
node.add_command(node_list)


MAX_ERROR_CHARS = 500  # an error is one line; a value quoted in it may be huge (the sweep gives 100,000 characters)


def one_line(message: str) -> str:
    """``message`` as the one line an error is: line breaks as spaces, a long middle cut."""
    text = " ".join(message.split("\n"))
    if len(text) <= MAX_ERROR_CHARS:
        return text
    half = MAX_ERROR_CHARS // 2
    return f"{text[:half]} ... ({len(text) - 2 * half} characters cut) ... {text[-half:]}"


def run(argv: Sequence[str]) -> int:
    try:
        cli.main(args=list(argv), prog_name="outpost", standalone_mode=False)
        return 0
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.exceptions.Abort:
        return 130
    except click.ClickException as exc:
        exc.message = one_line(exc.message)
        exc.show()
        return 2
    except grpc.RpcError as exc:
        say(f"error: {one_line(rpc_error_message(exc))}", err=True)
        return 1
    except OutpostError as exc:
        say(f"error: {one_line(str(exc))}", err=True)
        return 1
    except OSError as exc:  # a file the command reads or writes: say which and why, in a line
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"error: {one_line(where + (exc.strerror or str(exc)))}", err=True)
        return 1
