"""``outpost playbook apply``: compile, resolve, send each play, follow it live, summarise.

Exit status: 0 when every invocation of every play succeeded, 2 for a compile error (nothing
is sent), 1 otherwise. Plays run in order; a play with any failed node stops the playbook.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import grpc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from controller.cli.follow import Reconnect, followed
from controller.cli.preflight import check_run, node_gaps
from controller.cli.render import (
    CommandRecorder,
    LinePrinter,
    Row,
    command_row,
    detail_of,
    invocation_row,
    node_row,
    node_seen,
    print_json,
    print_table,
    step_row,
)
from controller.cli.terminal import in_markup, say, terminal_text
from controller.compiler import Plan, PlaybookError, PlayPlan, compile_playbook, parse_extra_vars
from controller.compiler.ansible_playbook import is_ansible_playbook
from controller.compiler.plan import DocumentTask
from controller.compiler.yamlnodes import load
from controller.documents.catalog import needs_resolving
from controller.sdk.transport import AdminClient, CommandEvent, CommandSpec, CommandView
from plugins.sdk.host.registry import PluginRegistry
from plugins.sdk.status import Detail
from plugins.sdk.wire.document import Document, document_from_bytes, masked_json

EXIT_OK, EXIT_FAILED, EXIT_COMPILE = 0, 1, 2
_STEP_ERROR = re.compile(r"^mainSteps\[(\d+)\]\.inputs(?:\.\S+)?: (.*)$", re.S)


@dataclass(frozen=True)
class ApplyOptions:
    path: str
    extra_vars: tuple[str, ...]  # -e as given: key=value (Ansible's form also takes JSON and @file)
    check: bool
    output: str  # table | json
    timeout_seconds: int
    comment: str
    reconnect_timeout: float | None = None  # --reconnect-timeout (None: the default)
    inventory: str | None = None  # -i, -l, -t, --skip-tags, -v: for playbooks in Ansible's form
    limit: str | None = None
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    verbose: bool = False

    @property
    def ansible_only(self) -> str | None:
        """The first option given that only a playbook in Ansible's form takes."""
        for name, given in (("-i/--inventory", self.inventory), ("-l/--limit", self.limit), ("-t/--tags", self.tags),
                            ("--skip-tags", self.skip_tags), ("-v", self.verbose)):
            if given:
                return name
        return None


def _check(client: AdminClient, plan: Plan, documents: list[Document], opts: ApplyOptions, registry: PluginRegistry,
           console: Console) -> int:
    """Ansible's ``--check``: for each play, the targeted nodes that lack an action or its platform
    (before anything is sent), then its check-mode-capable tasks run on the nodes in check mode
    (nothing changes; each says what it would change); tasks that cannot be checked are listed, never
    run. Exit 1 when a check run did not succeed everywhere."""
    plays, code = [], EXIT_OK
    for play, document in zip(plan.plays, documents, strict=True):
        nodes = client.resolve_targets(play.targets)
        run = check_run(document, registry)
        rows = [node_row(n) for n in nodes]
        lacking = [g.row() for g in node_gaps(document, [node_seen(n) for n in nodes], registry)]
        p: Row = {"name": play.name, "source": play.source, "document": masked_json(document),
                  "document_sha256": document.sha256().hex(), "max_concurrency": play.max_concurrency,
                  "max_errors": play.max_errors, "nodes": rows, "lacking": lacking,
                  "not_checked": list(run.not_checked)}
        if opts.output != "json":
            _say_preflight(play, document, rows, lacking, run.not_checked, console)
        if run.document is not None and nodes:
            final = _run_play(client, replace(play, name=f"{play.name} (check)"), run.document, opts, console)
            p["command_id"] = final.command.command_id
            p["status"] = detail_of(final.command).value
            results = [{"node_id": i.node_id, **step_row(s)} for i in final.invocations for s in i.steps]
            p["results"] = results
            if opts.output != "json":
                print_table(results, ["node_id", "name", "status_detail", "changed", "stdout", "error"],
                            title=f"{play.name} (check): {p['status']}", console=console)
            if detail_of(final.command) is not Detail.SUCCESS:
                code = EXIT_FAILED
        plays.append(p)
    if opts.output == "json":
        print_json({"playbook": plan.path, "check": True, "plays": plays})
    else:
        console.print("check mode: nothing was changed")
    return code


def _say_preflight(play: PlayPlan, document: Document, nodes: list[Row], lacking: list[Row],
                   not_checked: tuple[str, ...], console: Console) -> None:
    console.print(f"[bold]PLAY[/bold] {in_markup(play.name)}  ({in_markup(play.source)})  "
                  f"document sha256 {document.sha256().hex()}")
    for i, step in enumerate(masked_json(document)["mainSteps"]):
        console.print(terminal_text(f"  step {i + 1}: {step['name']}  [{step['action']}]  {step['inputs']}"),
                      markup=False)
    print_table(nodes, ["node_id", "hostname", "platform", "ping_status", "tags"],
                title=f"{len(nodes)} node(s) targeted", console=console)
    if lacking:
        print_table(lacking, ["node_id", "hostname", "platform", "would_be", "problems"],
                    title="nodes that cannot run it whole", console=console)
    for line in not_checked:
        console.print(terminal_text(f"  not checked: {line}"), markup=False)


def _located(play: PlayPlan, details: str) -> PlaybookError:
    """The controller's error about a play's aws:runDocument step, at the `document:` task's line."""
    m = _STEP_ERROR.match(details)
    task = play.tasks[int(m.group(1))] if m and int(m.group(1)) < len(play.tasks) else None
    if m is None or not isinstance(task, DocumentTask):
        filename, _, line = play.source.rpartition(":")
        return PlaybookError(details, filename=filename, line=int(line), where="tasks")
    filename, _, line = task.source.rpartition(":")
    return PlaybookError(m.group(2), filename=filename, line=int(line), where=f"{task.name}.document")


def expanded(client: AdminClient, play: PlayPlan) -> Document:
    """What the controller will run of a play: its `document:` tasks expanded there (ExpandDocument),
    and what only it knows filled in (a copy's content, a patch baseline, an agent release), so that
    every play's errors are known before any is sent; a play that needs neither is as compiled."""
    if not play.needs_expansion and not needs_resolving(play.document.canonical_bytes()):
        return play.document
    try:
        return document_from_bytes(client.expand_document(play.document.canonical_bytes()))
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
            raise _located(play, exc.details() or "") from None
        raise


def ansible_text(path: str) -> str | None:
    """The playbook's text when it is in Ansible's form (its plays name ``hosts:``); None otherwise,
    and for a file the Outpost compiler will report on itself."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        root = load(text, path)
    except (OSError, ValueError, PlaybookError):
        return None
    return text if is_ansible_playbook(root) else None


def _apply_ansible(client_factory: Callable[[], AdminClient], opts: ApplyOptions, text: str,
                   registry: PluginRegistry, console: Console) -> int:
    from controller.cli.ansible_apply import AnsibleOptions, apply_ansible
    from controller.compiler.inventory import InventoryError

    options = AnsibleOptions(opts.path, text, opts.inventory, opts.limit, opts.extra_vars, opts.tags, opts.skip_tags,
                             opts.check, opts.output, opts.timeout_seconds, opts.comment, opts.verbose)
    with client_factory() as client:
        try:
            return apply_ansible(client, options, registry, console)
        except (PlaybookError, InventoryError) as exc:
            say(f"error: {exc}", err=True)
            return EXIT_COMPILE


def _tally(details: Iterable[Detail]) -> dict[str, int]:
    """The progress bar's counts: invocations ended, and of those how many succeeded or not."""
    done = [d for d in details if d.terminal]
    ok = sum(1 for d in done if d is Detail.SUCCESS)
    return {"completed": len(done), "ok": ok, "bad": len(done) - ok}


def _run_play(client: AdminClient, play: PlayPlan, document: Document, opts: ApplyOptions,
              console: Console) -> CommandView:
    sent, events = client.run_command(CommandSpec(
        play.targets, document=document.canonical_bytes(), comment=opts.comment,
        timeout_seconds=opts.timeout_seconds, document_name=play.name, max_concurrency=play.max_concurrency,
        max_errors=play.max_errors))
    cid = sent.command_id
    live = opts.output != "json"
    if live:
        console.print(f"[bold]PLAY[/bold] {in_markup(play.name)}  command {cid}  ({sent.target_count} node(s))")
    lines = LinePrinter(console)
    recorder = [CommandRecorder()]  # a new one for each stream: a re-opened watch replays the command whole
    end = None
    ended = [False]  # whether the stream brought the command's end (read by the follow)
    details: dict[str, Detail] = {}

    def reopen() -> Iterable[CommandEvent]:
        lines.rewind()
        recorder[0] = CommandRecorder()
        return client.watch_command(cid)
    how = Reconnect.given(f"play {play.name!r} (command {cid})", opts.reconnect_timeout)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("[green]{task.fields[ok]} succeeded[/green] [red]{task.fields[bad]} failed[/red]"),
                  TimeElapsedColumn(), console=console, disable=not live, transient=False) as progress:
        task = progress.add_task(in_markup(play.name), total=sent.target_count, ok=0, bad=0)
        for event in followed(lambda: events, reopen, lambda: ended[0], how):
            recorder[0].feed(event)
            kind = event.WhichOneof("body")
            if kind == "command" and detail_of(event.command).terminal:
                end = event
                ended[0] = True
            if kind == "output" and live:
                lines.feed(event.node_id, event.output)
            elif kind == "invocation":
                details[event.node_id] = detail_of(event.invocation)
                progress.update(task, **_tally(details.values()))
        # the end as streamed; read back only when the stream lost events or ended early
        final = (recorder[0].ended(end) if end is not None else None) or client.get_command(cid)
        progress.update(task, **_tally(detail_of(i) for i in final.invocations))
        if live:
            lines.flush()
    return final


def apply(client_factory: Callable[[], AdminClient], opts: ApplyOptions, console: Console) -> int:
    registry = PluginRegistry.discover()
    try:
        text = ansible_text(opts.path)
        if text is not None:
            return _apply_ansible(client_factory, opts, text, registry, console)
        if opts.ansible_only is not None:
            raise PlaybookError(f"{opts.ansible_only} is for playbooks in Ansible's form (plays with hosts:); "
                                f"this one's plays name their targets", filename=opts.path)
        plan = compile_playbook(opts.path, registry, parse_extra_vars(opts.extra_vars))
    except PlaybookError as exc:
        say(f"error: {exc}", err=True)
        return EXIT_COMPILE
    with client_factory() as client:
        try:
            documents = [expanded(client, play) for play in plan.plays]  # all errors before any send
        except PlaybookError as exc:
            say(f"error: {exc}", err=True)
            return EXIT_COMPILE
        if opts.check:
            return _check(client, plan, documents, opts, registry, console)
        results = []
        code = EXIT_OK
        for play in plan.plays:  # as compiled: the controller expands its `document:` tasks again, as sent
            final = _run_play(client, play, play.document, opts, console)
            rows = [invocation_row(i) for i in final.invocations]
            results.append({"play": play.name, **command_row(final.command), "invocations": rows})
            if opts.output != "json":
                print_table(rows, ["node_id", "status", "exit_code", "duration", "status_detail"],
                            title=f"{play.name}: {detail_of(final.command).value}", console=console)
            if detail_of(final.command) is not Detail.SUCCESS:
                code = EXIT_FAILED
                break
        if opts.output == "json":
            print_json({"playbook": plan.path, "plays": results,
                        "command_id": results[0]["command_id"] if len(results) == 1 else None})
        return code

