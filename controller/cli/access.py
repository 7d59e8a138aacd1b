"""``outpost operator ...`` and ``outpost policy ...``: who may use the controller, and what each may do.

An operator's bundle is made on the workstation that runs the command: its key is generated here
and never sent (the controller certifies a CSR). ``--out DIR`` receives the key, the certificate,
the CA and a ``config.yaml`` for ``--config`` / ``OUTPOST_CONFIG``, all 0600, DIR 0700.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli import params
from controller.cli.render import OUTPUT, operator_row, policy_row, print_json, print_table
from controller.cli.terminal import say
from controller.fleet.targets import parse_targets
from controller.runtime.config import CliConfig
from plugins.sdk.errors import ConfigError, InputError
from plugins.sdk.host.files import write_private
from plugins.sdk.host.keys import make_key_and_csr

if TYPE_CHECKING:
    from controller.cli.context import Ctx

DAYS = click.IntRange(1, 365)
POLICY = params.POLICY
MAX_POLICY_FILE = 64 * 1024


def write_bundle(out: Path, name: str, controller: str, key_pem: bytes, cert_pem: bytes, ca_pem: bytes) -> Path:
    """The operator's files in ``out`` (0700), each 0600; the path of its config.yaml."""
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out, 0o700)  # also when it existed
    out = out.resolve()
    key, crt, ca = out / f"{name}.key", out / f"{name}.crt", out / "ca.crt"
    write_private(key, key_pem)
    write_private(crt, cert_pem)
    write_private(ca, ca_pem)
    config = out / "config.yaml"
    CliConfig(controller=controller, ca=ca, certificate=crt, key=key, operator=name).save(config)
    return config


def new_bundle_dir(out: Path) -> None:
    if (out / "config.yaml").exists():
        raise ConfigError(f"{out / 'config.yaml'} exists; give --out a new directory (nothing was issued)")


_POLICY_FILE = click.option("--file", "path", required=True,
                            type=params.FilePath(exists=True, dir_okay=False, path_type=Path))
_DAYS = click.option("--days", type=DAYS, default=30, show_default=True, help="certificate lifetime")


@click.group("operator")
def operator() -> None:
    """Operators: who may call the controller (a certificate each), holding policies."""


@operator.command("create")
@click.argument("name", type=params.OPERATOR)
@click.option("--policy", "policies", multiple=True, type=POLICY,
              help="attach this policy (repeat); none: may do nothing")
@click.option("--out", "out", required=True, type=params.FilePath(file_okay=False, path_type=Path),
              help="directory for the key, certificate, CA and config.yaml")
@_DAYS
@OUTPUT
@click.pass_obj
def operator_create(obj: Ctx, name: str, policies: tuple[str, ...], out: Path, days: int, output: str) -> None:
    """Create operator NAME and write its credentials to --out."""
    new_bundle_dir(out)
    key_pem, csr_pem = make_key_and_csr(name)
    config = CliConfig.load(obj.config_path)
    with obj.client() as c:
        r = c.create_operator(name, csr_pem, days, policies)
    path = write_bundle(out, name, config.controller, key_pem, r.certificate_pem, r.ca_pem)
    row = {**operator_row(r.operator), "config": str(path)}
    if output == "json":
        print_json(row)
    else:
        say(f"operator {name} created; holds: {', '.join(r.operator.policies) or 'no policy (may do nothing)'}")
        say(f"its credentials: {path} (use --config {path} or OUTPOST_CONFIG={path})")


@operator.command("renew")
@click.argument("name", type=params.OPERATOR, required=False)
@click.option("--out", "out", type=params.FilePath(file_okay=False, path_type=Path),
              help="for another operator: the directory for its new credentials")
@_DAYS
@click.pass_obj
def operator_renew(obj: Ctx, name: str | None, out: Path | None, days: int) -> None:
    """A new certificate (and key): your own by default, replacing the files your config names."""
    config = CliConfig.load(obj.config_path)
    own = name is None or name == config.operator
    if not own and out is None:
        raise InputError("--out", f"renewing operator {name} for someone else writes a new bundle: give --out DIR")
    if out is not None:
        new_bundle_dir(out)
    key_pem, csr_pem = make_key_and_csr(name or config.operator)
    with obj.client() as c:
        r = c.renew_operator("" if own else (name or ""), csr_pem, days)
    if out is not None:
        path = write_bundle(out, r.operator.name, config.controller, key_pem, r.certificate_pem, r.ca_pem)
        say(f"operator {r.operator.name} renewed; its credentials: {path}")
        return
    write_private(config.key.with_name(config.key.name + ".new"), key_pem)
    write_private(config.certificate.with_name(config.certificate.name + ".new"), r.certificate_pem)
    os.replace(config.key.with_name(config.key.name + ".new"), config.key)
    os.replace(config.certificate.with_name(config.certificate.name + ".new"), config.certificate)
    say(f"operator {r.operator.name} renewed: {config.certificate} and {config.key} replaced")


@operator.command("list")
@OUTPUT
@click.pass_obj
def operator_list(obj: Ctx, output: str) -> None:
    with obj.client() as c:
        rows = [operator_row(o) for o in c.list_operators()]
    if output == "json":
        print_json(rows)
    else:
        print_table([{**r, "policies": " ".join(r["policies"])} for r in rows],  # type: ignore[arg-type]
                    ["name", "policies", "created", "created_by", "revoked"])


@operator.command("show")
@click.argument("name", type=params.OPERATOR)
@OUTPUT
@click.pass_obj
def operator_show(obj: Ctx, name: str, output: str) -> None:
    with obj.client() as c:
        row = operator_row(c.get_operator(name))
    if output == "json":
        print_json(row)
        return
    for key in ("name", "created", "created_by", "revoked"):
        say(f"{key + ':':12} {row[key] or '-'}")
    say(f"{'policies:':12} {', '.join(row['policies']) or '-'}")  # type: ignore[arg-type]
    print_table(row["certificates"], ["serial", "issued", "not_after", "revoked"])  # type: ignore[arg-type]


@operator.command("revoke")
@click.argument("name", type=params.OPERATOR)
@click.pass_obj
def operator_revoke(obj: Ctx, name: str) -> None:
    """Revoke operator NAME and every certificate it holds, at once."""
    with obj.client() as c:
        r = c.revoke_operator(name)
    say(f"operator {name} revoked ({len(r.serials)} certificate(s) revoked now)")


@click.group("policy")
def policy() -> None:
    """Policies: IAM-like statements (JSON or YAML) of what operators may do."""


def _read_policy(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_POLICY_FILE:
            raise InputError(str(path), f"is over {MAX_POLICY_FILE} bytes; a policy is at most 64 KiB")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"is not UTF-8 text (byte {exc.start})") from None


def _put(obj: Ctx, name: str, path: Path, create: bool, output: str) -> None:
    with obj.client() as c:
        row = policy_row(c.put_policy(name, _read_policy(path), create))
    if output == "json":
        print_json(row)
    else:
        say(f"policy {name} {'created' if create else 'updated'}")


@policy.command("create")
@click.argument("name", type=POLICY)
@_POLICY_FILE
@OUTPUT
@click.pass_obj
def policy_create(obj: Ctx, name: str, path: Path, output: str) -> None:
    """Create policy NAME from a JSON or YAML file (IAM's grammar; pasted IAM policies for SSM work)."""
    _put(obj, name, path, True, output)


@policy.command("update")
@click.argument("name", type=POLICY)
@_POLICY_FILE
@OUTPUT
@click.pass_obj
def policy_update(obj: Ctx, name: str, path: Path, output: str) -> None:
    """Replace policy NAME's statements (its holders are decided by the new ones at once)."""
    _put(obj, name, path, False, output)


@policy.command("list")
@OUTPUT
@click.pass_obj
def policy_list(obj: Ctx, output: str) -> None:
    with obj.client() as c:
        rows = [policy_row(p) for p in c.list_policies()]
    if output == "json":
        print_json(rows)
    else:
        print_table([{**r, "attached_to": " ".join(r["attached_to"])} for r in rows],  # type: ignore[arg-type]
                    ["name", "builtin", "attached_to", "updated"])


@policy.command("show")
@click.argument("name", type=POLICY)
@OUTPUT
@click.pass_obj
def policy_show(obj: Ctx, name: str, output: str) -> None:
    with obj.client() as c:
        row = policy_row(c.get_policy(name))
    if output == "json":
        print_json(row)
        return
    say(f"policy:      {row['name']}{' (built in)' if row['builtin'] else ''}")
    say(f"attached to: {', '.join(row['attached_to']) or '-'}")  # type: ignore[arg-type]
    say(f"updated:     {row['updated']}")
    say(str(row["document"]).rstrip())


@policy.command("delete")
@click.argument("name", type=POLICY)
@click.pass_obj
def policy_delete(obj: Ctx, name: str) -> None:
    with obj.client() as c:
        c.delete_policy(name)
    say(f"policy {name} deleted")


@policy.command("attach")
@click.argument("name", type=POLICY)
@click.option("--operator", "op", required=True, type=params.OPERATOR)
@click.pass_obj
def policy_attach(obj: Ctx, name: str, op: str) -> None:
    with obj.client() as c:
        held = c.attach_policy(name, op)
    say(f"operator {op} holds: {', '.join(held.policies)}")


@policy.command("detach")
@click.argument("name", type=POLICY)
@click.option("--operator", "op", required=True, type=params.OPERATOR)
@click.pass_obj
def policy_detach(obj: Ctx, name: str, op: str) -> None:
    with obj.client() as c:
        held = c.attach_policy(name, op, detach=True)
    say(f"operator {op} holds: {', '.join(held.policies) or 'no policy (may do nothing)'}")


@policy.command("simulate")
@click.option("--operator", "op", required=True, type=params.OPERATOR)
@click.option("--action", required=True, type=params.NAME, help="e.g. command:Send, document:Delete")
@click.option("--document", type=params.DOCUMENT, default="", help="the document a send or document action names")
@click.option("--targets", "targets", multiple=True, type=params.TEXT,
              help="a send's targets, as command send takes them: each node they reach is decided")
@click.option("--resource", "resources", multiple=True, type=params.TEXT,
              help="another resource (node/ID, group/NAME, ...)")
@click.option("--source-ip", default="", type=params.TEXT, help="the caller's address (default: yours)")
@OUTPUT
@click.pass_obj
def policy_simulate(obj: Ctx, op: str, action: str, document: str, targets: tuple[str, ...],
                    resources: tuple[str, ...], source_ip: str, output: str) -> None:
    """What OPERATOR's policies decide, and the statement that decided (nothing is done). Exit 0 when
    allowed, 1 when denied."""
    with obj.client() as c:
        r = c.simulate_policy(op, action, document, parse_targets(targets) if targets else None, resources, source_ip)
    if output == "json":
        print_json({"decision": r.decision, "explanation": r.explanation,
                    "resources": [{"resource": d.resource, "decision": d.decision, "statement": d.statement}
                                  for d in r.resources]})
    else:
        say(f"{r.decision}: {r.explanation}")
    if r.decision != "allowed":
        raise SystemExit(1)
