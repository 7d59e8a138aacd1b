"""``outpost audit list | export | verify``: the controller's audit trail (controller/trust/audit.py).

``verify`` checks the chain and the signed heads here, on the operator's side, with the public key
given by ``--public-key`` (the controller directory's ``audit.pub``, kept apart from the controller);
without it, with the key the controller sends, which proves the trail whole only if the controller
itself is trusted. Exit 0: intact; exit 1: broken, naming the first bad record.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controller.cli import params
from controller.cli.render import OUTPUT, iso, print_json, print_table
from controller.cli.terminal import say
from controller.model import AuditRecord, SignedHead
from controller.trust.audit import verify
from controller.trust.audit_trail import load_public_pem
from controller.wire import audit_head_from_pb, audit_record_from_pb
from plugins.sdk.errors import InputError, OutpostError

if TYPE_CHECKING:
    from controller.cli.context import Ctx

LIST_LIMIT = 100
MAX_SEQ = 2**62  # the store's BIGINT, with room
MAX_KEY_FILE = 64 * 1024


@click.group("audit")
def audit() -> None:
    """The audit trail: who did what, when, from where; tamper-evident."""


_FILTERS = (
    click.option("--since", type=params.MOMENT, default=None, help="from this time (2026-12-07T10:00Z, or 2h ago)"),
    click.option("--until", type=params.MOMENT, default=None, help="before this time"),
    click.option("--actor", default="", type=params.TEXT, help="operator/NAME, node/ID, anonymous, controller"),
    click.option("--action", default="", type=params.TEXT, help="e.g. command:Send, or command:* by prefix"),
)


def _filters(fn):  # type: ignore[no-untyped-def]
    for option in reversed(_FILTERS):
        fn = option(fn)
    return fn


def _record_json(rec: AuditRecord) -> dict[str, object]:
    e = rec.entry
    return {"seq": rec.seq, "time": iso(e.at_ms), "actor": e.actor, "sourceIp": e.source_ip, "action": e.action,
            "outcome": e.outcome.value, "requestId": e.request_id, "resource": e.resource,
            "documentVersion": e.document_version, "documentSha256": e.document_sha256, "targets": e.targets,
            "resolved": e.resolved, "parameters": dict(e.parameters), "detail": e.detail,
            "prev": rec.prev.hex(), "digest": rec.digest.hex()}


def _records(obj: Ctx, **query: int | str) -> Iterator[AuditRecord]:
    with obj.client() as c:
        for page in c.read_audit(**query):  # type: ignore[arg-type]
            for r in page.records:
                try:
                    yield audit_record_from_pb(r)
                except ValueError as exc:
                    raise OutpostError(f"audit record {r.seq}: {exc}") from None


def _query(since: int | None, until: int | None, actor: str, action: str) -> dict[str, int | str]:
    return {"since_ms": since or 0, "until_ms": until or 0, "actor": actor, "action": action}


@audit.command("list")
@_filters
@click.option("--after", "after", type=click.IntRange(1, MAX_SEQ), default=None, help="records after this seq (paging)")
@click.option("--limit", type=click.IntRange(1, 10_000), default=LIST_LIMIT, show_default=True)
@OUTPUT
@click.pass_obj
def audit_list(obj: Ctx, since: int | None, until: int | None, actor: str, action: str, after: int | None,
               limit: int, output: str) -> None:
    """Records in order, from the first (or --after SEQ) on."""
    rows = list(_records(obj, after_seq=after or 0, limit=limit, **_query(since, until, actor, action)))
    if output == "json":
        print_json([_record_json(r) for r in rows])
        return
    print_table([{"seq": r.seq, "time": iso(r.entry.at_ms), "actor": r.entry.actor,
                  "source": r.entry.source_ip, "action": r.entry.action,
                  "outcome": r.entry.outcome.value, "resource": r.entry.resource,
                  "detail": r.entry.detail} for r in rows],
                ["seq", "time", "actor", "source", "action", "outcome", "resource", "detail"])
    if len(rows) == limit:
        say(f"(more: --after {rows[-1].seq})", err=True)


@audit.command("export")
@_filters
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.pass_obj
def audit_export(obj: Ctx, since: int | None, until: int | None, actor: str, action: str, fmt: str) -> None:
    """Every matching record, one JSON object a line (for a SIEM), with its digest and prev."""
    for rec in _records(obj, **_query(since, until, actor, action)):
        sys.stdout.write(json.dumps(_record_json(rec), ensure_ascii=True) + "\n")


@audit.command("verify")
@click.option("--public-key", "key_path", type=params.FilePath(exists=True, dir_okay=False, path_type=Path),
              default=None, help="the controller's audit.pub, kept apart from it (default: the key it sends)")
@click.pass_obj
def audit_verify(obj: Ctx, key_path: Path | None) -> None:
    """Check every record's chain and every signed head; exit 1 naming the first bad record."""
    records: list[AuditRecord] = []
    heads: list[SignedHead] = []
    sent_key = b""
    with obj.client() as c:
        for page in c.read_audit(heads=True):
            sent_key = sent_key or page.public_key_pem
            heads.extend(audit_head_from_pb(h) for h in page.heads)
            for r in page.records:
                try:
                    records.append(audit_record_from_pb(r))
                except ValueError as exc:
                    raise OutpostError(f"audit trail broken: record {r.seq}: {exc}") from None
    if key_path is not None:
        if key_path.stat().st_size > MAX_KEY_FILE:
            raise InputError("--public-key", f"{key_path} is over {MAX_KEY_FILE} bytes; not a public key")
        key = load_public_pem(key_path.read_bytes(), str(key_path))
    else:
        key = load_public_pem(sent_key, "the controller's audit key")
    verdict = verify(records, heads, key)
    if not verdict.ok:
        raise OutpostError(verdict.line())
    say(verdict.line() + ("" if key_path is not None else
                                 " (with the key the controller sent; pin it with --public-key audit.pub)"))
